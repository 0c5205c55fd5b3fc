// ctest-label: unit
// The CUDA backend's host side, on any machine (no GPU needed): the batched layout of
// gan/cuda/batched_gan.hpp against gan/mlp.hpp's parameter layout, the strided-batched GEMM descriptors,
// the workspace carving, and the whole batched float operator run through HostExecutor (the CPU
// reference of every kernel) against GanProblem's double path, column by column, for every loss and
// activation. tests/test_gan_cuda.cpp runs the same comparisons on a GPU. Also --device validation.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cli_harness.hpp"
#include "gan_test_support.hpp"
#include "core/error.hpp"
#include "app/problem_catalog.hpp"
#include "core/rng.hpp"
#include "gan/cuda/batched_gan.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/host_executor.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/classifier.hpp"
#include "gan/gan_data.hpp"
#include "gan/gan_problem.hpp"
#include "gan/mlp.hpp"

using dposg::Index;
using dposg::InputError;
using dposg::Matrix;
using dposg::ProblemOptions;
using dposg::Rng;
using dposg::Vector;
using dposg::WorkerRngs;
using dposg::gan::GanProblem;
namespace gc = dposg::gan::cuda;
using dposg::test::make_gan;
using dposg::test::tiny_images;
using dposg::test::worker_points;
using dposg::test::worst_column_error;

namespace {

ProblemOptions gan_options(const std::string& loss, const std::string& act) {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_loss = loss;
  o.gan_activation = act;
  o.gan_width = 40;  // not a multiple of the 32-row tile of the bias-gradient kernel
  o.gan_depth = 2;
  o.gan_latent = 3;
  o.gan_gp_lambda = 10.0;
  o.gan_clip = 0.05;
  o.seed = 11;
  return o;
}




}  // namespace

TEST_CASE("gan cuda layout: NetLayout reproduces gan/mlp.hpp's parameter layout inside z", "[gan][cuda-host]") {
  for (const char* act : {"relu", "tanh"}) {
    ProblemOptions o = gan_options("ns", act);
    o.gan_depth = 3;
    const auto p = make_gan(o);
    const gc::GanPlan plan = gc::plan_for(*p, 7, 4);
    REQUIRE(plan.gen.layers() == p->generator().layers());
    REQUIRE(plan.disc.layers() == p->discriminator().layers());
    for (int l = 1; l <= plan.gen.layers(); ++l) {
      CHECK(plan.gen.n(l) == p->generator().units(l));
      CHECK(plan.gen.weight_offset(l) == p->generator().weight_offset(l));
      CHECK(plan.gen.bias_offset(l) == p->generator().bias_offset(l));
    }
    for (int l = 1; l <= plan.disc.layers(); ++l) {
      CHECK(plan.disc.weight_offset(l) == p->dim_u() + p->discriminator().weight_offset(l));
      CHECK(plan.disc.bias_offset(l) == p->dim_u() + p->discriminator().bias_offset(l));
    }
    CHECK(plan.gen.num_params() == p->dim_u());
    CHECK(plan.disc.base + plan.disc.num_params() == p->dim());
    CHECK(plan.dim == p->dim());
    CHECK(plan.latent() == 3);
    CHECK(plan.gen.act == (std::string(act) == "tanh" ? gc::Act::tanh : gc::Act::relu));
  }
}

TEST_CASE("gan cuda layout: one strided batched GEMM per layer, worker i's weights at i * d", "[gan][cuda-host]") {
  gc::NetLayout net;
  net.units = {2, 5, 5, 1};
  net.base = 100;
  const long long d = 200;
  const int B = 7, M = 3;
  std::vector<float> z(static_cast<std::size_t>(d * M)), x(1000), y(1000);
  // Layer 2: W_2 is 5 x 5 at base + (5*2 + 5).
  const gc::Gemm f = gc::weights_times(net, 2, z.data(), d, x.data(), y.data(), B, M);
  CHECK((!f.trans_a && !f.trans_b));
  CHECK((f.m == 5 && f.n == B && f.k == 5 && f.batch == M));
  CHECK(f.A == z.data() + 115);
  CHECK((f.lda == 5 && f.stride_a == d));
  CHECK((f.ldb == 5 && f.stride_b == 5 * B && f.ldc == 5 && f.stride_c == 5 * B));
  CHECK(f.beta == 0.f);
  // Layer 1 backward: W_1^T (2 x 5) times a 5 x B block into 2 x B.
  const gc::Gemm b = gc::weights_transposed_times(net, 1, z.data(), d, x.data(), y.data(), B, M);
  CHECK((b.trans_a && !b.trans_b));
  CHECK((b.m == 2 && b.n == B && b.k == 5));
  CHECK(b.A == z.data() + 100);
  CHECK((b.lda == 5 && b.stride_a == d && b.ldb == 5 && b.stride_b == 5 * B && b.ldc == 2 && b.stride_c == 2 * B));
  // Layer 3's weight gradient (1 x 5) accumulated into G with stride d.
  const gc::Gemm g = gc::weight_gradient(net, 3, y.data(), d, x.data(), x.data() + 500, B, M);
  CHECK((!g.trans_a && g.trans_b));
  CHECK((g.m == 1 && g.n == 5 && g.k == B && g.beta == 1.f));
  CHECK(g.C == y.data() + 100 + 15 + 30);
  CHECK((g.ldc == 1 && g.stride_c == d && g.lda == 1 && g.stride_a == B && g.ldb == 5 && g.stride_b == 5 * B));
}

TEST_CASE("gan cuda layout: the batched forward pass equals Mlp<float>::forward of every worker", "[gan][cuda-host]") {
  for (const auto act : {dposg::gan::Activation::relu, dposg::gan::Activation::leaky_relu, dposg::gan::Activation::tanh}) {
    dposg::gan::MlpShape s;
    s.inputs = 3;
    s.width = 6;
    s.depth = 2;
    s.outputs = 2;
    s.activation = act;
    const dposg::gan::Mlp<float> mlp(s);
    gc::GanPlan plan;
    plan.gen.units = {3, 6, 6, 2};
    plan.gen.base = 4;  // the network need not start at 0 inside z
    plan.gen.act = act == dposg::gan::Activation::relu ? gc::Act::relu
                   : act == dposg::gan::Activation::leaky_relu ? gc::Act::leaky_relu : gc::Act::tanh;
    plan.dim = 4 + mlp.num_params() + 3;
    plan.batch = 5;
    plan.workers = 4;
    Rng rng(3);
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> Z(static_cast<std::size_t>(plan.dim * plan.workers)), X(3 * 5 * 4);
    for (float& v : Z) v = n(rng);
    for (float& v : X) v = n(rng);
    std::vector<float> h1(6 * 20), a1(6 * 20), h2(6 * 20), a2(6 * 20), out(2 * 20);
    gc::ForwardBufs f;
    f.h = {X.data(), h1.data(), h2.data()};
    f.a = {nullptr, a1.data(), a2.data()};
    f.out = out.data();
    gc::HostExecutor x;
    gc::batched_forward(x, plan, plan.gen, Z.data(), f);
    for (int i = 0; i < plan.workers; ++i) {
      const Eigen::Map<const Eigen::MatrixXf> Xi(X.data() + i * 15, 3, 5);
      dposg::gan::Mlp<float>::Forward ref;
      mlp.forward(Z.data() + i * plan.dim + 4, Xi, ref);
      const Eigen::Map<const Eigen::MatrixXf> got(out.data() + i * 10, 2, 5);
      CHECK((got - ref.out).norm() <= 1e-5f * (1.f + ref.out.norm()));
    }
  }
}

TEST_CASE("gan cuda layout: the workspace holds every buffer apart, inputs first at input_layout", "[gan][cuda-host]") {
  for (const char* loss : {"ns", "wgan-clip", "wgan-gp"}) {
    const auto p = make_gan(gan_options(loss, "tanh"));
    const gc::GanPlan plan = gc::plan_for(*p, 9, 3);
    const std::size_t total = gc::workspace_floats(plan);
    std::vector<float> arena(total);
    float* base = arena.data();
    const gc::Workspace w = gc::carve_workspace(plan, base);
    const gc::InputLayout in = gc::input_layout(plan);
    const std::size_t S = 27;
    CHECK(w.Z == base + in.z);
    CHECK(w.real == base + in.real);
    CHECK(w.latent == base + in.latent);
    CHECK(in.real == static_cast<std::size_t>(p->dim()) * 3);
    CHECK(in.latent == in.real + 2 * S);
    std::vector<std::pair<const float*, std::size_t>> bufs = {
        {w.Z, in.real}, {w.real, 2 * S}, {w.latent, 3 * S}, {w.G, static_cast<std::size_t>(p->dim()) * 3},
        {w.ping, 40 * S}, {w.pong, 40 * S}, {w.d_real, S}, {w.d_fake_d, S}, {w.d_fake_g, S}, {w.d_fake, 2 * S}};
    auto add_forward = [&](const gc::ForwardBufs& f, const gc::NetLayout& net) {
      for (int l = 1; l < net.layers(); ++l) {
        bufs.emplace_back(f.h[static_cast<std::size_t>(l)], net.n(l) * S);
        bufs.emplace_back(f.a[static_cast<std::size_t>(l)], net.n(l) * S);
      }
      bufs.emplace_back(f.out, net.n(net.layers()) * S);
    };
    add_forward(w.fg, plan.gen);
    add_forward(w.fr, plan.disc);
    add_forward(w.ff, plan.disc);
    CHECK(w.fg.h[0] == w.latent);
    CHECK(w.fr.h[0] == w.real);
    CHECK(w.ff.h[0] == w.fg.out);
    if (std::string(loss) == "wgan-gp") {
      CHECK(w.eps == base + in.eps);
      CHECK(in.total == in.eps + S);
      bufs.emplace_back(w.eps, S);
      add_forward(w.fh, plan.disc);
      CHECK(w.fh.h[0] == w.x_hat);
      for (int l = 1; l <= plan.disc.layers(); ++l) bufs.emplace_back(w.ig.e[static_cast<std::size_t>(l)], plan.disc.n(l) * S);
      for (int l = 0; l < plan.disc.layers(); ++l) bufs.emplace_back(w.ig.q[static_cast<std::size_t>(l)], plan.disc.n(l) * S);
      for (int l = 1; l < plan.disc.layers(); ++l) bufs.emplace_back(w.a_bar[static_cast<std::size_t>(l)], plan.disc.n(l) * S);
      bufs.emplace_back(w.x_hat, 2 * S);
      bufs.emplace_back(w.s_bar, 2 * S);
      bufs.emplace_back(w.dx_hat, 2 * S);
    } else {
      CHECK(w.eps == nullptr);
      CHECK(in.total == in.latent + 3 * S);
    }
    std::sort(bufs.begin(), bufs.end());
    for (std::size_t k = 0; k < bufs.size(); ++k) {
      REQUIRE(bufs[k].first != nullptr);
      CHECK(bufs[k].first >= base);
      CHECK(bufs[k].first + bufs[k].second <= base + total);
      if (k + 1 < bufs.size()) CHECK(bufs[k].first + bufs[k].second <= bufs[k + 1].first);
    }
  }
}

// Float32 against double: every entry of G is a sum over B samples of products through the network, each
// term rounded to float's 6e-8; across the few hundred terms of these small networks the column error
// stays near 1e-6, so 1e-4 leaves two orders of margin while still catching any indexing mistake (a wrong
// stride or offset changes a column by O(1)).
constexpr double kFloatTolerance = 1e-4;

TEST_CASE("gan cuda reference: the batched float operator equals GanProblem::sample column by column",
          "[gan][cuda-host]") {
  const Index M = 5, B = 37;
  for (const char* loss : {"ns", "hinge", "wgan-clip", "wgan-gp"})
    for (const char* act : {"relu", "leaky-relu", "tanh"}) {
      INFO(loss << " x " << act);
      const auto p = make_gan(gan_options(loss, act));
      const Matrix Z = worker_points(*p, M, 5);
      WorkerRngs cpu_rngs(21, M), ref_rngs(21, M);
      Matrix G_cpu, G_ref;
      p->sample(Z, B, cpu_rngs, G_cpu);
      gc::reference_sample(*p, Z, B, ref_rngs, G_ref);
      REQUIRE(G_ref.rows() == p->dim());
      REQUIRE(G_ref.cols() == M);
      CHECK(worst_column_error(G_ref, G_cpu) <= kFloatTolerance);
      // Columns really differ (distinct workers, distinct batches), and the streams advanced alike.
      CHECK((G_cpu.col(0) - G_cpu.col(1)).norm() > 1e-3 * G_cpu.col(0).norm());
      for (Index i = 0; i < M; ++i) CHECK(cpu_rngs[i]() == ref_rngs[i]());
    }
}

TEST_CASE("gan cuda reference: wgan-gp with lambda = 0 and sharded data take the same path as the CPU",
          "[gan][cuda-host]") {
  ProblemOptions o = gan_options("wgan-gp", "tanh");
  o.gan_gp_lambda = 0.0;
  o.gan_shard = true;
  const auto p = make_gan(o);
  const Matrix Z = worker_points(*p, 4, 8);
  WorkerRngs a(3, 4), b(3, 4);
  Matrix G_cpu, G_ref;
  p->sample(Z, 16, a, G_cpu);
  gc::reference_sample(*p, Z, 16, b, G_ref);
  CHECK(worst_column_error(G_ref, G_cpu) <= kFloatTolerance);
}


TEST_CASE("gan cuda reference: image data (D = 36) through the same batched float operator", "[gan][cuda-host]") {
  const auto data = tiny_images();
  for (const char* loss : {"ns", "wgan-clip", "wgan-gp"})
    for (const char* act : {"relu", "tanh"}) {
      INFO(loss << " x " << act);
      const GanProblem p(gan_options(loss, act), "tiny-images", data);
      REQUIRE(gc::plan_for(p, 7, 3).data_dim() == 36);
      const Matrix Z = worker_points(p, 3, 9);
      WorkerRngs cpu_rngs(5, 3), ref_rngs(5, 3);
      Matrix G_cpu, G_ref;
      p.sample(Z, 7, cpu_rngs, G_cpu);
      gc::reference_sample(p, Z, 7, ref_rngs, G_ref);
      CHECK(worst_column_error(G_ref, G_cpu) <= kFloatTolerance);
      CHECK((G_cpu.col(0) - G_cpu.col(1)).norm() > 1e-3 * G_cpu.col(0).norm());
    }
}

TEST_CASE("gan cpu-float: the batched float operator with Eigen's GEMM equals the double CPU path",
          "[gan][cuda-host]") {
  const Index M = 4, B = 29;
  for (const char* loss : {"ns", "hinge", "wgan-clip", "wgan-gp"})
    for (const char* act : {"relu", "leaky-relu", "tanh"}) {
      INFO(loss << " x " << act);
      ProblemOptions o = gan_options(loss, act);
      const auto cpu = make_gan(o);
      o.device = "cpu-float";
      const auto flt = make_gan(o);
      REQUIRE(flt->device() == "cpu-float");
      const Matrix Z = worker_points(*cpu, M, 6);
      WorkerRngs a(8, M), b(8, M), c(8, M);
      Matrix G_cpu, G_float, G_ref;
      cpu->sample(Z, B, a, G_cpu);
      flt->sample(Z, B, b, G_float);
      gc::reference_sample(*cpu, Z, B, c, G_ref);
      CHECK(worst_column_error(G_float, G_cpu) <= kFloatTolerance);
      // Against the loop reference: the same float algorithm, GEMM sums in another order only.
      CHECK(worst_column_error(G_float, G_ref) <= 1e-5);
      for (Index i = 0; i < M; ++i) CHECK(a[i]() == b[i]());
    }
  // Image data too (D = 36).
  ProblemOptions o = gan_options("wgan-gp", "tanh");
  const GanProblem cpu(o, "tiny-images", tiny_images());
  o.device = "cpu-float";
  const GanProblem flt(o, "tiny-images", tiny_images());
  const Matrix Z = worker_points(cpu, 3, 2);
  WorkerRngs a(1, 3), b(1, 3);
  Matrix G_cpu, G_float;
  cpu.sample(Z, 11, a, G_cpu);
  flt.sample(Z, 11, b, G_float);
  CHECK(worst_column_error(G_float, G_cpu) <= kFloatTolerance);
}

TEST_CASE("gan cuda: --device is validated (cpu | cuda; cuda for the GAN problems only)", "[gan][cli]") {
  ProblemOptions o = gan_options("ns", "relu");
  o.device = "gpu";
  CHECK_THROWS_WITH(dposg::make_problem(o), Catch::Contains("--device") && Catch::Contains("'gpu'"));
  ProblemOptions star;
  star.device = "cuda";
  CHECK_THROWS_WITH(dposg::make_problem(star), Catch::Contains("--device") && Catch::Contains("GAN"));
  o.device = "cpu";
  CHECK(make_gan(o)->device() == "cpu");
  star.device = "cpu-float";
  CHECK_THROWS_WITH(dposg::make_problem(star), Catch::Contains("--device") && Catch::Contains("GAN"));

  o.device = "cuda";
  std::string why;
  dposg::test::TempDir dir;
  if (gc::cuda_available(&why)) {
    CHECK(make_gan(o)->device() == "cuda");
  } else {
    INFO(why);
    CHECK_THROWS_AS(dposg::make_problem(o), InputError);
    CHECK_THROWS_WITH(dposg::make_problem(o), Catch::StartsWith("--device cuda: "));
    // The CLI: one line naming --device, exit code 2, no output file.
    const auto r = dposg::test::run_cli("run --problem gan-mog8 --device cuda --iters 2 --out r.h5", dir);
    CHECK(r.code == 2);
    CHECK(r.err.find("--device") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
  }
  const auto bad = dposg::test::run_cli("run --problem star --device cuda --iters 2 --out r.h5", dir);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--device") != std::string::npos);
}
