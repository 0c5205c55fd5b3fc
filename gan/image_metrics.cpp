#include "gan/image_metrics.hpp"

#include <cmath>
#include <stdexcept>

namespace dposg::gan {

double inception_score(const Matrix& probs) {
  if (probs.cols() < 1) throw std::invalid_argument("inception_score: no samples");
  const Vector mean = probs.rowwise().mean();
  double kl = 0.0;
  for (Index j = 0; j < probs.cols(); ++j)
    for (Index k = 0; k < probs.rows(); ++k) {
      const double p = probs(k, j);
      if (p > 0.0) kl += p * (std::log(p) - std::log(mean[k]));
    }
  return std::exp(kl / static_cast<double>(probs.cols()));
}

namespace {

// sum of k over all pairs of columns of X and Y, the diagonal left out when `skip_diagonal`.
double kernel_sum(const Matrix& X, const Matrix& Y, bool skip_diagonal) {
  const double inv_d = 1.0 / static_cast<double>(X.rows());
  Matrix K(X.cols(), Y.cols());
  K.noalias() = X.transpose() * Y;
  K = ((K.array() * inv_d) + 1.0).cube().matrix();
  double s = K.sum();
  if (skip_diagonal) s -= K.diagonal().sum();
  return s;
}

}  // namespace

double kernel_distance(const Matrix& A, const Matrix& B) {
  if (A.cols() < 2 || B.cols() < 2 || A.rows() != B.rows()) throw std::invalid_argument("kernel_distance: shapes");
  const double n = static_cast<double>(A.cols()), m = static_cast<double>(B.cols());
  return kernel_sum(A, A, true) / (n * (n - 1)) + kernel_sum(B, B, true) / (m * (m - 1)) -
         2.0 * kernel_sum(A, B, false) / (n * m);
}

}  // namespace dposg::gan
