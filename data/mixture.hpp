#pragma once
// Mixtures of isotropic 2-D Gaussians with equal weights: the GAN toys of DESIGN.md §6, as
// PacGAN and VEEGAN define them, and the sample metrics computed on them.
//
// ring8:  8 modes, means (r cos(2 pi k/8), r sin(2 pi k/8)), k = 0..7, r = 1, std 0.01. The angle
//         is computed as 2 pi k / 8 for k < 8, never as an 8-point linspace over [0, 2 pi] (that
//         classic bug puts k = 7 on top of k = 0 and gives 7 modes).
// grid25: 25 modes, means {-4, -2, 0, 2, 4}^2 (k = 5 i + j has mean (-4 + 2 i, -4 + 2 j)), std 0.05.
//
// One draw of a sample: a mode index k uniform over the allowed modes (std::uniform_int_distribution
// over the list), then two N(0, std^2) coordinates (std::normal_distribution), in that order.
//
// Sharding: shard s of S holds the modes k with k mod S == s (S <= number of modes), so S = 1 is
// the whole mixture and every shard is non-empty.
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg::data {

class GaussianMixture2D {
 public:
  // means: 2 x K (column k is mode k); stddev: per-coordinate standard deviation of every mode.
  GaussianMixture2D(std::string name, Matrix means, double stddev);

  static GaussianMixture2D ring8(double radius = 1.0, double stddev = 0.01);
  static GaussianMixture2D grid25(double spacing = 2.0, double stddev = 0.05);

  const std::string& name() const { return name_; }
  Index modes() const { return means_.cols(); }
  const Matrix& means() const { return means_; }
  double stddev() const { return stddev_; }
  // Smallest distance between two means (ring8: 2 sin(pi/8) ~ 0.765; grid25: 2).
  double min_mode_distance() const { return min_distance_; }

  // The modes of shard `shard` of `shards` (k mod shards == shard); shards in [1, modes()].
  std::vector<Index> shard_modes(Index shard, Index shards) const;

  // Fills the columns of `out` (2 x n) with samples whose modes are drawn uniformly from `modes`.
  void sample(Rng& rng, const std::vector<Index>& modes, Eigen::Ref<Matrix> out) const;
  // n samples of the whole mixture.
  Matrix sample(Rng& rng, Index n) const;

  // Index of the mean nearest to x (ties: the smallest index) and its distance.
  Index nearest_mode(const Eigen::Ref<const Eigen::Vector2d>& x, double* distance = nullptr) const;

 private:
  std::string name_;
  Matrix means_;
  double stddev_;
  double min_distance_;
  std::vector<Index> all_;
};

// Mode metrics of DESIGN.md §6 for samples (2 x n): a sample is high-quality if it lies within
// n_std standard deviations (Euclidean distance <= n_std * stddev) of its nearest mean; a mode is
// covered if it is the nearest mode of at least one high-quality sample.
struct ModeCoverage {
  Index modes_covered = 0;
  double high_quality_fraction = 0.0;  // in [0, 1]
  std::vector<Index> high_quality_per_mode;
};
ModeCoverage mode_coverage(const GaussianMixture2D& mixture, const Matrix& samples, double n_std = 3.0);

// Unbiased estimate of the squared MMD between the distributions of the columns of X (n) and Y (m),
// n, m >= 2, with the Gaussian kernel k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)):
//   sum_{i != j} k(x_i, x_j) / (n (n-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1)) - 2 sum_{i,j} k(x_i, y_j) / (n m)
// (Gretton et al. 2012, eq. 3). It can be slightly negative when the distributions agree.
double mmd2_unbiased(const Matrix& X, const Matrix& Y, double bandwidth);

}  // namespace dposg::data
