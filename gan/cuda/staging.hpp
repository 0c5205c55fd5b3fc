#pragma once
// The host side of --device cuda, compiled in every build (plain C++): the plan of a GanProblem, the
// staging of Z and the minibatches into the float input layout of batched_gan.hpp, and
// reference_sample, the whole CUDA path run through HostExecutor on the CPU (what the unit tests check
// against GanProblem's double path on machines without a GPU).
#include "core/rng.hpp"
#include "core/types.hpp"
#include "gan/cuda/batched_gan.hpp"

namespace dposg::gan {
class GanProblem;
struct ConvLayer;
}

namespace dposg::gan::cuda {

// A dcgan layer of gan/conv_net.hpp as the batched operator sees it, its parameters at `base` + its
// offsets inside z.
ConvGeom conv_geom(const ConvLayer& layer, long long base);

// The plan of p for `workers` columns and `batch` samples per worker: wgan-clip is `wgan` (v is clipped
// while staging), wgan-gp with lambda = 0 is `wgan`. Throws InputError naming --batch when the sizes do
// not fit cuBLAS's int arguments.
GanPlan plan_for(const GanProblem& p, Index batch, Index workers);

// Writes input_layout(plan) into `host`: Z as float (v clipped to [-clip, clip] for wgan-clip: the
// acting critic), then for every column i the batch GanProblem::draw_batch(rngs[i], batch, i, M) draws
// (real samples, latent codes, eps for wgan-gp), i.e. the batches of the CPU path. Columns in an
// `omp parallel for`; column i draws only from rngs[i].
void stage_inputs(const GanProblem& p, const GanPlan& plan, const Matrix& Z, WorkerRngs& rngs, float* host);

// The minibatch part of stage_inputs alone: input_layout(plan)'s [real, total) written from `batches`
// (which points at what would be offset `real`). The resident engine's Z is already on its device.
void stage_batches(const GanProblem& p, const GanPlan& plan, WorkerRngs& rngs, float* batches);

// batched_gan_operator with Eigen's float GEMM (--device cpu-float's executor) on `arena`
// (operator_floats(plan) floats, its inputs filled); returns the arena's G (d x M floats).
const float* float_cpu_operator(const GanPlan& plan, float* arena);

// The clip the operator applies to v when Z is narrowed to float (narrow_element of
// resident_device.hpp): --gan-clip for wgan-clip, 0 (none) otherwise.
double operator_clip(const GanProblem& p);

// G (d x M) from the d x M float result of batched_gan_operator.
void widen_result(const float* g, Index d, Index M, Matrix& G);

// GanProblem::sample's operator as the CUDA backend computes it (float32, all workers batched), with
// HostExecutor in place of the GPU.
void reference_sample(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G);
// --device cpu-float: the same algorithm with Eigen's float GEMM (workers in parallel) in place of
// HostExecutor's loops; the elementwise passes are HostExecutor's.
void float_cpu_sample(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G);

}  // namespace dposg::gan::cuda
