// ctest-label: unit
// Tests of gan/ and data/: every gradient of the MLP and of the GAN operator against central finite
// differences of a scalar loss that the test evaluates itself from forward passes only; the data
// generators against their definitions; the mode and MMD metrics on samples of known quality; the
// determinism of sample() (same stream, same batch; any thread count, same result).
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "app/problem_catalog.hpp"
#include "core/rng.hpp"
#include "data/mixture.hpp"
#include "gan/gan_problem.hpp"
#include "gan/mlp.hpp"
#include "finite_differences.hpp"

using dposg::Index;
using dposg::InputError;
using dposg::Matrix;
using dposg::ProblemOptions;
using dposg::Rng;
using dposg::Vector;
using dposg::WorkerRngs;
using dposg::data::GaussianMixture2D;
using dposg::gan::Activation;
using dposg::gan::GanBatch;
using dposg::gan::GanProblem;
using dposg::gan::Mlp;
using dposg::gan::MlpShape;

namespace {

using dposg::test::Fn;
using dposg::test::fd_gradient;
using dposg::test::gaussian_matrix;

// max_k |a_k - b_k| <= atol + rtol * max_k |b_k|, reported on failure.
void require_close(const Vector& analytic, const Vector& fd, double rtol, double atol, const std::string& what) {
  REQUIRE(analytic.size() == fd.size());
  const double err = (analytic - fd).cwiseAbs().maxCoeff();
  const double scale = fd.cwiseAbs().maxCoeff();
  INFO(what << ": max |analytic - fd| = " << err << ", max |fd| = " << scale);
  if (std::getenv("GAN_FD_VERBOSE")) std::fprintf(stderr, "%-40s err %.3g scale %.3g rel %.3g\n", what.c_str(), err, scale, err / scale);
  CHECK(scale > 0.0);  // the check is not vacuous
  CHECK(err <= atol + rtol * scale);
}

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

const std::vector<Activation> kActivations{Activation::relu, Activation::leaky_relu, Activation::tanh};

// ---------------------------------------------------------------------------------------------
// A reference forward pass written from the documented layout, independent of Mlp::forward.
Matrix reference_forward(const MlpShape& s, const Vector& p, const Matrix& X) {
  std::vector<Index> n{s.inputs};
  for (Index l = 0; l < s.depth; ++l) n.push_back(s.width);
  n.push_back(s.outputs);
  Matrix h = X;
  Index off = 0;
  for (std::size_t l = 1; l < n.size(); ++l) {
    Matrix a(n[l], X.cols());
    for (Index j = 0; j < X.cols(); ++j)
      for (Index r = 0; r < n[l]; ++r) {
        double sum = p[off + n[l] * n[l - 1] + r];  // b_l(r)
        for (Index c = 0; c < n[l - 1]; ++c) sum += p[off + c * n[l] + r] * h(c, j);  // W_l(r, c)
        a(r, j) = sum;
      }
    off += n[l] * n[l - 1] + n[l];
    if (l + 1 < n.size()) {
      for (Index k = 0; k < a.size(); ++k) {
        const double x = a.data()[k];
        a.data()[k] = s.activation == Activation::tanh ? std::tanh(x) : (x > 0 ? x : (s.activation == Activation::relu ? 0.0 : 0.2 * x));
      }
    }
    h = a;
  }
  REQUIRE(off == static_cast<Index>(p.size()));
  return h;
}

Matrix net_out(const Mlp<double>& net, const double* p, const Matrix& X) {
  Mlp<double>::Forward f;
  net.forward(p, X, f);
  return f.out;
}

// d D / d x for every column, by central differences of the forward pass (2-D or any input).
Matrix fd_input_gradient(const Mlp<double>& net, const double* p, const Matrix& X, double h) {
  Matrix S(X.rows(), X.cols());
  for (Index c = 0; c < X.rows(); ++c) {
    Matrix Xp = X, Xm = X;
    Xp.row(c).array() += h;
    Xm.row(c).array() -= h;
    S.row(c) = (net_out(net, p, Xp) - net_out(net, p, Xm)) / (2.0 * h);
  }
  return S;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// data/

TEST_CASE("data: ring8 has 8 distinct modes at (cos 2 pi k/8, sin 2 pi k/8), std 0.01", "[gan][data]") {
  const GaussianMixture2D ring = GaussianMixture2D::ring8();
  REQUIRE(ring.modes() == 8);
  CHECK(ring.stddev() == 0.01);
  for (Index k = 0; k < 8; ++k) {
    const double a = 2.0 * std::numbers::pi * static_cast<double>(k) / 8.0;
    CHECK(ring.means()(0, k) == Approx(std::cos(a)).margin(1e-15));
    CHECK(ring.means()(1, k) == Approx(std::sin(a)).margin(1e-15));
  }
  // All 8 distinct (the linspace-including-2pi bug would make two of them coincide).
  CHECK(ring.min_mode_distance() == Approx(2.0 * std::sin(std::numbers::pi / 8.0)).epsilon(1e-12));
}

TEST_CASE("data: grid25 has 25 distinct modes at {-4,-2,0,2,4}^2, std 0.05", "[gan][data]") {
  const GaussianMixture2D grid = GaussianMixture2D::grid25();
  REQUIRE(grid.modes() == 25);
  CHECK(grid.stddev() == 0.05);
  std::set<std::pair<double, double>> expected, got;
  for (int a : {-4, -2, 0, 2, 4})
    for (int b : {-4, -2, 0, 2, 4}) expected.insert({a, b});
  for (Index k = 0; k < 25; ++k) got.insert({grid.means()(0, k), grid.means()(1, k)});
  CHECK(got == expected);
  CHECK(grid.min_mode_distance() == 2.0);
}

TEST_CASE("data: samples have the right modes, frequencies, means and spreads", "[gan][data]") {
  for (const auto& mix : {GaussianMixture2D::ring8(), GaussianMixture2D::grid25()}) {
    INFO(mix.name());
    Rng rng(7);
    const Index n = 100000, K = mix.modes();
    const Matrix x = mix.sample(rng, n);
    std::vector<std::vector<Index>> members(static_cast<std::size_t>(K));
    for (Index j = 0; j < n; ++j) {
      double dist = 0;
      const Index k = mix.nearest_mode(x.col(j), &dist);
      REQUIRE(dist < 10.0 * mix.stddev());  // modes are far apart: the nearest mean is the true one
      members[static_cast<std::size_t>(k)].push_back(j);
    }
    const double p = 1.0 / static_cast<double>(K);
    const double se_freq = std::sqrt(p * (1 - p) / static_cast<double>(n));
    for (Index k = 0; k < K; ++k) {
      const auto& idx = members[static_cast<std::size_t>(k)];
      INFO("mode " << k);
      CHECK(std::abs(static_cast<double>(idx.size()) / n - p) < 5.0 * se_freq);
      Matrix pts(2, static_cast<Index>(idx.size()));
      for (std::size_t j = 0; j < idx.size(); ++j) pts.col(static_cast<Index>(j)) = x.col(idx[j]);
      const Vector mean = pts.rowwise().mean();
      const double cnt = static_cast<double>(pts.cols());
      // Sample mean within 5 standard errors; per-coordinate sample std within 5 standard errors
      // (the s.e. of a Gaussian sample std is about std / sqrt(2 n)).
      CHECK((mean - mix.means().col(k)).cwiseAbs().maxCoeff() < 5.0 * mix.stddev() / std::sqrt(cnt));
      for (Index c = 0; c < 2; ++c) {
        const double sd = std::sqrt((pts.row(c).array() - mean[c]).square().sum() / (cnt - 1));
        CHECK(std::abs(sd - mix.stddev()) < 5.0 * mix.stddev() / std::sqrt(2.0 * cnt));
      }
    }
  }
}

TEST_CASE("data: shards partition the modes and a shard samples only its modes", "[gan][data]") {
  const GaussianMixture2D grid = GaussianMixture2D::grid25();
  for (Index shards : {1, 3, 8, 25}) {
    std::vector<int> seen(25, 0);
    for (Index s = 0; s < shards; ++s) {
      const auto modes = grid.shard_modes(s, shards);
      REQUIRE_FALSE(modes.empty());
      for (Index k : modes) {
        CHECK(k % shards == s);
        ++seen[static_cast<std::size_t>(k)];
      }
      Rng rng(11 + s);
      Matrix x(2, 500);
      grid.sample(rng, modes, x);
      for (Index j = 0; j < x.cols(); ++j) CHECK(grid.nearest_mode(x.col(j)) % shards == s);
    }
    for (int c : seen) CHECK(c == 1);
  }
  CHECK_THROWS(grid.shard_modes(0, 26));
  CHECK_THROWS(grid.shard_modes(3, 3));
}

// ---------------------------------------------------------------------------------------------
// Metrics

TEST_CASE("metrics: the true mixture covers every mode with ~1 - exp(-4.5) high-quality samples", "[gan][metrics]") {
  // A 2-D isotropic Gaussian lies within 3 std (Euclidean) with probability 1 - exp(-9/2) = 0.98889
  // (Rayleigh distribution), so that is the high-quality fraction of perfect samples.
  const double expected = 1.0 - std::exp(-4.5);
  for (const auto& mix : {GaussianMixture2D::ring8(), GaussianMixture2D::grid25()}) {
    INFO(mix.name());
    Rng rng(3);
    const Matrix x = mix.sample(rng, 2500);
    const auto c = dposg::data::mode_coverage(mix, x);
    CHECK(c.modes_covered == mix.modes());
    const double se = std::sqrt(expected * (1 - expected) / 2500.0);
    CHECK(std::abs(c.high_quality_fraction - expected) < 4.0 * se);
    CHECK(c.high_quality_fraction >= 0.98);
    // A larger sample pins the fraction down: the radius is 3 std, not 3 variances or 3 std per axis.
    const auto big = dposg::data::mode_coverage(mix, mix.sample(rng, 200000));
    CHECK(big.high_quality_fraction == Approx(expected).margin(0.0015));
  }
}

TEST_CASE("metrics: a collapsed generator covers one mode, far samples cover none", "[gan][metrics]") {
  const GaussianMixture2D ring = GaussianMixture2D::ring8();
  Rng rng(5);
  Matrix x = gaussian_matrix(rng, 2, 2500, ring.stddev());
  x.colwise() += ring.means().col(3);
  auto c = dposg::data::mode_coverage(ring, x);
  CHECK(c.modes_covered == 1);
  CHECK(c.high_quality_per_mode[3] > 2400);
  CHECK(c.high_quality_fraction > 0.97);
  // Every sample exactly on mode 5.
  Matrix at5 = ring.means().col(5).replicate(1, 2500);
  c = dposg::data::mode_coverage(ring, at5);
  CHECK(c.modes_covered == 1);
  CHECK(c.high_quality_fraction == 1.0);
  // Samples half-way between modes, or at the origin, or NaN: nothing is high quality.
  Matrix far = Matrix::Zero(2, 100);
  far.col(1) = 0.5 * (ring.means().col(0) + ring.means().col(1));
  far(0, 2) = std::nan("");
  c = dposg::data::mode_coverage(ring, far);
  CHECK(c.modes_covered == 0);
  CHECK(c.high_quality_fraction == 0.0);
}

TEST_CASE("metrics: unbiased MMD^2 matches the double sum, ~0 on equal laws, large on collapse", "[gan][metrics]") {
  Rng rng(9);
  const Matrix X = gaussian_matrix(rng, 2, 37), Y = gaussian_matrix(rng, 2, 23, 1.5);
  const double h = 0.7;
  auto k = [&](const Vector& a, const Vector& b) { return std::exp(-(a - b).squaredNorm() / (2 * h * h)); };
  double xx = 0, yy = 0, xy = 0;
  for (Index i = 0; i < X.cols(); ++i)
    for (Index j = 0; j < X.cols(); ++j)
      if (i != j) xx += k(X.col(i), X.col(j));
  for (Index i = 0; i < Y.cols(); ++i)
    for (Index j = 0; j < Y.cols(); ++j)
      if (i != j) yy += k(Y.col(i), Y.col(j));
  for (Index i = 0; i < X.cols(); ++i)
    for (Index j = 0; j < Y.cols(); ++j) xy += k(X.col(i), Y.col(j));
  const double ref = xx / (37.0 * 36.0) + yy / (23.0 * 22.0) - 2.0 * xy / (37.0 * 23.0);
  CHECK(dposg::data::mmd2_unbiased(X, Y, h) == Approx(ref).epsilon(1e-12));

  const GaussianMixture2D ring = GaussianMixture2D::ring8();
  const double bw = 0.5 * ring.min_mode_distance();
  const double same = dposg::data::mmd2_unbiased(ring.sample(rng, 1000), ring.sample(rng, 1000), bw);
  CHECK(std::abs(same) < 2e-3);
  const Matrix collapsed = ring.means().col(0).replicate(1, 1000);
  CHECK(dposg::data::mmd2_unbiased(collapsed, ring.sample(rng, 1000), bw) > 0.3);
}

// ---------------------------------------------------------------------------------------------
// Mlp

TEST_CASE("mlp: forward follows the documented parameter layout", "[gan][mlp]") {
  for (Activation act : kActivations)
    for (Index depth : {1, 2, 3}) {
      MlpShape s{3, 5, depth, 2, act};
      Mlp<double> net(s);
      CHECK(net.num_params() == 3 * 5 + 5 + (depth - 1) * (5 * 5 + 5) + 5 * 2 + 2);
      Rng rng(depth);
      const Vector p = gaussian_matrix(rng, net.num_params(), 1, 0.7);
      const Matrix X = gaussian_matrix(rng, 3, 4);
      const Matrix ref = reference_forward(s, p, X);
      CHECK((net_out(net, p.data(), X) - ref).cwiseAbs().maxCoeff() < 1e-13);
      Mlp<float> netf(s);
      const Eigen::VectorXf pf = p.cast<float>();
      Mlp<float>::Forward ff;
      netf.forward(pf.data(), X.cast<float>(), ff);
      CHECK((ff.out.cast<double>() - ref).cwiseAbs().maxCoeff() < 1e-4);
    }
}

TEST_CASE("mlp: backward, input gradient and double backward match finite differences", "[gan][mlp]") {
  for (Activation act : kActivations)
    for (Index depth : {1, 2, 3}) {
      INFO("activation " << dposg::gan::to_string(act) << ", depth " << depth);
      Rng rng(100 + depth);
      // Vector output: a fixed random projection R makes the scalar loss sum(R .* out).
      MlpShape s{3, 6, depth, 2, act};
      Mlp<double> net(s);
      Vector p = gaussian_matrix(rng, net.num_params(), 1, 0.6);
      const Matrix X = gaussian_matrix(rng, 3, 5);
      const Matrix R = gaussian_matrix(rng, 2, 5);
      Mlp<double>::Forward f;
      net.forward(p.data(), X, f);
      Vector grad = Vector::Zero(net.num_params());
      Matrix dX;
      net.backward(p.data(), f, R, grad.data(), &dX);
      const Fn loss_p = [&](const Vector& q) { return (R.array() * net_out(net, q.data(), X).array()).sum(); };
      require_close(grad, fd_gradient(loss_p, p, 0, p.size(), 1e-6), 1e-7, 1e-9, "d loss / d params");
      const Vector xflat = Eigen::Map<const Vector>(X.data(), X.size());
      const Fn loss_x = [&](const Vector& xv) {
        const Matrix Xv = Eigen::Map<const Matrix>(xv.data(), 3, 5);
        return (R.array() * net_out(net, p.data(), Xv).array()).sum();
      };
      require_close(Eigen::Map<const Vector>(dX.data(), dX.size()), fd_gradient(loss_x, xflat, 0, xflat.size(), 1e-6),
                    1e-7, 1e-9, "d loss / d X");

      // Scalar output: S = d out / d X, and the double backward of sum(T .* S) + sum ||S_j||.
      MlpShape s1{3, 6, depth, 1, act};
      Mlp<double> critic(s1);
      Vector c = gaussian_matrix(rng, critic.num_params(), 1, 0.6);
      Mlp<double>::Forward fc;
      Mlp<double>::InputGradient ig;
      Matrix S;
      critic.forward(c.data(), X, fc);
      critic.input_gradient(c.data(), fc, ig, S);
      CHECK((S - fd_input_gradient(critic, c.data(), X, 1e-6)).cwiseAbs().maxCoeff() < 1e-8);
      const Matrix T = gaussian_matrix(rng, 3, 5);
      auto second = [&](const Matrix& Sx) { return (T.array() * Sx.array()).sum() + Sx.colwise().norm().sum(); };
      Matrix S_bar = T;
      for (Index j = 0; j < S.cols(); ++j) S_bar.col(j) += S.col(j) / S.col(j).norm();
      Vector gc = Vector::Zero(critic.num_params());
      Matrix dXs;
      critic.input_gradient_backward(c.data(), fc, ig, S_bar, gc.data(), &dXs);
      // The finite differences differentiate S computed by central differences of the forward
      // pass (nested differences), so they use only forward passes.
      const double h_in = 1e-4, h_out = 1e-4;
      const Fn loss_c = [&](const Vector& q) { return second(fd_input_gradient(critic, q.data(), X, h_in)); };
      require_close(gc, fd_gradient(loss_c, c, 0, c.size(), h_out), 1e-5, 1e-7, "double backward, d / d params");
      const Fn loss_cx = [&](const Vector& xv) {
        const Matrix Xv = Eigen::Map<const Matrix>(xv.data(), 3, 5);
        return second(fd_input_gradient(critic, c.data(), Xv, h_in));
      };
      const Vector fd_x = fd_gradient(loss_cx, xflat, 0, xflat.size(), h_out);
      if (act == Activation::tanh) {
        require_close(Eigen::Map<const Vector>(dXs.data(), dXs.size()), fd_x, 1e-5, 1e-7, "double backward, d / d X");
      } else {
        // Piecewise-linear: S is piecewise constant in X, its derivative exactly 0 (the differences
        // see only rounding noise).
        CHECK(dXs.isZero(0.0));
        CHECK(fd_x.cwiseAbs().maxCoeff() < 1e-6);
      }
    }
}

TEST_CASE("mlp: initialisation is He / Xavier uniform with zero biases", "[gan][mlp]") {
  for (Activation act : kActivations) {
    MlpShape s{2, 200, 2, 1, act};
    Mlp<double> net(s);
    Vector p(net.num_params());
    Rng rng(1);
    net.init_params(rng, p.data());
    for (Index l = 1; l <= net.layers(); ++l) {
      const double fan_in = static_cast<double>(net.units(l - 1)), fan_out = static_cast<double>(net.units(l));
      const bool he = l < net.layers() && act != Activation::tanh;
      const double bound = he ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
      const auto w = p.segment(net.weight_offset(l), net.units(l) * net.units(l - 1));
      CHECK(w.cwiseAbs().maxCoeff() <= bound);
      CHECK(w.cwiseAbs().maxCoeff() > 0.9 * bound);
      CHECK(p.segment(net.bias_offset(l), net.units(l)).isZero(0.0));
    }
  }
  CHECK(dposg::gan::parse_activation("leaky-relu") == Activation::leaky_relu);
  CHECK_THROWS_WITH(dposg::gan::parse_activation("sigmoid"), Catch::Contains("--gan-activation"));
}

// ---------------------------------------------------------------------------------------------
// GanProblem

namespace {

ProblemOptions small_gan(const std::string& loss, const std::string& act) {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_loss = loss;
  o.gan_activation = act;
  o.gan_width = 6;
  o.gan_depth = 2;
  o.gan_latent = 3;
  o.gan_gp_lambda = 10.0;
  o.gan_clip = 0.3;
  o.seed = 4;
  return o;
}

std::unique_ptr<GanProblem> make_gan(const ProblemOptions& o) {
  auto p = dposg::make_problem(o);
  auto* g = dynamic_cast<GanProblem*>(p.get());
  REQUIRE(g != nullptr);
  p.release();
  return std::unique_ptr<GanProblem>(g);
}

// The test's own losses at z on batch b, from forward passes only.
struct TestLosses {
  const GanProblem& p;
  const GanBatch& b;
  Index nu() const { return p.dim_u(); }
  Matrix fake(const Vector& z) const { return net_out(p.generator(), z.data(), b.latent); }
  Matrix critic(const Vector& z, const Matrix& X) const { return net_out(p.discriminator(), z.data() + nu(), X); }
  // ns: L_G = -E log sigmoid(D(G(z))), L_D = -(E log sigmoid(D(x)) + E log(1 - sigmoid(D(G(z))))).
  double ns_g(const Vector& z) const {
    const Matrix lf = critic(z, fake(z));
    double s = 0;
    for (Index j = 0; j < lf.cols(); ++j) s += softplus(-lf(0, j));
    return s / static_cast<double>(lf.cols());
  }
  double ns_d(const Vector& z) const {
    const Matrix lr = critic(z, b.real), lf = critic(z, fake(z));
    double s = 0;
    for (Index j = 0; j < lr.cols(); ++j) s += softplus(-lr(0, j)) + softplus(lf(0, j));
    return s / static_cast<double>(lr.cols());
  }
  // WGAN: E D(x) - E D(G(z)) - lambda E (||grad_x D(x^)|| - 1)^2, the input gradient by differences.
  double wgan_f(const Vector& z, double lambda) const {
    const Matrix fk = fake(z);
    double f = critic(z, b.real).mean() - critic(z, fk).mean();
    if (lambda > 0) {
      Matrix xh = fk;
      for (Index j = 0; j < xh.cols(); ++j) xh.col(j) = b.eps[j] * b.real.col(j) + (1 - b.eps[j]) * fk.col(j);
      const Matrix S = fd_input_gradient(p.discriminator(), z.data() + nu(), xh, 1e-4);
      f -= lambda * (S.colwise().norm().array() - 1.0).square().mean();
    }
    return f;
  }
};

Vector operator_at(const GanProblem& p, const Vector& z, const GanBatch& b) {
  Vector g(p.dim());
  p.operator_on(z, b, g);
  return g;
}

// A start point: the problem's initialisation, biases perturbed so that they matter too.
Vector start_point(const GanProblem& p, std::uint64_t seed) {
  Rng rng(seed);
  Vector z = p.initial_point(rng);
  z += 0.05 * gaussian_matrix(rng, z.size(), 1);
  return z;
}

}  // namespace

TEST_CASE("gan: sample() draws the documented batch and applies operator_on to it", "[gan]") {
  for (const std::string loss : {"ns", "wgan-clip", "wgan-gp"}) {
    INFO(loss);
    const auto p = make_gan(small_gan(loss, "tanh"));
    const Index M = 3, B = 7;
    Matrix Z(p->dim(), M);
    for (Index i = 0; i < M; ++i) Z.col(i) = start_point(*p, 10 + i);
    WorkerRngs rngs(42, M);
    Matrix G;
    p->sample(Z, B, rngs, G);
    WorkerRngs again(42, M);
    for (Index i = 0; i < M; ++i) {
      const GanBatch b = p->draw_batch(again[i], B, i, M);
      CHECK(b.real.cols() == B);
      CHECK(b.latent.rows() == 3);
      CHECK(b.eps.size() == (loss == "wgan-gp" ? B : 0));
      CHECK(operator_at(*p, Z.col(i), b) == G.col(i));
    }
    // The streams advanced exactly by one batch each: the next call draws the next batches.
    Matrix G2;
    p->sample(Z, B, rngs, G2);
    for (Index i = 0; i < M; ++i) CHECK(operator_at(*p, Z.col(i), p->draw_batch(again[i], B, i, M)) == G2.col(i));
  }
}

TEST_CASE("gan: non-saturating operator = [grad_u L_G, grad_v L_D] (finite differences)", "[gan]") {
  for (const std::string act : {"relu", "leaky-relu", "tanh"}) {
    INFO(act);
    const auto p = make_gan(small_gan("ns", act));
    Rng rng(21);
    const GanBatch b = p->draw_batch(rng, 6, 0, 1);
    const Vector z = start_point(*p, 22);
    const Vector g = operator_at(*p, z, b);
    const TestLosses t{*p, b};
    const Index nu = p->dim_u(), d = p->dim();
    require_close(g.head(nu), fd_gradient([&](const Vector& x) { return t.ns_g(x); }, z, 0, nu, 1e-6), 1e-6, 1e-9,
                  "generator part");
    require_close(g.tail(d - nu), fd_gradient([&](const Vector& x) { return t.ns_d(x); }, z, nu, d, 1e-6), 1e-6, 1e-9,
                  "discriminator part");
    const auto l = p->losses_on(z, b);
    CHECK(l.loss_g == Approx(t.ns_g(z)).epsilon(1e-12));
    CHECK(l.loss_d == Approx(t.ns_d(z)).epsilon(1e-12));
  }
}

TEST_CASE("gan: wgan-clip operator is [grad_u f, -grad_w f] at w = clip(v) (finite differences)", "[gan]") {
  for (const std::string act : {"relu", "leaky-relu", "tanh"}) {
    INFO(act);
    const auto p = make_gan(small_gan("wgan-clip", act));
    Rng rng(31);
    const GanBatch b = p->draw_batch(rng, 6, 0, 1);
    const Index nu = p->dim_u(), d = p->dim();
    // v with coordinates on both sides of the box [-0.3, 0.3].
    Vector z = start_point(*p, 32);
    z.tail(d - nu) = gaussian_matrix(rng, d - nu, 1, 0.4);
    const Vector v = z.tail(d - nu);
    REQUIRE((v.array().abs() > p->clip()).count() > 5);
    REQUIRE((v.array().abs() < p->clip()).count() > 5);
    Vector zc = z;
    zc.tail(d - nu) = v.cwiseMax(-p->clip()).cwiseMin(p->clip());
    CHECK(p->acting_critic(z) == zc.tail(d - nu));
    const Vector g = operator_at(*p, z, b);
    CHECK(g == operator_at(*p, zc, b));  // only clip(v) acts
    const TestLosses t{*p, b};
    // At zc the test's f evaluates the critic at w directly (no clipping): its gradient in w.
    const Fn f = [&](const Vector& x) { return t.wgan_f(x, 0.0); };
    require_close(g.head(nu), fd_gradient(f, zc, 0, nu, 1e-6), 1e-6, 1e-9, "generator part");
    require_close(g.tail(d - nu), -fd_gradient(f, zc, nu, d, 1e-6), 1e-6, 1e-9, "critic part");
    const auto l = p->losses_on(z, b);
    CHECK(l.loss_d == Approx(-t.wgan_f(zc, 0.0)).epsilon(1e-12));
  }
}

TEST_CASE("gan: wgan-gp operator is the exact [grad_u f, -grad_v f], penalty included (finite differences)",
          "[gan]") {
  for (const std::string act : {"relu", "leaky-relu", "tanh"})
    for (const Index depth : {1, 2}) {
      INFO(act << ", depth " << depth);
      ProblemOptions o = small_gan("wgan-gp", act);
      o.gan_depth = depth;
      const auto p = make_gan(o);
      Rng rng(41);
      const GanBatch b = p->draw_batch(rng, 5, 0, 1);
      Vector z = start_point(*p, 42);
      const Index nu = p->dim_u(), d = p->dim();
      const Vector g = operator_at(*p, z, b);
      const TestLosses t{*p, b};
      const double lambda = p->gp_lambda();
      const Fn f = [&](const Vector& x) { return t.wgan_f(x, lambda); };
      require_close(g.head(nu), fd_gradient(f, z, 0, nu, 1e-4), 1e-5, 1e-7, "generator part");
      require_close(g.tail(d - nu), -fd_gradient(f, z, nu, d, 1e-4), 1e-5, 1e-7, "critic part");
      // The penalty is really in there: without it the operator differs.
      const Fn f0 = [&](const Vector& x) { return t.wgan_f(x, 0.0); };
      CHECK((g.tail(d - nu) + fd_gradient(f0, z, nu, d, 1e-6)).norm() > 1e-3 * g.tail(d - nu).norm());
      const auto l = p->losses_on(z, b);
      CHECK(l.loss_d == Approx(-t.wgan_f(z, lambda)).epsilon(1e-6));
      CHECK(l.penalty > 0.0);
    }
}

TEST_CASE("gan: sample() does not depend on the OpenMP thread count", "[gan]") {
  ProblemOptions o;
  o.name = "gan-mog25";
  o.gan_width = 64;
  o.gan_loss = "wgan-gp";
  o.gan_activation = "tanh";
  const auto p = make_gan(o);
  const int saved = omp_get_max_threads();
  for (const Index M : {1, 5}) {
    INFO("M = " << M);
    Matrix Z(p->dim(), M);
    for (Index i = 0; i < M; ++i) Z.col(i) = start_point(*p, 50 + i);
    std::vector<Matrix> results;
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      WorkerRngs rngs(8, M);
      Matrix G;
      p->sample(Z, 600, rngs, G);  // large enough for Eigen's own product threading to kick in outside a team
      results.push_back(G);
    }
    omp_set_num_threads(saved);
    CHECK(results[0] == results[1]);
    CHECK(results[0] == results[2]);
  }
}

TEST_CASE("gan: sharding gives worker i only its own modes, a single column all of them", "[gan]") {
  ProblemOptions o = small_gan("ns", "relu");
  o.gan_shard = true;
  const auto p = make_gan(o);
  const Index K = 8;
  for (const Index M : {1, 3, 8, 12}) {
    const Index S = std::min(M, K);
    for (Index i = 0; i < M; ++i) {
      Rng rng(60 + i);
      const GanBatch b = p->draw_batch(rng, 400, i, M);
      std::set<Index> modes;
      for (Index j = 0; j < b.real.cols(); ++j) modes.insert(p->mixture().nearest_mode(b.real.col(j)));
      for (Index k : modes) CHECK(k % S == i % S);
      CHECK(static_cast<Index>(modes.size()) == (K + S - 1 - i % S) / S);  // every mode of the shard appears
    }
  }
  // Without --gan-shard every column samples the whole mixture.
  const auto iid = make_gan(small_gan("ns", "relu"));
  Rng rng(70);
  const GanBatch b = iid->draw_batch(rng, 400, 5, 8);
  std::set<Index> modes;
  for (Index j = 0; j < b.real.cols(); ++j) modes.insert(iid->mixture().nearest_mode(b.real.col(j)));
  CHECK(modes.size() == 8);
}

TEST_CASE("gan: registry, dimensions, constants, options and initial point", "[gan]") {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_width = 16;
  o.gan_depth = 2;
  o.gan_latent = 4;
  const auto p = make_gan(o);
  CHECK(p->name() == "gan-mog8");
  CHECK(p->dim_u() == (4 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2));
  CHECK(p->dim() == p->dim_u() + (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1));
  CHECK_FALSE(p->has_exact());
  Matrix G;
  CHECK_THROWS(p->exact(Matrix::Zero(p->dim(), 1), G));
  const auto k = p->constants();
  CHECK(std::isinf(k.L));
  CHECK(std::isinf(k.G));
  CHECK(std::isinf(k.D));
  CHECK(std::isnan(k.sigma));
  CHECK_FALSE(k.x_star.has_value());
  o.name = "gan-mog25";
  CHECK(make_gan(o)->mixture().modes() == 25);

  // The start is deterministic in the stream, not zero, and for wgan-clip inside the box.
  Rng r1(3), r2(3);
  CHECK(p->initial_point(r1) == p->initial_point(r2));
  ProblemOptions oc = o;
  oc.gan_loss = "wgan-clip";
  const auto pc = make_gan(oc);
  Rng r3(3);
  const Vector zc = pc->initial_point(r3);
  CHECK(zc.tail(pc->dim() - pc->dim_u()).cwiseAbs().maxCoeff() <= pc->clip());
  CHECK(zc.head(pc->dim_u()).cwiseAbs().maxCoeff() > 0.1);

  auto throws_with = [](ProblemOptions bad, const std::string& option) {
    INFO(option);
    CHECK_THROWS_AS(dposg::make_problem(bad), InputError);
    CHECK_THROWS_WITH(dposg::make_problem(bad), Catch::Contains(option));
  };
  ProblemOptions bad = o;
  bad.gan_loss = "least-squares";
  throws_with(bad, "--gan-loss");
  bad = o;
  bad.gan_activation = "elu";
  throws_with(bad, "--gan-activation");
  bad = o;
  bad.gan_width = 0;
  throws_with(bad, "--gan-width");
  bad = o;
  bad.gan_depth = 0;
  throws_with(bad, "--gan-depth");
  bad = o;
  bad.gan_latent = 0;
  throws_with(bad, "--gan-latent");
  bad = o;
  bad.gan_gp_lambda = -1;
  throws_with(bad, "--gan-gp-lambda");
  bad = o;
  bad.gan_clip = 0;
  throws_with(bad, "--gan-clip");
  WorkerRngs rngs(1, 1);
  CHECK_THROWS_AS(p->sample(Matrix::Zero(p->dim(), 1), 0, rngs, G), InputError);
}

TEST_CASE("gan: extra_metrics and write_instance", "[gan]") {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_width = 16;
  const auto p = make_gan(o);
  Rng rng(1);
  const Vector z = p->initial_point(rng);
  dposg::MetricsRow row, row2;
  Rng e1(5), e2(5);
  p->extra_metrics(z, e1, row);
  p->extra_metrics(z, e2, row2);
  std::vector<std::string> names;
  for (const auto& [n, v] : row.values) names.push_back(n);
  CHECK(names == std::vector<std::string>{"loss_g", "loss_d", "modes_covered", "high_quality_fraction", "mmd"});
  CHECK(row.values == row2.values);  // deterministic in the evaluation stream
  CHECK(row.get("modes_covered") >= 0);
  CHECK(row.get("modes_covered") <= 8);
  CHECK(row.get("high_quality_fraction") >= 0);
  CHECK(row.get("high_quality_fraction") <= 1);
  CHECK(row.get("mmd") > 0.01);  // an untrained generator is far from the data
  // The documented draw order: the 512-batch, then 2,500 latent codes, then 1,000 data samples.
  Rng e3(5);
  const GanBatch b512 = p->draw_batch(e3, 512, 0, 1);
  const auto l = p->losses_on(z, b512);
  CHECK(row.get("loss_g") == l.loss_g);
  CHECK(row.get("loss_d") == l.loss_d);
  const Matrix fake = p->sample_generator(z, e3, 2500);
  const auto cov = dposg::data::mode_coverage(p->mixture(), fake);
  CHECK(row.get("modes_covered") == static_cast<double>(cov.modes_covered));
  CHECK(row.get("high_quality_fraction") == cov.high_quality_fraction);
  const Matrix real = p->mixture().sample(e3, 1000);
  CHECK(row.get("mmd") == dposg::data::mmd2_unbiased(fake.leftCols(1000), real, p->mmd_bandwidth()));

  struct Writer : dposg::InstanceWriter {
    std::map<std::string, Matrix> m;
    std::map<std::string, double> s;
    std::map<std::string, std::string> t;
    void matrix(const std::string& n, const Matrix& x) override { m[n] = x; }
    void vector(const std::string& n, const Vector& x) override { m[n] = x; }
    void scalar(const std::string& n, double x) override { s[n] = x; }
    void text(const std::string& n, const std::string& x) override { t[n] = x; }
  } w;
  p->write_instance(w);
  CHECK(w.m.at("means") == p->mixture().means());
  CHECK(w.s.at("stddev") == 0.01);
  CHECK(w.s.at("width") == 16);
  CHECK(w.s.at("depth") == 2);
  CHECK(w.s.at("dim_u") == static_cast<double>(p->dim_u()));
  CHECK(w.s.at("mmd_bandwidth") == Approx(std::sin(std::numbers::pi / 8.0)));
  CHECK(w.t.at("loss") == "ns");
  CHECK(w.t.at("activation") == "relu");
  CHECK(w.t.at("formula").find("column-major") != std::string::npos);
}
