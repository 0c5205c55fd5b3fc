// ctest-label: unit
// --gan-arch dcgan (gan/conv_net.hpp): the networks against a direct-loop convolution written here
// from the documented layout (no im2col), and every gradient — backward, input gradient, the
// WGAN-GP double backward, the operator of every loss — against central differences of losses the
// test evaluates from that direct forward pass alone (the penalty's input gradient by differences
// too). Tiny networks: canvases 8 and 16, images 6 x 6 x 2 and 14 x 14 x 1 (so the -1 padding and
// the crop are exercised), base width 2.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "app/problem_catalog.hpp"
#include "core/error.hpp"
#include "gan/classifier.hpp"
#include "gan/conv_net.hpp"
#include "gan/gan_data.hpp"
#include "gan/gan_problem.hpp"
#include "finite_differences.hpp"
#include "gan_test_support.hpp"

using dposg::Index;
using dposg::InputError;
using dposg::Matrix;
using dposg::Rng;
using dposg::Vector;
using dposg::gan::Activation;
using dposg::gan::ConvGanShape;
using dposg::gan::ConvLayer;
using dposg::gan::ConvNet;
using dposg::gan::GanBatch;
using dposg::gan::GanProblem;

namespace {

using dposg::test::Fn;
using dposg::test::fd_gradient;
using dposg::test::gaussian_matrix;
using dposg::test::labelled_images;

void require_close(const Vector& a, const Vector& b, double rel, const std::string& what) {
  INFO(what << ": |a - b| = " << (a - b).norm() << ", |b| = " << b.norm());
  REQUIRE(a.allFinite());
  REQUIRE(b.norm() > 0.0);
  REQUIRE((a - b).norm() <= rel * b.norm());
}

double act(Activation a, double x) { return x > 0 ? x : (a == Activation::relu ? 0.0 : 0.2 * x); }

// The direct convolutions, one sample, images as (channel, y, x) row-major vectors, weights read in
// PyTorch's order from the documented offsets.
Vector direct_conv(const ConvLayer& g, const double* p, const Vector& in) {
  const Index S = g.in_side, O = g.out_side, k = g.k;
  Vector out(g.c_out * O * O);
  for (Index co = 0; co < g.c_out; ++co)
    for (Index oy = 0; oy < O; ++oy)
      for (Index ox = 0; ox < O; ++ox) {
        double s = p[g.bias_offset + co];
        for (Index ci = 0; ci < g.c_in; ++ci)
          for (Index ky = 0; ky < k; ++ky)
            for (Index kx = 0; kx < k; ++kx) {
              const Index iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
              if (iy < 0 || iy >= S || ix < 0 || ix >= S) continue;
              s += p[g.weight_offset + ((co * g.c_in + ci) * k + ky) * k + kx] * in[(ci * S + iy) * S + ix];
            }
        out[(co * O + oy) * O + ox] = s;
      }
  return out;
}

Vector direct_conv_t(const ConvLayer& g, const double* p, const Vector& in) {
  const Index S = g.in_side, O = g.out_side, k = g.k;
  Vector out(g.c_out * O * O);
  for (Index co = 0; co < g.c_out; ++co)
    for (Index q = 0; q < O * O; ++q) out[co * O * O + q] = p[g.bias_offset + co];
  for (Index ci = 0; ci < g.c_in; ++ci)
    for (Index iy = 0; iy < S; ++iy)
      for (Index ix = 0; ix < S; ++ix)
        for (Index co = 0; co < g.c_out; ++co)
          for (Index ky = 0; ky < k; ++ky)
            for (Index kx = 0; kx < k; ++kx) {
              const Index oy = iy * g.stride - g.pad + ky, ox = ix * g.stride - g.pad + kx;
              if (oy < 0 || oy >= O || ox < 0 || ox >= O) continue;
              out[(co * O + oy) * O + ox] +=
                  p[g.weight_offset + ((ci * g.c_out + co) * k + ky) * k + kx] * in[(ci * S + iy) * S + ix];
            }
  return out;
}

// The whole network, sample by sample, from the layer list (architecture) and the formulas above.
Matrix direct(const ConvNet& net, const double* p, const Matrix& X) {
  const ConvGanShape& s = net.shape();
  const Index o = (s.side - s.image_side) / 2, H = s.image_side, S = s.side, C = s.channels;
  const auto& layers = net.layers();
  Matrix out(net.outputs(), X.cols());
  for (Index b = 0; b < X.cols(); ++b) {
    Vector h;
    if (net.role() == ConvNet::Role::generator) {
      h = X.col(b);
    } else {
      h = Vector::Constant(C * S * S, -1.0);
      for (Index c = 0; c < C; ++c)
        for (Index y = 0; y < H; ++y)
          for (Index x = 0; x < H; ++x) h[(c * S + y + o) * S + x + o] = X((c * H + y) * H + x, b);
    }
    for (std::size_t l = 0; l < layers.size(); ++l) {
      h = layers[l].transposed ? direct_conv_t(layers[l], p, h) : direct_conv(layers[l], p, h);
      if (l + 1 < layers.size())
        h = h.unaryExpr([&](double v) { return act(s.activation, v); });
      else if (net.role() == ConvNet::Role::generator)
        h = h.array().tanh().matrix();
    }
    if (net.role() == ConvNet::Role::critic) {
      out(0, b) = h[0];
    } else {
      for (Index c = 0; c < C; ++c)
        for (Index y = 0; y < H; ++y)
          for (Index x = 0; x < H; ++x) out((c * H + y) * H + x, b) = h[(c * S + y + o) * S + x + o];
    }
  }
  return out;
}

// The critic's input gradient by central differences of the direct forward pass (exact up to
// rounding: the critic is piecewise linear in its input).
Matrix fd_input_gradient(const ConvNet& critic, const double* p, const Matrix& X, double h) {
  Matrix S(X.rows(), X.cols());
  for (Index b = 0; b < X.cols(); ++b) {
    Matrix x = X.col(b);
    for (Index r = 0; r < X.rows(); ++r) {
      x(r, 0) = X(r, b) + h;
      const double fp = direct(critic, p, x)(0, 0);
      x(r, 0) = X(r, b) - h;
      const double fm = direct(critic, p, x)(0, 0);
      x(r, 0) = X(r, b);
      S(r, b) = (fp - fm) / (2 * h);
    }
  }
  return S;
}

ConvGanShape tiny(Index side, Index image, Index channels, Activation a) {
  ConvGanShape s;
  s.side = side;
  s.image_side = image;
  s.channels = channels;
  s.width = 2;
  s.latent = 3;
  s.activation = a;
  return s;
}

Vector init(const ConvNet& net, std::uint64_t seed) {
  Rng rng(seed);
  Vector p(net.num_params());
  net.init_params(rng, p.data());
  std::normal_distribution<double> n(0.0, 0.05);
  for (Index k = 0; k < p.size(); ++k) p[k] += n(rng);  // biases matter too
  return p;
}

double inner(const Matrix& a, const Matrix& b) { return (a.array() * b.array()).sum(); }

std::unique_ptr<GanProblem> dcgan(const std::string& loss, Index H, Index channels, const std::string& act) {
  dposg::gan::GanOptions o;
  o.gan_arch = "dcgan";
  o.gan_loss = loss;
  o.gan_width = 2;
  o.gan_latent = 3;
  o.gan_activation = act;
  o.gan_clip = 0.3;
  return std::make_unique<GanProblem>(o, "tiny-dcgan", labelled_images(H, channels));
}

}  // namespace

TEST_CASE("dcgan: layers, parameter counts and the paper's size", "[gan][dcgan]") {
  // 32 x 32 x 3, width 64, latent 128: generator 128 -> 256@4 -> 128@8 -> 64@16 -> 3@32, critic mirrored.
  ConvGanShape s;
  s.side = s.image_side = 32;
  s.channels = 3;
  const ConvNet g(s, ConvNet::Role::generator), c(s, ConvNet::Role::critic);
  const Index gen = (128 * 256 * 16 + 256) + (256 * 128 * 16 + 128) + (128 * 64 * 16 + 64) + (64 * 3 * 16 + 3);
  const Index crit = (3 * 64 * 16 + 64) + (64 * 128 * 16 + 128) + (128 * 256 * 16 + 256) + (256 * 16 + 1);
  CHECK(g.num_params() == gen);
  CHECK(c.num_params() == crit);
  CHECK(4.0 * static_cast<double>(gen + crit) / 1e6 == Approx(7.41).epsilon(0.01));  // paper: 8.36 MB
  CHECK(dposg::gan::canvas_side(28) == 32);
  CHECK(dposg::gan::canvas_side(14) == 16);
  CHECK(dposg::gan::canvas_side(7) == 8);
  CHECK(dposg::gan::canvas_side(32) == 32);
}

TEST_CASE("dcgan: forward passes equal a direct-loop convolution", "[gan][dcgan]") {
  for (const auto& s : {tiny(8, 6, 2, Activation::leaky_relu), tiny(16, 14, 1, Activation::relu)}) {
    INFO("canvas " << s.side);
    Rng rng(3);
    for (const auto role : {ConvNet::Role::generator, ConvNet::Role::critic}) {
      const ConvNet net(s, role);
      const Vector p = init(net, 5);
      const Matrix X = gaussian_matrix(rng, net.inputs(), 3, 0.7);
      ConvNet::Forward f;
      net.forward(p.data(), X, f);
      const Matrix ref = direct(net, p.data(), X);
      REQUIRE(f.out.rows() == ref.rows());
      CHECK((f.out - ref).norm() <= 1e-12 * ref.norm());
    }
  }
}

TEST_CASE("dcgan: backward, input gradient and double backward match finite differences", "[gan][dcgan]") {
  for (const auto& s : {tiny(8, 6, 2, Activation::leaky_relu), tiny(16, 14, 1, Activation::relu)}) {
    INFO("canvas " << s.side << ", " << dposg::gan::to_string(s.activation));
    Rng rng(7);
    for (const auto role : {ConvNet::Role::generator, ConvNet::Role::critic}) {
      const ConvNet net(s, role);
      const Vector p = init(net, 9);
      const Matrix X = gaussian_matrix(rng, net.inputs(), 3, 0.7);
      const Matrix R = gaussian_matrix(rng, net.outputs(), 3);
      ConvNet::Forward f;
      net.forward(p.data(), X, f);
      Vector grad = Vector::Zero(p.size());
      Matrix dX;
      net.backward(p.data(), f, R, grad.data(), &dX);
      const Fn by_params = [&](const Vector& q) { return inner(R, direct(net, q.data(), X)); };
      require_close(grad, fd_gradient(by_params, p, 0, p.size(), 1e-6), 1e-6, "d loss / d params");
      const Vector x0 = Eigen::Map<const Vector>(X.data(), X.size());
      const Fn by_input = [&](const Vector& x) {
        return inner(R, direct(net, p.data(), Eigen::Map<const Matrix>(x.data(), X.rows(), X.cols())));
      };
      require_close(Eigen::Map<const Vector>(dX.data(), dX.size()), fd_gradient(by_input, x0, 0, x0.size(), 1e-6),
                    1e-6, "d loss / d X");
      if (role == ConvNet::Role::generator) continue;
      ConvNet::InputGradient ig;
      Matrix S;
      net.input_gradient(p.data(), f, ig, S);
      const Matrix S_fd = fd_input_gradient(net, p.data(), X, 1e-5);
      CHECK((S - S_fd).norm() <= 1e-7 * S_fd.norm());
      // Double backward: loss = <T, S(params)>, S by differences inside differences.
      const Matrix T = gaussian_matrix(rng, S.rows(), S.cols());
      Vector grad2 = Vector::Zero(p.size());
      Matrix dX2;
      net.input_gradient_backward(p.data(), f, ig, T, grad2.data(), &dX2);
      const Fn penalty_like = [&](const Vector& q) { return inner(T, fd_input_gradient(net, q.data(), X, 1e-5)); };
      require_close(grad2, fd_gradient(penalty_like, p, 0, p.size(), 1e-5), 1e-4, "double backward");
      CHECK(dX2.norm() == 0.0);  // piecewise linear: S does not move with X
    }
  }
}

TEST_CASE("dcgan: the operator of every loss matches finite differences of its losses", "[gan][dcgan]") {
  for (const std::string loss : {"ns", "hinge", "wgan-gp", "wgan-clip"})
    for (const Index channels : {1, 2}) {
      INFO(loss << ", " << channels << " channels");
      const auto p = dcgan(loss, 6, channels, channels == 1 ? "relu" : "leaky-relu");
      Rng rng(11);
      const GanBatch b = p->draw_batch(rng, 3, 0, 1);
      Rng rz(12);
      Vector z = p->initial_point(rz);
      std::normal_distribution<double> n(0.0, 0.05);
      for (Index k = 0; k < z.size(); ++k) z[k] += n(rz);
      const Index nu = p->dim_u(), d = p->dim();
      Vector g(d);
      p->operator_on(z, b, g);
      const ConvNet& G = p->conv_generator();
      const ConvNet& D = p->conv_critic();
      const double clip = p->clip();
      // wgan-clip: g = [grad_u f, -grad_w f] at w = clip(v), so the differences are taken at (u, clip(v)).
      Vector z_fd = z;
      if (loss == "wgan-clip") z_fd.tail(d - nu) = z.tail(d - nu).cwiseMax(-clip).cwiseMin(clip);
      REQUIRE((loss != "wgan-clip" || (z_fd - z).norm() > 0.0));
      auto critic_params = [&](const Vector& x) { return Vector(x.tail(d - nu)); };
      auto fake = [&](const Vector& x) { return direct(G, x.data(), b.latent); };
      auto critic = [&](const Vector& x, const Matrix& X) {
        const Vector v = critic_params(x);
        return direct(D, v.data(), X);
      };
      auto softplus = [](double t) { return std::max(t, 0.0) + std::log1p(std::exp(-std::abs(t))); };
      Fn lg, ld;  // g = [grad_u lg, grad_v ld]
      if (loss == "ns") {
        lg = [&](const Vector& x) { return critic(x, fake(x)).unaryExpr([&](double t) { return softplus(-t); }).mean(); };
        ld = [&](const Vector& x) {
          return critic(x, b.real).unaryExpr([&](double t) { return softplus(-t); }).mean() +
                 critic(x, fake(x)).unaryExpr([&](double t) { return softplus(t); }).mean();
        };
      } else if (loss == "hinge") {
        lg = [&](const Vector& x) { return -critic(x, fake(x)).mean(); };
        ld = [&](const Vector& x) {
          return (1.0 - critic(x, b.real).array()).max(0.0).mean() + (1.0 + critic(x, fake(x)).array()).max(0.0).mean();
        };
      } else {
        const double lambda = loss == "wgan-gp" ? p->gp_lambda() : 0.0;
        // -f = -(E D(x) - E D(G(z)) - lambda E (||grad D(x^)|| - 1)^2): g = [-grad_u (-f), grad_v (-f)].
        ld = [&, lambda](const Vector& x) {
          const Matrix fk = fake(x);
          double f = critic(x, b.real).mean() - critic(x, fk).mean();
          if (lambda > 0) {
            Matrix xh = fk;
            for (Index j = 0; j < xh.cols(); ++j) xh.col(j) = b.eps[j] * b.real.col(j) + (1 - b.eps[j]) * fk.col(j);
            const Vector v = critic_params(x);
            const Matrix S = fd_input_gradient(D, v.data(), xh, 1e-5);
            f -= lambda * (S.colwise().norm().array() - 1.0).square().mean();
          }
          return -f;
        };
        lg = [&](const Vector& x) { return -ld(x); };
      }
      require_close(g.head(nu), fd_gradient(lg, z_fd, 0, nu, 1e-5), 1e-4, "generator part");
      require_close(g.tail(d - nu), fd_gradient(ld, z_fd, nu, d, 1e-5), 1e-4, "critic part");
      const auto l = p->losses_on(z, b);
      CHECK(l.loss_d == Approx(ld(z_fd)).epsilon(1e-6));
      if (loss == "wgan-gp") CHECK(l.penalty > 0.0);
    }
}

TEST_CASE("dcgan: option errors name the option", "[gan][dcgan]") {
  auto refused = [](const std::string& what, const std::function<void()>& f) {
    try {
      f();
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).rfind(what, 0) == 0);
      return;
    }
    FAIL("no InputError for " << what);
  };
  dposg::gan::GanOptions o;
  o.gan_arch = "resnet";
  refused("--gan-arch", [&] { GanProblem(o, "tiny", labelled_images(6, 1)); });
  o.gan_arch = "dcgan";
  o.gan_activation = "tanh";
  refused("--gan-activation", [&] { GanProblem(o, "tiny", labelled_images(6, 1)); });
  o.gan_activation = "leaky-relu";
  refused("--gan-arch", [&] { GanProblem(o, "gan-mog8", dposg::data::GaussianMixture2D::ring8()); });
  o.device = "gpu";
  refused("--device", [&] { GanProblem(o, "tiny", labelled_images(6, 1)); });
  o.device = "cpu-float";  // the batched float operator (tests/test_gan_dcgan_float.cpp)
  CHECK(GanProblem(o, "tiny", labelled_images(6, 1)).device() == "cpu-float");
}
