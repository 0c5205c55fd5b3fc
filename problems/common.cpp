#include "problems/common.hpp"

#include <algorithm>
#include <cmath>

#include "core/counter_normals.hpp"
#include "core/error.hpp"

namespace dposg::problems {

void require_even_dim(const SyntheticOptions& o, const std::string& problem) {
  if (o.dim < 2 || o.dim % 2 != 0)
    throw InputError("--dim: must be even and >= 2 for " + problem +
                     " (u and v halves), got " + std::to_string(o.dim));
}

void require_noise(const SyntheticOptions& o) {
  if (!(std::isfinite(o.noise) && o.noise >= 0.0))
    throw InputError("--noise: must be finite and >= 0 (the per-sample noise std), got " +
                     exact_text(o.noise));
  // A finite std whose variance is not (1e308: sigma^2 d = inf) makes every gradient and metric
  // Inf from the first sample: bad input, not a run that diverged.
  if (!std::isfinite(o.noise * o.noise * static_cast<double>(std::max<Index>(o.dim, 1))))
    throw InputError("--noise: too large, the per-sample noise variance noise^2 * dim overflows a double, got " +
                     exact_text(o.noise));
}

void require_cond(const SyntheticOptions& o) {
  if (!(std::isfinite(o.cond) && o.cond >= 1.0))
    throw InputError("--cond: must be finite and >= 1 (condition number of A), got " +
                     exact_text(o.cond));
}

void require_coupling(const SyntheticOptions& o) {
  if (!(std::isfinite(o.coupling) && o.coupling > 0.0))
    throw InputError("--coupling: must be finite and > 0 (largest singular value of A), got " +
                     exact_text(o.coupling));
}

void require_alpha(const SyntheticOptions& o) {
  if (!(std::isfinite(o.alpha) && o.alpha >= 0.0))
    throw InputError("--alpha: must be finite and >= 0, got " + exact_text(o.alpha));
}

void require_solution_norm(const SyntheticOptions& o) {
  if (!(std::isfinite(o.solution_norm) && o.solution_norm >= 0.0))
    throw InputError("--solution-norm: must be finite and >= 0 (||x*||), got " +
                     exact_text(o.solution_norm));
}

Vector draw_shift(std::uint64_t seed, Index len, double norm) {
  Vector x(len);
  Rng rng = make_rng(seed, StreamPurpose::instance, 0);
  fill_normal(rng, 1.0, x);
  const double nx = x.norm();
  if (norm == 0.0 || nx == 0.0) return Vector::Zero(len);
  return x * (norm / nx);
}

Matrix random_orthogonal(std::uint64_t seed, std::uint64_t k, Index n) {
  Matrix M(n, n);
  Rng rng = make_rng(seed, StreamPurpose::instance, k);
  Eigen::Map<Vector> flat(M.data(), n * n);  // column-major order
  fill_normal(rng, 1.0, flat);
  Eigen::HouseholderQR<Matrix> qr(M);
  Matrix Q = qr.householderQ() * Matrix::Identity(n, n);
  const Matrix& R = qr.matrixQR();  // upper triangle is R
  for (Index j = 0; j < n; ++j)
    if (R(j, j) < 0.0) Q.col(j) = -Q.col(j);
  return Q;
}

Vector log_spaced_singular_values(Index n, double coupling, double cond) {
  Vector s(n);
  if (n == 1) {
    s[0] = coupling;
    return s;
  }
  for (Index k = 0; k < n; ++k)
    s[k] = coupling * std::pow(cond, -static_cast<double>(k) / static_cast<double>(n - 1));
  s[0] = coupling;              // exactly, so that ||A||_2 = coupling up to rounding of the product
  s[n - 1] = coupling / cond;
  return s;
}

Matrix coupling_matrix(std::uint64_t seed, const Vector& s) {
  const Index n = s.size();
  const Matrix U = random_orthogonal(seed, 1, n);
  const Matrix V = random_orthogonal(seed, 2, n);
  return U * s.asDiagonal() * V.transpose();
}

NoiseNormals noise_normals(const SyntheticOptions& o) {
  if (o.noise_normals == "std") return NoiseNormals::std_polar;
  if (o.noise_normals == "ziggurat") return NoiseNormals::ziggurat;
  if (o.noise_normals == "auto")
    throw InputError("--noise-normals: auto is chosen by a run's worker count (resolved_noise_normals, "
                     "app/experiment.hpp); a problem on its own takes std or ziggurat");
  throw InputError("--noise-normals: expected std or ziggurat, got '" + o.noise_normals + "'");
}

void AdditiveNoiseProblem::set_noise(const SyntheticOptions& o) {
  require_noise(o);
  noise_ = o.noise;
  normals_ = noise_normals(o);
}

void add_isotropic_noise(Rng& rng, double noise, Index batch, Eigen::Ref<Vector> col) {
  if (noise == 0.0) return;
  const Index len = col.size();
  const double stddev = noise / std::sqrt(static_cast<double>(len) * static_cast<double>(batch));
  // Added as drawn: the same sums as filling a vector first, without a heap vector per column per call
  // (at M = 10^6 its malloc/free was a tenth of an iteration, issue #20).
  std::normal_distribution<double> n(0.0, stddev);
  for (Index k = 0; k < len; ++k) col[k] += n(rng);
}

const Vector& shifted(const Eigen::Ref<const Vector>& z, const Vector& x_star) {
  thread_local Vector w;
  w.resize(z.size());
  w = z - x_star;
  return w;
}

void AdditiveNoiseProblem::exact(const Matrix& Z, Matrix& G) const {
  check_exact_args(Z, dim(), name());
  G.resize(Z.rows(), Z.cols());
#pragma omp parallel for schedule(static) if (Z.cols() * column_work() >= kParallelMinWork)
  for (Index i = 0; i < Z.cols(); ++i) exact_column(Z.col(i), G.col(i));
}

void AdditiveNoiseProblem::sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const {
  check_sample_args(Z, dim(), batch, rngs, name());
  G.resize(Z.rows(), Z.cols());
  // ziggurat: one round of counter-based keys for all workers (core/rng.hpp), the streams untouched.
  const bool zig = normals_ == NoiseNormals::ziggurat && noise_ != 0.0;
  const std::uint64_t round = zig ? rngs.begin_key_round() : 0;
  const double stddev = noise_ / std::sqrt(static_cast<double>(Z.rows()) * static_cast<double>(batch));
  if (!zig) {
#pragma omp parallel for schedule(static) if (Z.cols() * column_work() >= kParallelMinWork)
    for (Index i = 0; i < Z.cols(); ++i) {
      exact_column(Z.col(i), G.col(i));
      add_isotropic_noise(rngs[i], noise_, batch, G.col(i));
    }
    return;
  }
  // Groups of eight columns, whose streams the ziggurat's vector kernel draws together.
  constexpr Index kGroup = 8;
  const Index groups = (Z.cols() + kGroup - 1) / kGroup;
#pragma omp parallel for schedule(static) if (Z.cols() * column_work() >= kParallelMinWork)
  for (Index g = 0; g < groups; ++g) {
    const Index first = g * kGroup, count = std::min(kGroup, Z.cols() - first);
    std::uint64_t keys[kGroup];
    for (Index c = 0; c < count; ++c) {
      exact_column(Z.col(first + c), G.col(first + c));
      keys[c] = rngs.key(first + c, round);
    }
    add_ziggurat_normals_columns(keys, count, stddev, G.col(first).data(), G.rows());
  }
}

}  // namespace dposg::problems
