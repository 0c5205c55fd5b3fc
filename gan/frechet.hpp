#pragma once
// The Fréchet distance between two sample sets (one sample per column), each summarised by a
// Gaussian N(mu, Sigma) with the sample mean and the unbiased sample covariance:
//   FD = ||mu_a - mu_b||^2 + tr(Sigma_a) + tr(Sigma_b) - 2 tr((Sigma_a^{1/2} Sigma_b Sigma_a^{1/2})^{1/2}).
// (Sigma_a^{1/2} Sigma_b Sigma_a^{1/2} is symmetric positive semidefinite and has the eigenvalues of
// Sigma_a Sigma_b, so the last trace is the usual tr((Sigma_a Sigma_b)^{1/2}); computed with two
// symmetric eigendecompositions, negative round-off eigenvalues clamped to 0.)
// In the feature space of an Inception network this is FID; dposg uses the features of a small
// classifier it trains itself (gan/classifier.hpp), so its numbers are NOT FID and are comparable
// only with each other (same classifier file).
#include "core/types.hpp"

namespace dposg::gan {

struct Gaussian {
  Vector mean;
  Matrix cov;
};

// Sample mean and unbiased covariance of the columns of X (needs >= 2 columns).
Gaussian fit_gaussian(const Matrix& X);

double frechet_distance(const Gaussian& a, const Gaussian& b);
inline double frechet_distance(const Matrix& A, const Matrix& B) {
  return frechet_distance(fit_gaussian(A), fit_gaussian(B));
}

}  // namespace dposg::gan
