#pragma once
// A test-only problem: g(z) = J (z - x*) with Gaussian noise, written independently of problems/
// so that engine tests do not rely on the code they would be checking.
#include "core/problem.hpp"

namespace dposg::test {

class LinearProblem final : public Problem {
 public:
  LinearProblem(Matrix J, Vector x_star, double sigma, Index dim_u)
      : J_(std::move(J)), x_star_(std::move(x_star)), sigma_(sigma), dim_u_(dim_u) {}
  std::string name() const override { return "linear-test"; }
  Index dim() const override { return J_.rows(); }
  Index dim_u() const override { return dim_u_; }
  void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const override {
    exact(Z, G);
    Vector e(Z.rows());
    for (Index i = 0; i < Z.cols(); ++i) {
      fill_normal(rngs[i], sigma_ / std::sqrt(static_cast<double>(Z.rows() * batch)), e);
      G.col(i) += e;
    }
  }
  void exact(const Matrix& Z, Matrix& G) const override { G = J_ * (Z.colwise() - x_star_); }
  ProblemConstants constants() const override {
    ProblemConstants c;
    c.L = Eigen::JacobiSVD<Matrix>(J_).singularValues()(0);
    c.sigma = sigma_;
    c.x_star = x_star_;
    c.D = 4 * std::max(1.0, x_star_.norm());
    c.G = c.L * (c.D / 2 + x_star_.norm());
    return c;
  }
  void write_instance(InstanceWriter& out) const override {
    out.matrix("J", J_);
    out.vector("x_star", x_star_);
  }

 private:
  Matrix J_;
  Vector x_star_;
  double sigma_;
  Index dim_u_;
};

// A bilinear game u^T A v shifted to x*: J = [[0, A], [-A^T, 0]], singular values of A in [0.5, 1].
inline LinearProblem bilinear_test_problem(Index n, double sigma, std::uint64_t seed) {
  Rng rng = make_rng(seed, StreamPurpose::instance);
  Matrix A(n, n);
  std::normal_distribution<double> nd;
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) A(i, j) = nd(rng);
  // Orthogonal factor times singular values spread over [0.5, 1]: well conditioned on purpose.
  const Matrix Q = Eigen::HouseholderQR<Matrix>(A).householderQ();
  Vector s = Vector::LinSpaced(n, 0.5, 1.0);
  A = Q * s.asDiagonal();
  Matrix J = Matrix::Zero(2 * n, 2 * n);
  J.topRightCorner(n, n) = A;
  J.bottomLeftCorner(n, n) = -A.transpose();
  Vector xs(2 * n);
  for (Index i = 0; i < 2 * n; ++i) xs[i] = nd(rng);
  return LinearProblem(J, xs, sigma, n);
}

}  // namespace dposg::test
