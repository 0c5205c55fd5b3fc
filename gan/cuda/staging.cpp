#include "core/omp_exceptions.hpp"
#include "gan/cuda/staging.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "gan/cuda/host_executor.hpp"
#include "gan/cuda/resident_device.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan::cuda {

namespace {

Act to_act(Activation a) {
  switch (a) {
    case Activation::relu: return Act::relu;
    case Activation::leaky_relu: return Act::leaky_relu;
    case Activation::tanh: return Act::tanh;
  }
  return Act::relu;
}

NetLayout layout_of(const Mlp<double>& net, long long base) {
  NetLayout n;
  for (Index l = 0; l <= net.layers(); ++l) n.units.push_back(static_cast<int>(net.units(l)));
  n.base = base;
  n.act = to_act(net.shape().activation);
  return n;
}

ConvNetLayout conv_layout_of(const ConvNet& net, long long base) {
  ConvNetLayout c;
  const ConvGanShape& s = net.shape();
  c.generator = net.role() == ConvNet::Role::generator;
  c.canvas.side = static_cast<int>(s.side);
  c.canvas.image_side = static_cast<int>(s.image_side);
  c.canvas.channels = static_cast<int>(s.channels);
  c.act = to_act(s.activation);
  for (const ConvLayer& l : net.layers()) c.layers.push_back(conv_geom(l, base));
  return c;
}

}  // namespace

ConvGeom conv_geom(const ConvLayer& l, long long base) {
  ConvGeom g;
  g.transposed = l.transposed;
  g.c_in = static_cast<int>(l.c_in);
  g.c_out = static_cast<int>(l.c_out);
  g.in_side = static_cast<int>(l.in_side);
  g.out_side = static_cast<int>(l.out_side);
  g.k = static_cast<int>(l.k);
  g.stride = static_cast<int>(l.stride);
  g.pad = static_cast<int>(l.pad);
  g.weight_offset = base + static_cast<long long>(l.weight_offset);
  g.bias_offset = base + static_cast<long long>(l.bias_offset);
  return g;
}

GanPlan plan_for(const GanProblem& p, Index batch, Index workers) {
  // cuBLAS takes int sizes and leading dimensions; the batch is the largest of them.
  if (batch > INT_MAX / 2 || workers > INT_MAX)
    throw InputError("--batch: " + std::to_string(batch) + " samples per worker is too large for --device cuda");
  GanPlan plan;
  if (p.arch() == GanArch::dcgan) {
    // The GEMMs' row count is a layer's pixels times the batch: the critic's first layer has the most.
    const ConvNet& critic = p.conv_critic();
    const Index pixels = critic.layers().front().out_side * critic.layers().front().out_side;
    if (batch > INT_MAX / (2 * pixels))
      throw InputError("--batch: " + std::to_string(batch) + " samples per worker is too large for the batched dcgan");
    const auto data = static_cast<int>(p.data().dim());
    plan.gen.units = {static_cast<int>(p.conv_generator().inputs()), data};
    plan.disc.units = {data, 1};
    plan.disc.base = static_cast<long long>(p.dim_u());
    plan.cgen = conv_layout_of(p.conv_generator(), 0);
    plan.cdisc = conv_layout_of(critic, plan.disc.base);
  } else {
    plan.gen = layout_of(p.generator(), 0);
    plan.disc = layout_of(p.discriminator(), static_cast<long long>(p.dim_u()));
  }
  plan.dim = static_cast<long long>(p.dim());
  plan.batch = static_cast<int>(batch);
  plan.workers = static_cast<int>(workers);
  plan.gp_lambda = static_cast<float>(p.gp_lambda());
  switch (p.loss()) {
    case GanLoss::non_saturating: plan.loss = BatchedLoss::ns; break;
    case GanLoss::wgan_clip: plan.loss = BatchedLoss::wgan; break;
    case GanLoss::wgan_gp: plan.loss = p.gp_lambda() > 0.0 ? BatchedLoss::wgan_gp : BatchedLoss::wgan; break;
    case GanLoss::hinge: plan.loss = BatchedLoss::hinge; break;
  }
  return plan;
}

void stage_batches(const GanProblem& p, const GanPlan& plan, WorkerRngs& rngs, float* batches) {
  const InputLayout in = input_layout(plan);
  const Index M = plan.workers, B = plan.batch, latent = plan.latent(), D = plan.data_dim();
  // Offsets relative to `real`, where `batches` points.
  const std::size_t real0 = 0, latent0 = in.latent - in.real, eps0 = in.eps - in.real;
  OmpExceptions errors;
#pragma omp parallel for schedule(static)
  for (Index i = 0; i < M; ++i) {
    errors.run([&] {
      const GanBatch b = p.draw_batch(rngs[i], B, i, M);
      float* real = batches + real0 + static_cast<std::size_t>(i * D * B);
      for (Index k = 0; k < D * B; ++k) real[k] = static_cast<float>(b.real.data()[k]);
      float* lat = batches + latent0 + static_cast<std::size_t>(i * latent * B);
      for (Index k = 0; k < latent * B; ++k) lat[k] = static_cast<float>(b.latent.data()[k]);
      if (plan.loss == BatchedLoss::wgan_gp) {
        float* eps = batches + eps0 + static_cast<std::size_t>(i * B);
        for (Index k = 0; k < B; ++k) eps[k] = static_cast<float>(b.eps[k]);
      }
    });
  }
  errors.rethrow();
}

void stage_inputs(const GanProblem& p, const GanPlan& plan, const Matrix& Z, WorkerRngs& rngs, float* host) {
  const InputLayout in = input_layout(plan);
  const Index d = p.dim(), nu = p.dim_u(), M = plan.workers;
  const double clip = operator_clip(p);
#pragma omp parallel for schedule(static)
  for (Index i = 0; i < M; ++i) {
    float* z = host + in.z + static_cast<std::size_t>(i * d);
    for (Index r = 0; r < d; ++r) z[r] = narrow_element(Z(r, i), r, nu, clip);
  }
  stage_batches(p, plan, rngs, host + in.real);
}

double operator_clip(const GanProblem& p) { return p.loss() == GanLoss::wgan_clip ? p.clip() : 0.0; }

void widen_result(const float* g, Index d, Index M, Matrix& G) {
  G.resize(d, M);
  for (Index k = 0; k < d * M; ++k) G.data()[k] = static_cast<double>(g[k]);
}

namespace {

// HostExecutor with the GEMMs through Eigen (float, one worker's product per iteration, workers on
// all threads; inside the parallel region Eigen's product runs on one thread).
struct EigenExecutor : HostExecutor {
  // dcgan: every product on one thread, inside a parallel region even for one worker, as the double
  // path runs its columns (Eigen's own multithreaded GEMM busy-waits for its partner thread, costly on
  // a shared machine); the MLP keeps its behaviour (and its numbers).
  bool products_in_region = false;

  void gemm(const Gemm& g) {
    using ConstMap = Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>>;
    using Map = Eigen::Map<Eigen::MatrixXf, 0, Eigen::OuterStride<>>;
#pragma omp parallel for schedule(static) if (g.batch > 1 || products_in_region)
    for (int i = 0; i < g.batch; ++i) {
      const ConstMap A(g.A + i * g.stride_a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, Eigen::OuterStride<>(g.lda));
      const ConstMap B(g.B + i * g.stride_b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, Eigen::OuterStride<>(g.ldb));
      Map C(g.C + i * g.stride_c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
      if (g.beta == 0.f) C.setZero();  // beta = 0: C is not read (as cuBLAS), it may hold garbage
      else if (g.beta != 1.f) C *= g.beta;
      if (g.trans_a && g.trans_b) C.noalias() += A.transpose() * B.transpose();
      else if (g.trans_a) C.noalias() += A.transpose() * B;
      else if (g.trans_b) C.noalias() += A * B.transpose();
      else C.noalias() += A * B;
    }
  }
};

void run_batched(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G, bool eigen) {
  const GanPlan plan = plan_for(p, batch, Z.cols());
  // Every buffer is written before it is read (the GPU's arena is not cleared either).
  thread_local std::vector<float> arena;
  arena.resize(operator_floats(plan));
  stage_inputs(p, plan, Z, rngs, arena.data());
  HostExecutor loops;
  widen_result(eigen ? float_cpu_operator(plan, arena.data()) : batched_operator_on(loops, plan, arena.data()),
               p.dim(), Z.cols(), G);
}

}  // namespace

const float* float_cpu_operator(const GanPlan& plan, float* arena) {
  EigenExecutor x;
  x.products_in_region = plan.conv();
  x.parallel = !plan.conv();
  return batched_operator_on(x, plan, arena);
}

void float_cpu_sample(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) {
  run_batched(p, Z, batch, rngs, G, true);
}

void reference_sample(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) {
  run_batched(p, Z, batch, rngs, G, false);
}


}  // namespace dposg::gan::cuda
