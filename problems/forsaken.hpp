#pragma once
// forsaken: the negative control that violates Assumption 1(iv) (DESIGN.md §6).
// The "forsaken" game of Hsieh, Mertikopoulos & Cevher (2021), n = d/2 independent copies.
//
// Conventions (problems/README.md): d = --dim (even), u = first n coordinates, v = the rest; copy i
// is the pair (x, y) = (u_i, v_i).
//   f(u, v) = sum_i [ x_i (y_i - 0.45) + phi(x_i) - phi(y_i) ],  phi(s) = s^2/4 - s^4/2 + s^6/6,
//   g(z)    = per copy [psi(x) + (y - 0.45), -x + psi(y)],       psi(s) = phi'(s) = s/2 - 2 s^3 + s^5.
// No shift: the solution is the fixed zero of g, per copy (x*, y*) ~ (0.0780267, 0.411934),
// computed by Newton's method in double precision (residual < 1e-14). constants().x_star is that
// point, with assumption_iv = false: at x* the symmetric part of the Jacobian has the entry
// psi'(y*) ~ -0.37 < 0, so <g(x* + t e_v), t e_v> = psi'(y*) t^2 + O(t^3) < 0 for small t; since
// any x* satisfying (iv) must be a zero of g (take x = x* - t g(x*), t -> 0) and this zero is the
// only one (tests/test_problems.cpp scans for others), no x* satisfies (iv).
// Noise: additive isotropic Gaussian, sigma = --noise.
// Options read: --dim, --noise. (--solution-norm, --seed are not used: the instance is fixed.)
//
// Constants hold on the box B = [-10, 10]^d only (g grows like s^5: no global L or G exists):
//   L = max_{|s|<=10} |psi'(s)| + 1 = 49401.5, psi'(s) = 1/2 - 6 s^2 + 5 s^4: psi' is even, its
//       critical points are s = 0 (1/2) and s^2 = 3/5 (-1.3); on [0, 10] its largest modulus is at
//       s = 10: 1/2 - 600 + 50000 = 49400.5. The Jacobian is block diagonal with 2x2 blocks
//       [[psi'(x), 1], [-1, psi'(y)]] = diag + skew, norm <= max|psi'| + 1; B is convex, so the
//       mean-value argument gives ||g(z1) - g(z2)|| <= L ||z1 - z2|| for z1, z2 in B.
//   D = 2 * 10: the ball ||z|| <= D/2 = 10 lies inside B, so L and G (bounds over B) hold on
//       the ball, as ProblemConstants promises.
//   G = sqrt(n) * sqrt(a^2 + b^2) with a = sup_B |psi(x) + y - 0.45| = psi(10) + 10.45 = 98015.45
//       and b = sup_B |-x + psi(y)| = psi(10) + 10 = 98015 (psi is odd and max_{[0,10]} |psi| =
//       psi(10) = 98005: psi increases for s^2 > (6 + sqrt 26)/10, and its values below are < 1).
//   sigma = --noise.
#include <utility>

#include "core/problem.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

class ForsakenProblem final : public AdditiveNoiseProblem {
 public:
  explicit ForsakenProblem(const SyntheticOptions& opts);

  static constexpr double kBox = 10.0;  // the box [-kBox, kBox]^d of the constants

  std::string name() const override { return "forsaken"; }
  Index dim() const override { return 2 * n_; }
  Index dim_u() const override { return n_; }
  ProblemConstants constants() const override { return constants_; }
  void write_instance(InstanceWriter& out) const override;

  // The per-copy solution (x*, y*).
  static std::pair<double, double> copy_solution();

 private:
  void exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const override;
  Index column_work() const override { return 32 * n_; }

  Index n_;
  ProblemConstants constants_;
};

}  // namespace dposg::problems
