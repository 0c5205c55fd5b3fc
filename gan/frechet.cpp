#include "gan/frechet.hpp"

#include <Eigen/Eigenvalues>
#include <stdexcept>

namespace dposg::gan {

Gaussian fit_gaussian(const Matrix& X) {
  if (X.cols() < 2) throw std::invalid_argument("fit_gaussian: needs at least 2 samples");
  Gaussian g;
  g.mean = X.rowwise().mean();
  const Matrix centred = X.colwise() - g.mean;
  g.cov = centred * centred.transpose() / static_cast<double>(X.cols() - 1);
  return g;
}

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  if (a.mean.size() != b.mean.size()) throw std::invalid_argument("frechet_distance: dimensions differ");
  Eigen::SelfAdjointEigenSolver<Matrix> ea(a.cov);
  const Vector root = ea.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Matrix sqrt_a = ea.eigenvectors() * root.asDiagonal() * ea.eigenvectors().transpose();
  const Matrix inner = sqrt_a * b.cov * sqrt_a;
  Eigen::SelfAdjointEigenSolver<Matrix> ei(0.5 * (inner + inner.transpose()), Eigen::EigenvaluesOnly);
  const double cross = ei.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * cross;
}

}  // namespace dposg::gan
