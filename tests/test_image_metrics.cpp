// ctest-label: unit
// is_classifier and kid_classifier (gan/image_metrics.hpp) against closed forms: the Inception
// Score of uniform, one-hot and two-level classifiers; the kernel distance of two 1-D Gaussian laws
// from their first three moments, and against the double sum of its definition; the conv
// classifier's probabilities, features and file round trip.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "cli_harness.hpp"
#include "core/rng.hpp"
#include "gan/classifier.hpp"
#include "gan/image_metrics.hpp"

using dposg::Index;
using dposg::Matrix;
using dposg::Rng;
using dposg::Vector;
using dposg::gan::inception_score;
using dposg::gan::kernel_distance;

TEST_CASE("image metrics: the Inception Score of uniform, one-hot and two-level classifiers", "[gan][metrics]") {
  CHECK(inception_score(Matrix::Constant(10, 50, 0.1)) == Approx(1.0).epsilon(1e-14));
  // One-hot, evenly spread over K classes: exp(log K) = K.
  for (const Index K : {2, 5, 10}) {
    Matrix p = Matrix::Zero(10, 20 * K);
    for (Index j = 0; j < p.cols(); ++j) p(j % K, j) = 1.0;
    CHECK(inception_score(p) == Approx(static_cast<double>(K)).epsilon(1e-14));
  }
  // Half the samples (a, 1 - a), half (1 - a, a): p_bar = (1/2, 1/2), KL = a log 2a + (1 - a) log 2(1 - a).
  const double a = 0.8;
  Matrix p(2, 6);
  for (Index j = 0; j < 6; ++j) {
    p(0, j) = j % 2 ? a : 1 - a;
    p(1, j) = 1 - p(0, j);
  }
  CHECK(inception_score(p) == Approx(std::exp(a * std::log(2 * a) + (1 - a) * std::log(2 * (1 - a)))).epsilon(1e-14));
}

TEST_CASE("image metrics: the kernel distance is the unbiased double sum, and matches two Gaussians' moments",
          "[gan][metrics]") {
  Rng rng(5);
  std::normal_distribution<double> n(0.0, 1.0);
  // The definition, term by term.
  Matrix A(3, 7), B(3, 5);
  for (Index k = 0; k < A.size(); ++k) A.data()[k] = n(rng);
  for (Index k = 0; k < B.size(); ++k) B.data()[k] = n(rng) + 0.3;
  auto k3 = [](const Vector& x, const Vector& y) { return std::pow(x.dot(y) / 3.0 + 1.0, 3); };
  double saa = 0, sbb = 0, sab = 0;
  for (Index i = 0; i < 7; ++i)
    for (Index j = 0; j < 7; ++j)
      if (i != j) saa += k3(A.col(i), A.col(j));
  for (Index i = 0; i < 5; ++i)
    for (Index j = 0; j < 5; ++j)
      if (i != j) sbb += k3(B.col(i), B.col(j));
  for (Index i = 0; i < 7; ++i)
    for (Index j = 0; j < 5; ++j) sab += k3(A.col(i), B.col(j));
  CHECK(kernel_distance(A, B) == Approx(saa / 42 + sbb / 20 - 2 * sab / 35).epsilon(1e-12));
  // 1-D: (xy + 1)^3 = x^3 y^3 + 3 x^2 y^2 + 3 x y + 1, so MMD^2 = (m3 - m3')^2 + 3 (m2 - m2')^2 + 3 (m1 - m1')^2
  // with m1 = mu, m2 = mu^2 + s^2, m3 = mu^3 + 3 mu s^2 for N(mu, s^2).
  const double mu_a = 0.2, s_a = 0.5, mu_b = -0.1, s_b = 0.7;
  auto moments = [](double mu, double s) { return Vector{{mu, mu * mu + s * s, mu * mu * mu + 3 * mu * s * s}}; };
  const Vector ma = moments(mu_a, s_a), mb = moments(mu_b, s_b);
  const double exact = std::pow(ma[2] - mb[2], 2) + 3 * std::pow(ma[1] - mb[1], 2) + 3 * std::pow(ma[0] - mb[0], 2);
  const Index N = 4000;
  double mean = 0, same = 0;
  const int reps = 5;
  for (int r = 0; r < reps; ++r) {
    Matrix X(1, N), Y(1, N), Z(1, N);
    for (Index j = 0; j < N; ++j) {
      X(0, j) = mu_a + s_a * n(rng);
      Y(0, j) = mu_b + s_b * n(rng);
      Z(0, j) = mu_a + s_a * n(rng);
    }
    mean += kernel_distance(X, Y) / reps;
    same += kernel_distance(X, Z) / reps;
  }
  INFO("exact " << exact << ", estimate " << mean << ", same law " << same);
  CHECK(mean == Approx(exact).epsilon(0.05));
  CHECK(std::abs(same) < 0.05 * exact);
}

TEST_CASE("image metrics: the conv classifier's probabilities, features and file", "[gan][metrics]") {
  dposg::gan::ConvGanShape s;
  s.side = 8;
  s.image_side = 6;
  s.channels = 1;
  s.width = 2;
  s.activation = dposg::gan::Activation::relu;
  s.outputs = 10;
  s.hidden = 5;
  const dposg::gan::ConvNet net(s, dposg::gan::ConvNet::Role::critic);
  Rng rng(2);
  Vector params(net.num_params());
  net.init_params(rng, params.data());
  dposg::gan::Classifier c(s, params);
  c.test_accuracy = 0.25;
  Matrix X(36, 4);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (Index k = 0; k < X.size(); ++k) X.data()[k] = u(rng);
  const Matrix p = c.probabilities(X);
  REQUIRE(p.rows() == 10);
  CHECK((p.colwise().sum().array() - 1.0).abs().maxCoeff() < 1e-14);
  CHECK(c.features(X).rows() == 5);
  dposg::test::TempDir dir;
  c.save(dir / "c.h5");
  const auto back = dposg::gan::Classifier::load(dir / "c.h5");
  CHECK(back.is_conv());
  CHECK(back.test_accuracy == 0.25);
  CHECK((back.probabilities(X) - p).norm() == 0.0);
  CHECK((back.features(X) - c.features(X)).norm() == 0.0);
}
