#pragma once
// star: a nonconvex-nonconcave game that still satisfies Assumption 1(iv) (DESIGN.md §6).
//
// Conventions (problems/README.md): d = --dim (even), u = first n = d/2 coordinates, v = the rest.
//   f0(u, v) = alpha sum_i log(1 + u_i^2) + u^T A v - alpha sum_j log(1 + v_j^2),
//   f(z)     = f0(z - x*)      (the solution is moved from 0 to x*),
//   g0(w)    = [h(w_u) + A w_v, -A^T w_u + h(w_v)],  h(s) = 2 alpha s / (1 + s^2) elementwise,
//   g(z)     = g0(z - x*).
// A and x* exactly as in bilinear (same streams, so the same seed gives the same A and x*):
// A = U diag(s) V^T, s log-spaced in [coupling/cond, coupling]; x* Gaussian of norm
// --solution-norm. Nonconvex in u (d^2/du^2 log(1+u^2) < 0 for |u| > 1), nonconcave in v.
// Noise: additive isotropic Gaussian, sigma = --noise.
// --coupling-matrix diagonal takes U = V = I, A = diag(s): the same game with the same constants
// (every bound below uses only ||A|| = coupling), in O(d) time and memory, for d ~ 10^6.
// Options read: --dim, --noise, --cond, --coupling, --alpha, --solution-norm, --seed.
//
// Assumption 1(iv) with this x*: with w = z - x*, the skew part cancels, so
//   <g(z), z - x*> = sum_k w_k h(w_k) = sum_k 2 alpha w_k^2 / (1 + w_k^2) >= 0   (all k in 1..d).
// Constants (why they are bounds):
//   L = 2 alpha + ||A||_2 = 2 alpha + coupling. The Jacobian is
//       J(w) = diag(h'(w)) + [[0, A], [-A^T, 0]],  h'(s) = 2 alpha (1 - s^2) / (1 + s^2)^2.
//       With t = s^2, d/dt [(1 - t)/(1 + t)^2] = (t - 3)/(1 + t)^3, so h' decreases on t < 3 and
//       increases after: h' ranges over [h'(sqrt 3), h'(0)] = [-alpha/4, 2 alpha], hence
//       ||diag(h')|| <= 2 alpha, and the skew block has norm ||A||. ||J(w)|| <= 2 alpha + ||A||
//       everywhere, and g(x1) - g(x2) = int_0^1 J(x2 + t (x1 - x2)) dt (x1 - x2) gives the bound.
//   D = 4 max(1, ||x*||).
//   G = alpha sqrt(d) + ||A|| D/2 + ||[A x*_v; A^T x*_u]||: |h(s)| <= alpha (2|s| <= 1 + s^2),
//       so ||h(w)|| <= alpha sqrt(d); the skew part is K (z - x*) with ||K z|| <= ||A|| D/2 on the
//       ball, and ||K x*|| = ||[A x*_v; A^T x*_u]|| (<= ||A|| ||x*||, the bound of the brief).
#include "core/problem.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

class StarProblem final : public AdditiveNoiseProblem {
 public:
  explicit StarProblem(const SyntheticOptions& opts);

  std::string name() const override { return "star"; }
  Index dim() const override { return 2 * n_; }
  Index dim_u() const override { return n_; }
  ProblemConstants constants() const override { return constants_; }
  void write_instance(InstanceWriter& out) const override;

  const Matrix& A() const { return A_; }

 private:
  void exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const override;
  Index column_work() const override { return diagonal_ ? 12 * n_ : 2 * n_ * n_ + 8 * n_; }

  Index n_;
  double cond_, coupling_, alpha_;
  Vector s_;
  Matrix A_;  // empty when diagonal_ (A = diag(s_))
  bool diagonal_ = false;
  Vector x_star_;
  ProblemConstants constants_;
};

}  // namespace dposg::problems
