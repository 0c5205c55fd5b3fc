#include "core/omp_exceptions.hpp"
#include "problems/gaussian_wgan.hpp"

#include <algorithm>
#include <cmath>

#include "problems/common.hpp"

namespace dposg::problems {

GaussianWganProblem::GaussianWganProblem(const SyntheticOptions& opts) {
  require_even_dim(opts, "gaussian-wgan");
  require_solution_norm(opts);
  n_ = opts.dim / 2;
  mu_star_ = draw_shift(opts.seed, n_, opts.solution_norm);

  Vector x_star = Vector::Zero(2 * n_);
  x_star.head(n_) = mu_star_;
  constants_.L = 1.0;
  constants_.sigma = std::sqrt(static_cast<double>(2 * n_));
  constants_.D = 4.0 * std::max(1.0, x_star.norm());
  constants_.G = constants_.D / 2.0 + x_star.norm();
  constants_.x_star = x_star;
  constants_.assumption_iv = true;
}

void GaussianWganProblem::exact(const Matrix& Z, Matrix& G) const {
  check_exact_args(Z, dim(), name());
  G.resize(Z.rows(), Z.cols());
#pragma omp parallel for schedule(static) if (Z.size() * 32 >= kParallelMinWork)
  for (Index i = 0; i < Z.cols(); ++i) {
    G.col(i).head(n_) = -Z.col(i).tail(n_);
    G.col(i).tail(n_) = Z.col(i).head(n_) - mu_star_;
  }
}

void GaussianWganProblem::sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const {
  check_sample_args(Z, dim(), batch, rngs, name());
  G.resize(Z.rows(), Z.cols());
  const double inv_m = 1.0 / static_cast<double>(batch);
  OmpExceptions errors;
#pragma omp parallel for schedule(static) if (Z.size() * 32 >= kParallelMinWork)
  for (Index i = 0; i < Z.cols(); ++i) {
    errors.run([&] {
      Vector buf(2 * n_);
      Vector sum_real_noise = Vector::Zero(n_);  // sum_j xi_j, x_j = mu* + xi_j
      Vector sum_fake = Vector::Zero(n_);        // sum_j e_j
      for (Index j = 0; j < batch; ++j) {
        fill_normal(rngs[i], 1.0, buf);
        sum_real_noise += buf.head(n_);
        sum_fake += buf.tail(n_);
      }
      // mean(x_real) = mu* + mean(xi); g_v = u + mean(e) - mean(x_real).
      G.col(i).head(n_) = -Z.col(i).tail(n_);
      G.col(i).tail(n_) = Z.col(i).head(n_) + sum_fake * inv_m - (mu_star_ + sum_real_noise * inv_m);
    });
  }
  errors.rethrow();
}

void GaussianWganProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "gaussian-wgan: z = (u, v), u = z[0:n] generator mean, v = z[n:2n] linear critic; "
           "real x ~ N(mu_star, I), fake u + e, e ~ N(0, I); f(u, v) = v^T (mu_star - u); "
           "g(z) = [-v, u - mu_star]; x* = (mu_star, 0). Stochastic, m = batch: per sample j "
           "draw 2n standard normals (xi_j then e_j), x_j = mu_star + xi_j; "
           "g(z; xi) = [-v, u + mean(e_j) - mean(x_j)]; per-sample sigma^2 = 2n (--noise unused).");
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(n_));
  out.vector("mu_star", mu_star_);
  write_constants(out, constants_);
}

}  // namespace dposg::problems
