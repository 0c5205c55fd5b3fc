#pragma once
// Theorem 1 of Liu et al. (NeurIPS 2020): the step-size bound, the gossip-round condition and the
// right-hand side of the convergence bound, from the problem's constants and the run's M, m, t.
//
// Readings we had to choose (the text we have is ambiguous; both are recorded):
// - eta's second term, printed "(1 - rho^t) / sqrt(32 c M L)", is read as (1 - rho^t) / (sqrt(32 c M) L):
//   every other term of the bound scales as 1/L, and a step size must (dimensional analysis).
//   `eta_term2_literal` keeps the literal (1 - rho^t) / sqrt(32 c M L).
// - t_min = log_{1/rho}(1 + (M sqrt(m) M G^2 + sigma^2) / (4 sigma)). The numerator is read
//   literally as M^2 sqrt(m) G^2 + sigma^2 (`t_min`, the larger and so the safe choice);
//   `t_min_alt` reads it as M sqrt(m M) G^2 + sigma^2.
// For random mixing, rho^t is replaced by the measured E||W_t...W_1 - 11^T/M|| (Remark 2) and
// rho^{2t} by its square.
#include <cstdint>

#include "core/problem.hpp"

namespace dposg {

inline constexpr double kTheoremC = 321.0;

struct TheoremInputs {
  ProblemConstants constants;
  double M = 1;
  double m = 1;          // minibatch per worker
  double rho = 0;        // rho of W (per round)
  double rho_t = 0;      // rho^t, or the measured product deviation for random mixing
  int rounds = 1;        // t
  double iters = 1;      // N
  double x0_dist = 0;    // ||x_0 - x*||
  double eta = 0;        // the step size used (for the bound); 0 -> use eta_max
};

struct TheoremQuantities {
  double eta_term1 = 0, eta_term2 = 0, eta_term3 = 0, eta_term2_literal = 0;
  double eta_max = 0;
  double t_min = 0;      // literal reading of the numerator
  double t_min_alt = 0;  // alternative reading
  double bound = 0;      // RHS of Theorem 1 at eta (inf when a constant is unknown)
  bool t_condition = false;    // t >= t_min
  bool eta_condition = false;  // eta <= eta_max
};

TheoremQuantities theorem1(const TheoremInputs& in);

}  // namespace dposg
