#include "core/theorem.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dposg {

namespace {
// log_{1/rho}(arg); rho = 0 means one round already reaches consensus.
double log_base_inv_rho(double arg, double rho) {
  // rho of 11^T/M computed in floating point is ~1e-16, not 0: one round already averages exactly.
  if (rho <= 1e-12) return arg > 1.0 ? 1.0 : 0.0;
  if (rho >= 1.0) return std::numeric_limits<double>::infinity();
  return std::log(arg) / std::log(1.0 / rho);
}
}  // namespace

TheoremQuantities theorem1(const TheoremInputs& in) {
  const auto& k = in.constants;
  const double inf = std::numeric_limits<double>::infinity();
  TheoremQuantities q;
  const double L = k.L, M = in.M, m = in.m, c = kTheoremC;
  const double rho_2t = in.rho_t * in.rho_t;
  q.eta_term1 = 1.0 / (6.0 * std::sqrt(2.0) * L);
  q.eta_term2 = (1.0 - in.rho_t) / (std::sqrt(32.0 * c * M) * L);
  q.eta_term2_literal = (1.0 - in.rho_t) / std::sqrt(32.0 * c * M * L);
  q.eta_term3 = std::sqrt(1.0 - rho_2t) / (4.0 * std::pow(m, 0.25) * std::pow(M, 0.75) * L);
  q.eta_max = std::min({q.eta_term1, q.eta_term2, q.eta_term3});

  const double s = k.sigma, G = k.G;
  if (s > 0.0 && std::isfinite(G)) {
    q.t_min = log_base_inv_rho(1.0 + (M * std::sqrt(m) * M * G * G + s * s) / (4.0 * s), in.rho);
    q.t_min_alt = log_base_inv_rho(1.0 + (M * std::sqrt(m * M) * G * G + s * s) / (4.0 * s), in.rho);
  } else {
    // sigma = 0 makes the argument infinite (the theorem is stated for noisy operators).
    q.t_min = q.t_min_alt = (in.rho <= 1e-12) ? 1.0 : inf;
  }
  const double eta = in.eta > 0.0 ? in.eta : q.eta_max;
  // Theorem 1: (1/N) sum E||g(z̄_k)||^2 <= 8 ( ||x0-x*||^2/(eta^2 N) + 20 sigma^2/(mM) + 48 (D L sigma + sigma^2)/sqrt(mM) ).
  if (std::isfinite(k.D) && std::isfinite(L) && k.x_star) {
    q.bound = 8.0 * (in.x0_dist * in.x0_dist / (eta * eta * in.iters) + 20.0 * s * s / (m * M) +
                     48.0 * (k.D * L * s + s * s) / std::sqrt(m * M));
  } else {
    q.bound = inf;
  }
  q.t_condition = static_cast<double>(in.rounds) >= q.t_min;
  q.eta_condition = eta <= q.eta_max * (1.0 + 1e-12);
  return q;
}

}  // namespace dposg
