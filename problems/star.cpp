#include "problems/star.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "problems/common.hpp"

namespace dposg::problems {

StarProblem::StarProblem(const SyntheticOptions& opts) {
  require_even_dim(opts, "star");
  require_noise(opts);
  require_cond(opts);
  require_coupling(opts);
  require_alpha(opts);
  require_solution_norm(opts);
  n_ = opts.dim / 2;
  set_noise(opts);
  cond_ = opts.cond;
  coupling_ = opts.coupling;
  alpha_ = opts.alpha;

  x_star_ = draw_shift(opts.seed, 2 * n_, opts.solution_norm);
  s_ = log_spaced_singular_values(n_, coupling_, cond_);
  if (opts.coupling_matrix != "dense" && opts.coupling_matrix != "diagonal")
    throw InputError("--coupling-matrix: expected dense or diagonal, got '" + opts.coupling_matrix + "'");
  diagonal_ = opts.coupling_matrix == "diagonal";
  if (!diagonal_) A_ = coupling_matrix(opts.seed, s_);

  constants_.L = 2.0 * alpha_ + coupling_;
  constants_.sigma = noise_;
  constants_.D = 4.0 * std::max(1.0, x_star_.norm());
  const double kx = diagonal_ ? std::sqrt(s_.cwiseProduct(x_star_.tail(n_)).squaredNorm() +
                                          s_.cwiseProduct(x_star_.head(n_)).squaredNorm())
                              : std::sqrt((A_ * x_star_.tail(n_)).squaredNorm() +
                                          (A_.transpose() * x_star_.head(n_)).squaredNorm());
  constants_.G = alpha_ * std::sqrt(static_cast<double>(2 * n_)) + coupling_ * constants_.D / 2.0 + kx;
  constants_.x_star = x_star_;
  constants_.assumption_iv = true;
}

void StarProblem::exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const {
  const Vector& w = shifted(z, x_star_);
  if (diagonal_) {
    g.head(n_) = s_.cwiseProduct(w.tail(n_));
    g.tail(n_) = -s_.cwiseProduct(w.head(n_));
  } else {
    g.head(n_).noalias() = A_ * w.tail(n_);
    // Negated in place (exact), so -(A^T w_u) needs no temporary.
    g.tail(n_).noalias() = A_.transpose() * w.head(n_);
    g.tail(n_) = -g.tail(n_);
  }
  for (Index k = 0; k < 2 * n_; ++k) g[k] += 2.0 * alpha_ * w[k] / (1.0 + w[k] * w[k]);
}



void StarProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "star: z = (u, v), u = z[0:n], v = z[n:2n], w = z - shift = (wu, wv); "
           "f(z) = alpha*sum(log(1 + wu^2)) + wu^T A wv - alpha*sum(log(1 + wv^2)); "
           "g(z) = [2 alpha wu/(1 + wu^2) + A wv, -A^T wu + 2 alpha wv/(1 + wv^2)] (elementwise); "
           "x* = shift. Stochastic: g(z; xi) = g(z) + N(0, noise^2/(d*batch) I).");
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(n_));
  if (diagonal_) {
    out.text("coupling_matrix", "diagonal: A = diag(singular_values)");
  } else {
    out.matrix("A", A_);
  }
  out.vector("shift", x_star_);
  out.vector("singular_values", s_);
  out.scalar("alpha", alpha_);
  out.scalar("noise", noise_);
  out.scalar("cond", cond_);
  out.scalar("coupling", coupling_);
  write_constants(out, constants_);
}

}  // namespace dposg::problems
