#pragma once
// Central differences and random matrices for the gradient tests of the GAN networks
// (test_gan: the MLP, test_gan_dcgan: the convolutional networks).
#include <functional>
#include <random>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg::test {

using Fn = std::function<double(const Vector&)>;

inline Matrix gaussian_matrix(Rng& rng, Index rows, Index cols, double scale = 1.0) {
  std::normal_distribution<double> n(0.0, scale);
  Matrix m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = n(rng);
  return m;
}

// Central differences of f at x over coordinates [begin, end).
inline Vector fd_gradient(const Fn& f, const Vector& x, Index begin, Index end, double h) {
  Vector g(end - begin);
  Vector xp = x;
  for (Index k = begin; k < end; ++k) {
    xp[k] = x[k] + h;
    const double fp = f(xp);
    xp[k] = x[k] - h;
    const double fm = f(xp);
    xp[k] = x[k];
    g[k - begin] = (fp - fm) / (2.0 * h);
  }
  return g;
}

}  // namespace dposg::test
