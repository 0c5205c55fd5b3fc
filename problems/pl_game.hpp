#pragma once
// pl-game: the two-sided Polyak–Łojasiewicz quadratic game used by the DGDA-VR line of work (Yang et
// al. 2020's construction, shifted to x*):
//     f(u, v) = ½ (u-u*)^T P (u-u*) + (u-u*)^T R (v-v*) - ½ (v-v*)^T Q (v-v*),   u, v in R^n, d = 2n,
//     g(z) = [P (u-u*) + R (v-v*),  Q (v-v*) - R^T (u-u*)] = J (z - x*),  J = [[P, R], [-R^T, Q]].
// Instance: x* as every problem (draw_shift); P = U diag(p) U^T and Q = V diag(p) V^T with U, V Haar
// orthogonal (instance streams 3, 4), p log-spaced from 1/--cond to 1; R = coupling_matrix (streams 1,
// 2) with singular values log-spaced from --coupling/--cond to --coupling.
// Noise: additive isotropic Gaussian, sigma = --noise.
//
// Constants and which parts of Assumption 1 hold:
//   two-sided PL: f(., v) is lambda_min(P) = 1/cond strongly convex, so ½||grad_u f||^2 >=
//       mu_u (f(u, v) - min_u f(., v)) with mu_u = 1/cond; likewise mu_v = 1/cond for -f(u, .).
//       The unique saddle point is x* (J is nonsingular: its symmetric part diag(P, Q) is PD).
//   (i)   L = ||J||_2, computed from the stored J (exact up to rounding): g is linear.
//   (ii)  sigma = --noise (exact, by construction of the noise).
//   (iii) G = L (D/2 + ||x*||) on ||z|| <= D/2, D = 4 max(1, ||x*||): ||g(z)|| <= L ||z - x*||.
//   (iv)  holds: <g(z), z - x*> = (u-u*)^T P (u-u*) + (v-v*)^T Q (v-v*) >= 0 (the coupling cancels).
// Options read: --dim, --noise, --cond, --coupling, --solution-norm, --seed.
#include "core/problem.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

class PlGameProblem final : public AdditiveNoiseProblem {
 public:
  explicit PlGameProblem(const SyntheticOptions& opts);

  std::string name() const override { return "pl-game"; }
  Index dim() const override { return 2 * n_; }
  Index dim_u() const override { return n_; }
  ProblemConstants constants() const override { return constants_; }
  void write_instance(InstanceWriter& out) const override;

  const Matrix& J() const { return J_; }
  // The PL constants of f(., v) and -f(u, .) (both 1/cond).
  double mu_u() const { return mu_; }
  double mu_v() const { return mu_; }
  // f itself, for the PL checks.
  double value(const Vector& z) const;

 private:
  void exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const override;
  Index column_work() const override { return 4 * n_ * n_; }

  Index n_;
  double mu_;
  Matrix P_, Q_, R_, J_;
  Vector x_star_;
  ProblemConstants constants_;
};

}  // namespace dposg::problems
