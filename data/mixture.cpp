#include "data/mixture.hpp"

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>
#include <utility>

namespace dposg::data {

GaussianMixture2D::GaussianMixture2D(std::string name, Matrix means, double stddev)
    : name_(std::move(name)), means_(std::move(means)), stddev_(stddev) {
  if (means_.rows() != 2 || means_.cols() < 1)
    throw std::invalid_argument("GaussianMixture2D: means must be 2 x K with K >= 1");
  if (!(stddev_ > 0.0) || !std::isfinite(stddev_))
    throw std::invalid_argument("GaussianMixture2D: stddev must be finite and > 0");
  min_distance_ = std::numeric_limits<double>::infinity();
  for (Index a = 0; a < modes(); ++a)
    for (Index b = a + 1; b < modes(); ++b)
      min_distance_ = std::min(min_distance_, (means_.col(a) - means_.col(b)).norm());
  for (Index k = 0; k < modes(); ++k) all_.push_back(k);
}

GaussianMixture2D GaussianMixture2D::ring8(double radius, double stddev) {
  constexpr Index K = 8;
  Matrix means(2, K);
  for (Index k = 0; k < K; ++k) {
    // 2 pi k / K for k = 0..K-1: K distinct angles (not a K-point linspace that includes 2 pi).
    const double angle = 2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(K);
    means(0, k) = radius * std::cos(angle);
    means(1, k) = radius * std::sin(angle);
  }
  return GaussianMixture2D("ring8", std::move(means), stddev);
}

GaussianMixture2D GaussianMixture2D::grid25(double spacing, double stddev) {
  Matrix means(2, 25);
  for (Index i = 0; i < 5; ++i)
    for (Index j = 0; j < 5; ++j) {
      means(0, 5 * i + j) = spacing * static_cast<double>(i - 2);
      means(1, 5 * i + j) = spacing * static_cast<double>(j - 2);
    }
  return GaussianMixture2D("grid25", std::move(means), stddev);
}

std::vector<Index> GaussianMixture2D::shard_modes(Index shard, Index shards) const {
  if (shards < 1 || shards > modes() || shard < 0 || shard >= shards)
    throw std::invalid_argument("GaussianMixture2D::shard_modes: shard " + std::to_string(shard) + " of " +
                                std::to_string(shards) + " with " + std::to_string(modes()) + " modes");
  if (shards == 1) return all_;
  std::vector<Index> out;
  for (Index k = shard; k < modes(); k += shards) out.push_back(k);
  return out;
}

void GaussianMixture2D::sample(Rng& rng, const std::vector<Index>& modes, Eigen::Ref<Matrix> out) const {
  if (out.rows() != 2) throw std::invalid_argument("GaussianMixture2D::sample: out must have 2 rows");
  if (modes.empty()) throw std::invalid_argument("GaussianMixture2D::sample: no modes to draw from");
  std::uniform_int_distribution<std::size_t> pick(0, modes.size() - 1);
  std::normal_distribution<double> noise(0.0, stddev_);
  for (Index j = 0; j < out.cols(); ++j) {
    const Index k = modes[pick(rng)];
    const double e0 = noise(rng);
    const double e1 = noise(rng);
    out(0, j) = means_(0, k) + e0;
    out(1, j) = means_(1, k) + e1;
  }
}

Matrix GaussianMixture2D::sample(Rng& rng, Index n) const {
  Matrix out(2, n);
  sample(rng, all_, out);
  return out;
}

Index GaussianMixture2D::nearest_mode(const Eigen::Ref<const Eigen::Vector2d>& x, double* distance) const {
  Index best = 0;
  double best_sq = std::numeric_limits<double>::infinity();
  for (Index k = 0; k < modes(); ++k) {
    const double sq = (means_.col(k) - x).squaredNorm();
    if (sq < best_sq) {
      best_sq = sq;
      best = k;
    }
  }
  if (distance) *distance = std::sqrt(best_sq);
  return best;
}

ModeCoverage mode_coverage(const GaussianMixture2D& mixture, const Matrix& samples, double n_std) {
  if (samples.rows() != 2) throw std::invalid_argument("mode_coverage: samples must have 2 rows");
  ModeCoverage c;
  c.high_quality_per_mode.assign(static_cast<std::size_t>(mixture.modes()), 0);
  const double radius = n_std * mixture.stddev();
  Index high = 0;
  for (Index j = 0; j < samples.cols(); ++j) {
    double dist = 0.0;
    const Index k = mixture.nearest_mode(samples.col(j), &dist);
    // A NaN sample (a diverged generator) is never high-quality.
    if (dist <= radius) {
      ++high;
      ++c.high_quality_per_mode[static_cast<std::size_t>(k)];
    }
  }
  for (Index n : c.high_quality_per_mode) c.modes_covered += n > 0 ? 1 : 0;
  c.high_quality_fraction = samples.cols() > 0 ? static_cast<double>(high) / static_cast<double>(samples.cols()) : 0.0;
  return c;
}

namespace {

// Sum of exp(-||a_i - b_j||^2 / (2 h^2)) over all pairs (i, j), skipping i == j when `same`.
double kernel_sum(const Matrix& A, const Matrix& B, double bandwidth, bool same) {
  const Eigen::RowVectorXd na = A.colwise().squaredNorm();
  const Eigen::RowVectorXd nb = B.colwise().squaredNorm();
  Matrix sq = -2.0 * (A.transpose() * B);
  sq.colwise() += na.transpose();
  sq.rowwise() += nb;
  const double scale = -1.0 / (2.0 * bandwidth * bandwidth);
  // Rounding can leave tiny negative squared distances; clamp at 0.
  Matrix k = (sq.array().max(0.0) * scale).exp().matrix();
  double total = k.sum();
  if (same) total -= k.diagonal().sum();
  return total;
}

}  // namespace

double mmd2_unbiased(const Matrix& X, const Matrix& Y, double bandwidth) {
  if (X.rows() != Y.rows()) throw std::invalid_argument("mmd2_unbiased: X and Y must have the same rows");
  if (X.cols() < 2 || Y.cols() < 2) throw std::invalid_argument("mmd2_unbiased: needs at least 2 samples each");
  if (!(bandwidth > 0.0)) throw std::invalid_argument("mmd2_unbiased: bandwidth must be > 0");
  const double n = static_cast<double>(X.cols()), m = static_cast<double>(Y.cols());
  return kernel_sum(X, X, bandwidth, true) / (n * (n - 1.0)) + kernel_sum(Y, Y, bandwidth, true) / (m * (m - 1.0)) -
         2.0 * kernel_sum(X, Y, bandwidth, false) / (n * m);
}

}  // namespace dposg::data
