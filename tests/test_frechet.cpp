// ctest-label: unit
// The Fréchet distance against closed forms and a second algorithm, and the feature classifier
// (trained on Fashion-MNIST where it is installed) against the labels it never saw.
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>
#include <chrono>
#include <filesystem>
#include <random>

#include "cli_harness.hpp"
#include "core/error.hpp"
#include "gan/classifier.hpp"
#include "gan/frechet.hpp"

using namespace dposg;
using namespace dposg::gan;

namespace {

Matrix random_spd(Index n, std::mt19937_64& rng) {
  std::normal_distribution<double> N(0, 1);
  Matrix A(n, n);
  for (Index i = 0; i < A.size(); ++i) A.data()[i] = N(rng);
  return A * A.transpose() / static_cast<double>(n) + 0.1 * Matrix::Identity(n, n);
}

// tr((Sa Sb)^{1/2}) from the eigenvalues of the non-symmetric product Sa Sb (real, >= 0 for SPD
// factors): a different route from the symmetric one the code takes.
double frechet_by_product_eigenvalues(const Gaussian& a, const Gaussian& b) {
  Eigen::EigenSolver<Matrix> es(a.cov * b.cov, false);
  double cross = 0;
  for (Index i = 0; i < es.eigenvalues().size(); ++i) cross += std::sqrt(std::max(0.0, es.eigenvalues()[i].real()));
  return (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2 * cross;
}

}  // namespace

TEST_CASE("frechet: closed forms for one dimension and for commuting (diagonal) covariances", "[frechet]") {
  Gaussian a{Vector::Constant(1, 1.0), Matrix::Constant(1, 1, 4.0)}, b{Vector::Constant(1, -2.0), Matrix::Constant(1, 1, 9.0)};
  // (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2 = 9 + 1
  CHECK(frechet_distance(a, b) == Approx(10.0).epsilon(1e-12));
  Gaussian c{Vector::Zero(3), Matrix(Vector(Eigen::Vector3d(1, 4, 9)).asDiagonal())};
  Gaussian d{Vector::Ones(3), Matrix(Vector(Eigen::Vector3d(4, 4, 1)).asDiagonal())};
  // 3 + (1-2)^2 + (2-2)^2 + (3-1)^2
  CHECK(frechet_distance(c, d) == Approx(3.0 + 1.0 + 0.0 + 4.0).epsilon(1e-12));
}

TEST_CASE("frechet: equals the product-eigenvalue route on random covariances; symmetric; zero on itself", "[frechet]") {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> N(0, 1);
  for (Index n : {2, 5, 20}) {
    Gaussian a{Vector::NullaryExpr(n, [&] { return N(rng); }), random_spd(n, rng)};
    Gaussian b{Vector::NullaryExpr(n, [&] { return N(rng); }), random_spd(n, rng)};
    INFO("n = " << n);
    CHECK(frechet_distance(a, b) == Approx(frechet_by_product_eigenvalues(a, b)).epsilon(1e-9));
    CHECK(frechet_distance(a, b) == Approx(frechet_distance(b, a)).epsilon(1e-9));
    CHECK(std::abs(frechet_distance(a, a)) < 1e-9 * a.cov.trace());
  }
  // From samples: the unbiased covariance (n - 1).
  Matrix X(2, 3);
  X << 0, 1, 2, 0, 0, 3;
  const Gaussian g = fit_gaussian(X);
  CHECK(g.mean(0) == Approx(1.0));
  CHECK(g.cov(0, 0) == Approx(1.0));  // ((-1)^2 + 0 + 1^2) / 2
  CHECK(g.cov(0, 1) == Approx(1.5));  // ((-1)(-1) + 0 + (1)(2)) / 2
  // Rank-deficient covariances (fewer samples than features) stay finite and non-negative.
  Matrix A = Matrix::Random(10, 4), B = Matrix::Random(10, 4);
  const double fd = frechet_distance(A, B);
  CHECK(std::isfinite(fd));
  CHECK(fd >= -1e-9);
}

TEST_CASE("classifier: trained on Fashion-MNIST 14x14, > 80% test accuracy; saved and loaded unchanged", "[classifier]") {
  if (!std::filesystem::is_directory(data::kFashionMnistDir)) {
    WARN("SKIPPED: " << data::kFashionMnistDir << " not installed");
    return;
  }
  const auto train = data::load_fashion_mnist("train", 2);
  const auto test = data::load_fashion_mnist("test", 2);
  ClassifierOptions o;
  o.width = 64;
  o.epochs = 3;
  const Classifier c = train_classifier(train, test, o);
  // A linear model already reaches ~84% on Fashion-MNIST (Zalando's benchmark table); chance is 10%.
  CHECK(c.test_accuracy > 0.80);
  CHECK(c.features(test.images.leftCols(7)).rows() == 64);
  dposg::test::TempDir dir;
  c.save(dir / "c.h5");
  const Classifier back = Classifier::load(dir / "c.h5");
  CHECK(back.params() == c.params());
  CHECK(back.downscale() == 2);
  CHECK(back.test_accuracy == c.test_accuracy);
  // Real test images are closer to each other (two halves) than to noise, in its features.
  const Matrix f1 = c.features(test.images.leftCols(2000));
  const Matrix f2 = c.features(test.images.middleCols(2000, 2000));
  const Matrix noise = c.features(Matrix::Random(test.images.rows(), 2000));
  CHECK(frechet_distance(f1, f2) < 0.1 * frechet_distance(f1, noise));
  CHECK_THROWS_AS(Classifier::load(dir / "missing.h5"), InputError);
}
