#include "problems/bilinear.hpp"

#include <algorithm>
#include <cmath>

#include "problems/common.hpp"

namespace dposg::problems {

BilinearProblem::BilinearProblem(const SyntheticOptions& opts) {
  require_even_dim(opts, "bilinear");
  require_noise(opts);
  require_cond(opts);
  require_coupling(opts);
  require_solution_norm(opts);
  n_ = opts.dim / 2;
  set_noise(opts);
  cond_ = opts.cond;
  coupling_ = opts.coupling;

  x_star_ = draw_shift(opts.seed, 2 * n_, opts.solution_norm);
  s_ = log_spaced_singular_values(n_, coupling_, cond_);
  A_ = coupling_matrix(opts.seed, s_);
  b_ = -A_ * x_star_.tail(n_);
  c_ = -A_.transpose() * x_star_.head(n_);

  constants_.L = coupling_;
  constants_.sigma = noise_;
  constants_.D = 4.0 * std::max(1.0, x_star_.norm());
  constants_.G = constants_.L * constants_.D / 2.0 + std::sqrt(b_.squaredNorm() + c_.squaredNorm());
  constants_.x_star = x_star_;
  constants_.assumption_iv = true;
}

// g = [A v + b, -(A^T u + c)] evaluated as [A (v - v*), -A^T (u - u*)] (b = -A v*, c = -A^T u*):
// the same operator without the cancellation of A v + b near x*, so g(x*) = 0 and
// <g(z), z - x*> = 0 hold to rounding relative to ||z - x*||.
void BilinearProblem::exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const {
  const Vector& w = shifted(z, x_star_);
  g.head(n_).noalias() = A_ * w.tail(n_);
  // Negated in place (exact), so -(A^T w_u) needs no temporary.
  g.tail(n_).noalias() = A_.transpose() * w.head(n_);
  g.tail(n_) = -g.tail(n_);
}



void BilinearProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "bilinear: z = (u, v), u = z[0:n], v = z[n:2n]; f(u, v) = u^T A v + b^T u + c^T v; "
           "g(z) = [A v + b, -(A^T u + c)]; b = -A v*, c = -A^T u*, x* = (u*, v*), g(x*) = 0. "
           "Stochastic: g(z; xi) = g(z) + N(0, noise^2/(d*batch) I).");
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(n_));
  out.matrix("A", A_);
  out.vector("b", b_);
  out.vector("c", c_);
  out.vector("shift", x_star_);
  out.vector("singular_values", s_);
  out.scalar("noise", noise_);
  out.scalar("cond", cond_);
  out.scalar("coupling", coupling_);
  write_constants(out, constants_);
}

}  // namespace dposg::problems
