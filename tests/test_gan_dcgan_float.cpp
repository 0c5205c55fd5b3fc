// ctest-label: unit
// --gan-arch dcgan in float for all workers at once (gan/cuda/batched_conv.hpp), on any machine: the
// batched im2col / col2im against gan/conv_net.cpp's double ones and against each other (col2im is
// im2col's adjoint), the plan's layers against ConvNet's, and the whole batched operator run through
// HostExecutor (the CPU reference of every CUDA kernel) and through --device cpu-float against the
// double ConvNet path of GanProblem (itself checked against finite differences in test_gan_dcgan.cpp),
// block by block, for every loss, M = 1 and M = 3. tests/test_gan_cuda.cpp runs the same comparison on
// a GPU.
#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "gan/conv_net.hpp"
#include "gan/cuda/batched_conv.hpp"
#include "gan/cuda/host_executor.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/gan_problem.hpp"
#include "gan_test_support.hpp"

using dposg::Index;
using dposg::Matrix;
using dposg::Rng;
using dposg::Vector;
using dposg::WorkerRngs;
using dposg::gan::ConvLayer;
using dposg::gan::ConvNet;
using dposg::gan::GanProblem;
namespace gc = dposg::gan::cuda;
using dposg::test::kTinyDcgans;
using dposg::test::labelled_images;
using dposg::test::tiny_dcgan_options;
using dposg::test::worker_points;
using dposg::test::worst_block_error;

namespace {

// Float32 against double, each block (generator u, critic v) of every column against its own norm:
// an entry is a sum over B samples of products through four or five layers, each a sum of up to
// patch = 16 C terms; the float rounding (6e-8 per operation) stays near 1e-6 relative, so 1e-4
// leaves two orders of margin, while a wrong offset, stride or worker block changes a block by O(1).
constexpr double kFloatTolerance = 1e-4;

}  // namespace

TEST_CASE("dcgan float: batched im2col equals ConvNet's for every worker, and col2im is its adjoint",
          "[gan][dcgan][cuda-host]") {
  ConvLayer conv;  // 2 channels 8 x 8 -> 3 channels 4 x 4
  conv.c_in = 2;
  conv.c_out = 3;
  conv.in_side = 8;
  conv.out_side = 4;
  ConvLayer convt;  // 3 channels 4 x 4 -> 2 channels 8 x 8
  convt.transposed = true;
  convt.c_in = 3;
  convt.c_out = 2;
  convt.in_side = 4;
  convt.out_side = 8;
  ConvLayer head;  // 4 x 4 -> 1 x 1, k4 s1 p0 (the critic's last layer)
  head.c_in = 3;
  head.c_out = 1;
  head.in_side = 4;
  head.out_side = 1;
  head.stride = 1;
  head.pad = 0;
  const Index B = 3, M = 2;
  Rng rng(6);
  std::normal_distribution<float> n(0.f, 1.f);
  for (const ConvLayer& l : {conv, convt, head}) {
    INFO("transposed " << l.transposed << ", in side " << l.in_side);
    const gc::ConvGeom g = gc::conv_geom(l, 0);
    const Index Pb = l.big_side() * l.big_side(), Cb = l.big_channels();
    std::vector<float> big(static_cast<std::size_t>(Pb * B * Cb * M)), cols(static_cast<std::size_t>(g.col_features() * B * M));
    for (float& v : big) v = n(rng);
    gc::HostExecutor x;
    x.im2col(g, big.data(), cols.data(), static_cast<int>(B), static_cast<int>(M));
    const Index rows = l.small_side() * l.small_side() * B;
    for (Index i = 0; i < M; ++i) {
      const Eigen::Map<const Eigen::MatrixXf> bi(big.data() + i * Pb * B * Cb, Pb * B, Cb);
      const Matrix ref = dposg::gan::im2col(l, bi.cast<double>(), B);
      const Eigen::Map<const Eigen::MatrixXf> got(cols.data() + i * rows * g.patch(), rows, g.patch());
      CHECK((got.cast<double>() - ref).norm() == 0.0);  // a copy: exact
    }
    // <col2im(C), X> = <C, im2col(X)> for random C and X.
    std::vector<float> C(cols.size()), back(big.size());
    for (float& v : C) v = n(rng);
    x.col2im(g, C.data(), back.data(), static_cast<int>(B), static_cast<int>(M));
    double lhs = 0.0, rhs = 0.0;
    for (std::size_t k = 0; k < big.size(); ++k) lhs += static_cast<double>(back[k]) * big[k];
    for (std::size_t k = 0; k < cols.size(); ++k) rhs += static_cast<double>(C[k]) * cols[k];
    CHECK(lhs == Approx(rhs).epsilon(1e-5));
  }
}

TEST_CASE("dcgan float: the plan reproduces ConvNet's layers and parameter offsets inside z", "[gan][dcgan][cuda-host]") {
  const GanProblem p(tiny_dcgan_options("wgan-gp", kTinyDcgans[1], "cpu"), "tiny", labelled_images(16, 1));
  const gc::GanPlan plan = gc::plan_for(p, 5, 3);
  REQUIRE(plan.conv());
  CHECK(plan.latent() == 3);
  CHECK(plan.data_dim() == 256);
  CHECK(plan.disc.base == p.dim_u());
  CHECK(plan.cgen.generator);
  CHECK_FALSE(plan.cdisc.generator);
  CHECK(plan.cdisc.act == gc::Act::relu);
  for (const auto* pair : {&p.conv_generator(), &p.conv_critic()}) {
    const gc::ConvNetLayout& net = pair == &p.conv_generator() ? plan.cgen : plan.cdisc;
    const long long base = pair == &p.conv_generator() ? 0 : p.dim_u();
    REQUIRE(net.layer_count() == static_cast<int>(pair->layers().size()));
    for (int l = 0; l < net.layer_count(); ++l) {
      const ConvLayer& ref = pair->layers()[static_cast<std::size_t>(l)];
      const gc::ConvGeom& g = net.layer(l);
      CHECK(g.weight_offset == base + ref.weight_offset);
      CHECK(g.bias_offset == base + ref.bias_offset);
      CHECK(g.in_features() == ref.c_in * ref.in_side * ref.in_side);
      CHECK(g.patch() * g.small_channels() == ref.bias_offset - ref.weight_offset);
    }
  }
  // The last parameter of the critic is the last of z.
  CHECK(plan.cdisc.layers.back().bias_offset + 1 == p.dim());
}

TEST_CASE("dcgan float: the batched operator (host executor, cpu-float) equals the double ConvNet path",
          "[gan][dcgan][cuda-host]") {
  for (const auto& t : kTinyDcgans)
    for (const char* loss : {"ns", "hinge", "wgan-gp", "wgan-clip"})
      for (const Index M : {1, 3}) {
        INFO(loss << ", images " << t.side << " x " << t.side << " x " << t.channels << ", M = " << M);
        const auto data = labelled_images(t.side, t.channels);
        const GanProblem cpu(tiny_dcgan_options(loss, t, "cpu"), "tiny", data);
        const GanProblem flt(tiny_dcgan_options(loss, t, "cpu-float"), "tiny", data);
        const Matrix Z = worker_points(cpu, M, 7);
        const Index B = 5;
        WorkerRngs a(9, M), b(9, M), c(9, M);
        Matrix G_cpu, G_float, G_ref;
        cpu.sample(Z, B, a, G_cpu);
        flt.sample(Z, B, b, G_float);
        gc::reference_sample(cpu, Z, B, c, G_ref);
        const auto e_float = worst_block_error(G_float, G_cpu, cpu.dim_u());
        const auto e_ref = worst_block_error(G_ref, G_cpu, cpu.dim_u());
        INFO("cpu-float: u " << e_float.u << ", v " << e_float.v << "; host executor: u " << e_ref.u << ", v " << e_ref.v);
        CHECK(e_float.worst() <= kFloatTolerance);
        CHECK(e_ref.worst() <= kFloatTolerance);
        // Both blocks are really computed (not zero), and the workers' columns differ.
        CHECK(G_cpu.col(0).head(cpu.dim_u()).norm() > 0.0);
        CHECK(G_cpu.col(0).tail(cpu.dim() - cpu.dim_u()).norm() > 0.0);
        if (M > 1) CHECK((G_cpu.col(0) - G_cpu.col(1)).norm() > 1e-3 * G_cpu.col(0).norm());
        for (Index i = 0; i < M; ++i) CHECK(a[i]() == b[i]());
      }
}
