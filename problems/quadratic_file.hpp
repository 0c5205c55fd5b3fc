#pragma once
// quadratic-file: a quadratic game whose matrices come from an HDF5 file (--problem-file).
//
//   f(u, v) = 1/2 u^T P u + u^T A v - 1/2 v^T Q v + b^T u - c^T v,
//   g(z)    = [P u + A v + b, -A^T u + Q v + c] = J z + r,  J = [[P, A], [-A^T, Q]], r = [b; c].
//
// File format (what h5py writes; datasets at the file's root, float or integer, read as double):
//   A  (n_u, n_v)  required   row-major on disk: A[i][j] multiplies u_i v_j
//   P  (n_u, n_u)  optional, symmetric (|P - P^T| <= 1e-12 max|P|), zero when absent
//   Q  (n_v, n_v)  optional, symmetric, zero when absent
//   b  (n_u,)      optional, zero when absent
//   c  (n_v,)      optional, zero when absent
// Every value must be finite. Conventions: u = first n_u coordinates, v = the last n_v; the
// dimension is n_u + n_v from the file: --dim is ignored for this problem. P and Q are used as
// (P + P^T)/2, (Q + Q^T)/2 (the gradient of the formula; equal to P, Q within the tolerance).
// No shift: the solution is the data's own. Noise: additive isotropic Gaussian, sigma = --noise.
// Options read: --problem-file, --noise. Bad files -> InputError naming --problem-file.
//
// Constants (why they are bounds):
//   L = ||J||_2 (largest singular value, by SVD): g(z1) - g(z2) = J (z1 - z2).
//   x*: the solution of J z = -r when J is invertible; when J is singular, the minimum-norm
//       least-squares solution if it solves the system (relative residual <= 1e-9), else none
//       (then g has no zero at all and constants().x_star is empty).
//   assumption_iv = P and Q positive semidefinite (SelfAdjointEigenSolver, lambda_min >=
//       -1e-12 n ||.||_2) and x* exists: <g(z), z - x*> = (z - x*)^T J (z - x*) =
//       (z-x*)^T diag(P, Q) (z-x*) (the A blocks are skew and cancel), which is >= 0 for all z
//       iff P, Q are PSD; any x* of (iv) must be a zero of g.
//   D = 4 max(1, ||x*||) (4 when there is no x*).
//   G = L D/2 + ||r||: ||J z + r|| <= ||J|| ||z|| + ||r|| on ||z|| <= D/2
//       (<= L (D/2 + ||x*||) since r = -J x*).
//   sigma = --noise.
#include <string>

#include "core/problem.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

class QuadraticFileProblem final : public AdditiveNoiseProblem {
 public:
  explicit QuadraticFileProblem(const SyntheticOptions& opts);

  std::string name() const override { return "quadratic-file"; }
  Index dim() const override { return n_u_ + n_v_; }
  Index dim_u() const override { return n_u_; }
  ProblemConstants constants() const override { return constants_; }
  void write_instance(InstanceWriter& out) const override;

 private:
  void exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const override;
  Index column_work() const override { return dim() * dim(); }
  std::string file_;
  Index n_u_ = 0, n_v_ = 0;
  Matrix A_, P_, Q_;
  Vector b_, c_;
  Matrix J_;  // [[P, A], [-A^T, Q]]
  Vector r_;  // [b; c]
  bool psd_P_ = true, psd_Q_ = true;
  ProblemConstants constants_;
};

}  // namespace dposg::problems
