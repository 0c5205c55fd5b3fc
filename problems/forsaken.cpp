#include "problems/forsaken.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "problems/common.hpp"

namespace dposg::problems {

namespace {
constexpr double kShift = 0.45;
inline double psi(double s) { return s / 2.0 - 2.0 * s * s * s + s * s * s * s * s; }
inline double dpsi(double s) { return 0.5 - 6.0 * s * s + 5.0 * s * s * s * s; }
}  // namespace

std::pair<double, double> ForsakenProblem::copy_solution() {
  // Newton on F(x, y) = [psi(x) + y - 0.45, -x + psi(y)] = 0 from the published approximation.
  double x = 0.0780267, y = 0.411934;
  for (int it = 0; it < 50; ++it) {
    const double f1 = psi(x) + y - kShift, f2 = -x + psi(y);
    // J = [[psi'(x), 1], [-1, psi'(y)]], det = psi'(x) psi'(y) + 1.
    const double a = dpsi(x), b = dpsi(y), det = a * b + 1.0;
    const double dx = (b * f1 - f2) / det, dy = (f1 + a * f2) / det;
    x -= dx;
    y -= dy;
    if (std::abs(dx) + std::abs(dy) < 1e-17) break;
  }
  const double r = std::abs(psi(x) + y - kShift) + std::abs(-x + psi(y));
  if (!(r < 1e-14)) throw std::logic_error("forsaken: Newton did not converge");
  return {x, y};
}

ForsakenProblem::ForsakenProblem(const SyntheticOptions& opts) {
  require_even_dim(opts, "forsaken");
  require_noise(opts);
  n_ = opts.dim / 2;
  set_noise(opts);

  const auto [xs, ys] = copy_solution();
  Vector x_star(2 * n_);
  x_star.head(n_).setConstant(xs);
  x_star.tail(n_).setConstant(ys);

  // max |psi'| over [-10, 10]: psi' is even; candidates s = 0, s^2 = 3/5 (critical), s = 10.
  const double max_dpsi = std::max({std::abs(dpsi(0.0)), std::abs(dpsi(std::sqrt(0.6))),
                                    std::abs(dpsi(kBox))});
  constants_.L = max_dpsi + 1.0;
  constants_.sigma = noise_;
  // D/2 = kBox: the theorem's ball ||z|| <= D/2 lies inside the box, where L and G hold.
  constants_.D = 2.0 * kBox;
  const double a = psi(kBox) + kBox + kShift;  // sup_B |psi(x) + y - 0.45|
  const double b = psi(kBox) + kBox;           // sup_B |-x + psi(y)|
  constants_.G = std::sqrt(static_cast<double>(n_) * (a * a + b * b));
  constants_.x_star = x_star;
  constants_.assumption_iv = false;
}

void ForsakenProblem::exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const {
  for (Index i = 0; i < n_; ++i) {
    const double x = z[i], y = z[n_ + i];
    g[i] = psi(x) + (y - kShift);
    g[n_ + i] = -x + psi(y);
  }
}



void ForsakenProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "forsaken (Hsieh et al. 2021), n copies (x_i, y_i) = (u_i, v_i), u = z[0:n], v = z[n:2n]; "
           "f = sum_i x_i (y_i - 0.45) + phi(x_i) - phi(y_i), phi(s) = s^2/4 - s^4/2 + s^6/6; "
           "g = [psi(x) + y - 0.45, -x + psi(y)], psi(s) = s/2 - 2 s^3 + s^5; no shift; "
           "violates Assumption 1(iv); L, G hold on the box [-10, 10]^d. "
           "Stochastic: g(z; xi) = g(z) + N(0, noise^2/(d*batch) I).");
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(n_));
  out.scalar("box", kBox);
  out.scalar("noise", noise_);
  write_constants(out, constants_);
}

}  // namespace dposg::problems
