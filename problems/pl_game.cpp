#include "problems/pl_game.hpp"

#include <algorithm>
#include <cmath>

namespace dposg::problems {

PlGameProblem::PlGameProblem(const SyntheticOptions& opts) {
  require_even_dim(opts, "pl-game");
  require_noise(opts);
  require_cond(opts);
  require_coupling(opts);
  require_solution_norm(opts);
  n_ = opts.dim / 2;
  set_noise(opts);
  mu_ = 1.0 / opts.cond;
  x_star_ = draw_shift(opts.seed, 2 * n_, opts.solution_norm);
  const Vector p = log_spaced_singular_values(n_, 1.0, opts.cond);
  const Matrix U = random_orthogonal(opts.seed, 3, n_), V = random_orthogonal(opts.seed, 4, n_);
  P_ = U * p.asDiagonal() * U.transpose();
  Q_ = V * p.asDiagonal() * V.transpose();
  R_ = coupling_matrix(opts.seed, log_spaced_singular_values(n_, opts.coupling, opts.cond));
  J_.resize(2 * n_, 2 * n_);
  J_ << P_, R_, -R_.transpose(), Q_;
  constants_.L = Eigen::JacobiSVD<Matrix>(J_).singularValues()(0);
  constants_.sigma = noise_;
  constants_.D = 4.0 * std::max(1.0, x_star_.norm());
  constants_.G = constants_.L * (constants_.D / 2.0 + x_star_.norm());
  constants_.x_star = x_star_;
  constants_.assumption_iv = true;
}

void PlGameProblem::exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const {
  const Vector& w = shifted(z, x_star_);
  g.noalias() = J_ * w;
}

double PlGameProblem::value(const Vector& z) const {
  const Vector w = z - x_star_;
  const auto u = w.head(n_), v = w.tail(n_);
  return 0.5 * u.dot(P_ * u) + u.dot(R_ * v) - 0.5 * v.dot(Q_ * v);
}

void PlGameProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "pl-game: z = (u, v), u = z[0:n], v = z[n:2n]; f = 1/2 (u-u*)^T P (u-u*) + (u-u*)^T R (v-v*) "
           "- 1/2 (v-v*)^T Q (v-v*); g(z) = J (z - x*), J = [[P, R], [-R^T, Q]]. "
           "Stochastic: g(z; xi) = g(z) + N(0, noise^2/(d*batch) I).");
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(n_));
  out.matrix("P", P_);
  out.matrix("Q", Q_);
  out.matrix("R", R_);
  out.vector("shift", x_star_);
  out.scalar("mu_u", mu_);
  out.scalar("mu_v", mu_);
  out.scalar("noise", noise_);
  write_constants(out, constants_);
}

}  // namespace dposg::problems
