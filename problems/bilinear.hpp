#pragma once
// bilinear: f(u, v) = u^T A v + b^T u + c^T v, u, v in R^n, d = 2n (DESIGN.md §6).
//
// Conventions (problems/README.md): d = --dim (even), u = first n = d/2 coordinates, v = the rest;
// g(z) = [grad_u f, -grad_v f] = [A v + b, -(A^T u + c)].
// Instance (all from make_rng(--seed, instance, k)):
//   x* = (u*, v*): Gaussian (k = 0) rescaled to norm --solution-norm;
//   A = U diag(s) V^T, U (k = 1), V (k = 2) Haar orthogonal, s log-spaced from
//       --coupling/--cond (smallest) to --coupling (largest);
//   b = -A v*, c = -A^T u*, so g(z) = [A (v - v*), -A^T (u - u*)] = J (z - x*) with the skew
//   J = [[0, A], [-A^T, 0]]: g(x*) = 0, and <g(z), z - x*> = 0 for every z (monotone, (iv) holds).
// Noise: additive isotropic Gaussian, sigma = --noise (README).
// Options read: --dim, --noise, --cond, --coupling, --solution-norm, --seed.
//
// Constants (why they are bounds):
//   L = ||J||_2 = ||A||_2 = coupling: J is linear and J^T J = diag(A A^T, A^T A), whose largest
//       eigenvalue is s_max^2 = coupling^2 (exact for the mathematical A; the stored A carries
//       rounding of relative size ~n eps).
//   sigma = --noise.
//   D = 4 max(1, ||x*||): the ball ||z|| <= D/2 contains 0 and x*.
//   G = L D/2 + ||[b; c]||: g(z) = J z + [b; c], and ||J z|| <= L ||z|| <= L D/2 on the ball.
//       (This is <= L (D/2 + ||x*||) since ||[b; c]|| = ||J x*|| <= L ||x*||.)
#include "core/problem.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

class BilinearProblem final : public AdditiveNoiseProblem {
 public:
  explicit BilinearProblem(const SyntheticOptions& opts);

  std::string name() const override { return "bilinear"; }
  Index dim() const override { return 2 * n_; }
  Index dim_u() const override { return n_; }
  ProblemConstants constants() const override { return constants_; }
  void write_instance(InstanceWriter& out) const override;

  const Matrix& A() const { return A_; }

 private:
  void exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const override;
  Index column_work() const override { return 2 * n_ * n_; }

  Index n_;
  double cond_, coupling_;
  Vector s_;           // singular values of A, descending
  Matrix A_;           // n x n
  Vector b_, c_;       // n each
  Vector x_star_;      // d
  ProblemConstants constants_;
};

}  // namespace dposg::problems
