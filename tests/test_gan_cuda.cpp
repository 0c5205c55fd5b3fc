// ctest-label: cuda
// --device cuda on a GPU: G of the CUDA backend against GanProblem's double CPU path (and against the
// float CPU reference of the same batched algorithm, gan/cuda/host_executor.hpp), block by block, for
// every loss x activation with M = 5 workers at distinct points; buffers reused across changing shapes;
// and a few iterations of run_experiment on both devices. Where there is no GPU every test prints
// "SKIPPED: <why>" and main returns 77, which CTest (SKIP_RETURN_CODE, tests/CMakeLists.txt) reports as
// "Not Run (Skipped)"; any other reason CUDA cannot be used fails (tests/cuda_gate.hpp), as does every
// skip under DPOSG_REQUIRE_CUDA=1. Run: ctest --test-dir build -L cuda
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "app/experiment.hpp"
#include "core/problem.hpp"
#include "core/rng.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/gan_problem.hpp"
#include "cuda_gate.hpp"
#include "gan_test_support.hpp"

using dposg::Index;
using dposg::Matrix;
using dposg::ProblemOptions;
using dposg::Rng;
using dposg::Vector;
using dposg::WorkerRngs;
using dposg::gan::GanProblem;
using dposg::test::make_gan;
using dposg::test::tiny_images;
using dposg::test::worker_points;
using dposg::test::worst_block_error;

namespace {

ProblemOptions gan_options(const std::string& loss, const std::string& act, const std::string& device) {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_loss = loss;
  o.gan_activation = act;
  o.gan_width = 40;  // two 32-row tiles of the bias-gradient kernel, the second one partial
  o.gan_depth = 2;
  o.gan_latent = 3;
  o.gan_gp_lambda = 10.0;
  o.gan_clip = 0.05;
  o.seed = 11;
  o.device = device;
  return o;
}




// Each block (generator u, discriminator v) of every column against its own norm, so that a wrong
// small block cannot hide under a large one (tests/gan_test_support.hpp, worst_block_error).
//
// Against the float CPU reference of the same batched algorithm: 1e-5. Both round every term to float
// (eps 6e-8) and differ only in the order cuBLAS and Eigen sum the B samples and the few hundred
// products of each entry; as a random walk that is ~sqrt(600) * 6e-8 = 1.5e-6 per entry at the largest
// batch here, and the norm of a block averages over its entries, so 1e-5 leaves a margin of about ten
// while an indexing or stream-ordering error changes a block by O(1).
// Against the double CPU operator: 1e-4, the float path's own rounding on top (the float CPU reference
// meets it too, test_gan_batched.cpp).
constexpr double kVsReference = 1e-5;
constexpr double kVsCpu = 1e-4;

struct Compared {
  dposg::test::BlockErrors vs_cpu, vs_reference;
};

Compared compare(const GanProblem& gpu, const GanProblem& cpu, const Matrix& Z, Index B, std::uint64_t seed) {
  const Index M = Z.cols();
  WorkerRngs r_gpu(seed, M), r_cpu(seed, M), r_ref(seed, M);
  Matrix G_gpu, G_cpu, G_ref;
  gpu.sample(Z, B, r_gpu, G_gpu);
  cpu.sample(Z, B, r_cpu, G_cpu);
  dposg::gan::cuda::reference_sample(cpu, Z, B, r_ref, G_ref);
  REQUIRE(G_gpu.rows() == cpu.dim());
  REQUIRE(G_gpu.cols() == M);
  REQUIRE(G_gpu.allFinite());
  for (Index i = 0; i < M; ++i) CHECK(r_gpu[i]() == r_cpu[i]());  // the same draws
  return {worst_block_error(G_gpu, G_cpu, cpu.dim_u()), worst_block_error(G_gpu, G_ref, cpu.dim_u())};
}

// Every block within its tolerance; NaN fails (a comparison with NaN is false).
void check_close(const Compared& c) {
  INFO("relative block error vs double CPU: u " << c.vs_cpu.u << ", v " << c.vs_cpu.v
                                                 << "; vs float CPU reference: u " << c.vs_reference.u << ", v "
                                                 << c.vs_reference.v);
  CHECK(c.vs_cpu.u <= kVsCpu);
  CHECK(c.vs_cpu.v <= kVsCpu);
  CHECK(c.vs_reference.u <= kVsReference);
  CHECK(c.vs_reference.v <= kVsReference);
}

}  // namespace

TEST_CASE("gan cuda: G on the GPU equals the CPU operator column by column, every loss x activation", "[gan][cuda]") {
  DPOSG_CUDA_GATE();
  const Index M = 5, B = 37;
  for (const char* loss : {"ns", "wgan-clip", "wgan-gp"})
    for (const char* act : {"relu", "leaky-relu", "tanh"}) {
      INFO(loss << " x " << act);
      const auto gpu = make_gan(gan_options(loss, act, "cuda"));
      const auto cpu = make_gan(gan_options(loss, act, "cpu"));
      REQUIRE(gpu->device() == "cuda");
      const Matrix Z = worker_points(*cpu, M, 5);
      check_close(compare(*gpu, *cpu, Z, B, 21));
    }
}

TEST_CASE("gan cuda: image data (D = 36) on the GPU equals the CPU operator", "[gan][cuda]") {
  DPOSG_CUDA_GATE();
  const auto data = tiny_images();
  for (const char* loss : {"ns", "wgan-clip", "wgan-gp"}) {
    INFO(loss);
    const GanProblem gpu(gan_options(loss, "tanh", "cuda"), "tiny-images", data);
    const GanProblem cpu(gan_options(loss, "tanh", "cpu"), "tiny-images", data);
    const Matrix Z = worker_points(cpu, 3, 9);
    check_close(compare(gpu, cpu, Z, 7, 5));
  }
}

TEST_CASE("gan cuda: dcgan on the GPU equals the double ConvNet path and the host executor, every loss",
          "[gan][cuda][dcgan]") {
  // im2col / col2im / canvas kernels and the conv layers' strided batched GEMMs (batched_conv.hpp), on
  // the networks of tests/test_gan_dcgan_float.cpp (gan_test_support.hpp, kTinyDcgans).
  DPOSG_CUDA_GATE();
  for (const auto& t : dposg::test::kTinyDcgans)
    for (const char* loss : {"ns", "hinge", "wgan-gp", "wgan-clip"})
      for (const Index M : {1, 3}) {
        INFO(loss << ", images " << t.side << " x " << t.side << " x " << t.channels << ", M = " << M);
        const auto data = dposg::test::labelled_images(t.side, t.channels);
        const GanProblem gpu(dposg::test::tiny_dcgan_options(loss, t, "cuda"), "tiny", data),
            cpu(dposg::test::tiny_dcgan_options(loss, t, "cpu"), "tiny", data);
        const Matrix Z = worker_points(cpu, M, 7);
        check_close(compare(gpu, cpu, Z, 5, 9));
        check_close(compare(gpu, cpu, Z, 64, 10));  // more samples than one block of the channel sums
      }
}

TEST_CASE("gan cuda: buffers are reused across calls whose shapes change", "[gan][cuda]") {
  DPOSG_CUDA_GATE();
  ProblemOptions o = gan_options("wgan-gp", "tanh", "cuda");
  o.gan_width = 128;  // the default width: four row tiles
  const auto gpu = make_gan(o);
  o.device = "cpu";
  const auto cpu = make_gan(o);
  const Matrix Z5 = worker_points(*cpu, 5, 1);
  const Matrix Z1 = Z5.col(2);
  check_close(compare(*gpu, *cpu, Z5, 37, 1));
  check_close(compare(*gpu, *cpu, Z1, 600, 2));  // the driver's evaluation at z̄: larger batch
  check_close(compare(*gpu, *cpu, Z5, 37, 3));   // back to the training shape
  check_close(compare(*gpu, *cpu, Z5, 5, 4));    // fewer samples than the 8 column slices
}

TEST_CASE("gan cuda: a few iterations of run_experiment give the same metrics on cpu and cuda", "[gan][cuda]") {
  DPOSG_CUDA_GATE();
  for (const char* loss : {"ns", "wgan-gp"}) {
    INFO(loss);
    dposg::ExperimentConfig c;
    c.problem.name = "gan-mog8";
    c.problem.gan_loss = loss;
    c.problem.gan_width = 64;
    c.workers = 4;
    c.topology = "ring";
    c.rounds = 1;
    c.step_rule = "osg";
    c.lr = "1e-3";
    c.iters = 5;
    c.batch = 64;
    c.seed = 3;
    c.init = "problem";
    c.log_every = 5;
    c.eval_batch = 256;
    dposg::ExperimentConfig g = c;
    g.problem.device = "cuda";
    dposg::Experiment ec = dposg::build_experiment(c), eg = dposg::build_experiment(g);
    const dposg::RunOutcome oc = dposg::run_experiment(ec, nullptr), og = dposg::run_experiment(eg, nullptr);
    REQUIRE(oc.status == dposg::RunStatus::finished);
    REQUIRE(og.status == dposg::RunStatus::finished);
    CHECK((og.z_bar - oc.z_bar).norm() <= 1e-4 * oc.z_bar.norm());
    for (const char* m : {"loss_g", "loss_d", "grad_norm_sq"}) {
      const double a = oc.last.get(m), b = og.last.get(m);
      INFO(m << ": cpu " << a << ", cuda " << b);
      CHECK(std::abs(a - b) <= 1e-3 * std::abs(a) + 1e-6);
    }
  }
}

TEST_CASE("gan cuda: the resident engine on the GPU equals its CPU twin and the host engine", "[gan][cuda]") {
  // Iterates, W^t and the step on the GPU (--engine resident, gan/cuda/resident_engine.hpp) against the
  // same algorithm on the CPU (--device cpu-float's twin) and against the host engine on the GPU's
  // operator: float tolerance (Dgemm's summation order, float32 GEMMs that round differently).
  DPOSG_CUDA_GATE();
  for (const char* rule : {"osg", "oadam"})
    for (const char* topology : {"ring", "random-ring", "complete"}) {
      INFO(rule << " " << topology);
      dposg::ExperimentConfig c;
      c.problem.name = "gan-mog8";
      c.problem.gan_width = 64;
      c.problem.device = "cuda";
      c.workers = 4;
      c.topology = topology;
      c.rounds = 2;
      c.step_rule = rule;
      c.lr = "1e-3";
      c.iters = 10;
      c.batch = 64;
      c.seed = 3;
      c.init = "random";
      c.init_spread = 0.3;
      c.log_every = 5;
      c.eval_batch = 256;
      c.engine = "resident";
      dposg::ExperimentConfig host = c, twin = c;
      host.engine = "host";
      twin.problem.device = "cpu-float";
      dposg::Experiment er = dposg::build_experiment(c), eh = dposg::build_experiment(host),
                        et = dposg::build_experiment(twin);
      REQUIRE(er.engine);
      REQUIRE_FALSE(eh.engine);
      const dposg::RunOutcome r = dposg::run_experiment(er, nullptr), h = dposg::run_experiment(eh, nullptr),
                              t = dposg::run_experiment(et, nullptr);
      REQUIRE(r.status == dposg::RunStatus::finished);
      for (const dposg::RunOutcome* other : {&h, &t}) {
        REQUIRE(other->status == dposg::RunStatus::finished);
        CHECK((r.z_bar - other->z_bar).norm() <= 1e-4 * other->z_bar.norm());
        for (const char* m : {"loss_g", "loss_d", "grad_norm_sq", "consensus_error"}) {
          const double a = other->last.get(m), b = r.last.get(m);
          INFO(m << ": reference " << a << ", resident on the GPU " << b);
          CHECK(std::abs(a - b) <= 1e-3 * std::abs(a) + 1e-6);
        }
      }
    }
}

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
  return dposg::test::finish(failed, dposg::test::cuda_gate());
}
