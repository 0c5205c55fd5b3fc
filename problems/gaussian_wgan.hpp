#pragma once
// gaussian-wgan: learn the mean of a Gaussian with a linear critic; the noise comes from data.
//
// Conventions (problems/README.md): d = --dim (even), n = d/2; u = first n coordinates = the
// generator's mean (generator G_u(e) = u + e, e ~ N(0, I_n)); v = the rest = a linear critic
// D_v(x) = v^T x. Real data x ~ N(mu*, I_n).
//   f(u, v) = E[v^T x_real] - E[v^T (u + e)] = v^T (mu* - u),
//   g(z)    = [grad_u f, -grad_v f] = [-v, u - mu*].
// Solution x* = (mu*, 0): mu* is a Gaussian vector of length n from make_rng(--seed, instance, 0)
// rescaled to norm --solution-norm, so ||x*|| = --solution-norm.
// Stochastic operator (data-driven noise): worker i draws, from rngs[i], for j = 0..m-1 (m = batch)
// one buffer of 2n standard normals: the first n are xi_j (real sample x_j = mu* + xi_j), the
// next n are e_j (fake noise). Then
//   g(z; xi) = [-v, u + mean_j(e_j) - mean_j(x_j)]        (cost O(n m) per worker).
// The u-part is exact; each v-coordinate has variance 1/m + 1/m, so
//   E||g(z; xi) - g(z)||^2 = 2n/m, i.e. the per-sample sigma = sqrt(2n) = sqrt(d).
// --noise is NOT used (the noise is whatever the data gives); constants().sigma = sqrt(2n).
// Options read: --dim, --solution-norm, --seed.
//
// Constants (why they are bounds):
//   L = 1: g(z) = K (z - x*) with K = [[0, -I], [I, 0]] orthogonal, ||K|| = 1.
//   D = 4 max(1, ||x*||).
//   G = D/2 + ||x*||: ||g(z)|| = ||z - x*|| <= ||z|| + ||x*|| on the ball ||z|| <= D/2.
//   (iv): <g(z), z - x*> = <K w, w> = 0 for every z (skew): monotone, holds with equality.
#include "core/problem.hpp"
#include "problems/options.hpp"

namespace dposg::problems {

class GaussianWganProblem final : public Problem {
 public:
  explicit GaussianWganProblem(const SyntheticOptions& opts);

  std::string name() const override { return "gaussian-wgan"; }
  Index dim() const override { return 2 * n_; }
  Index dim_u() const override { return n_; }
  void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const override;
  void exact(const Matrix& Z, Matrix& G) const override;
  ProblemConstants constants() const override { return constants_; }
  void write_instance(InstanceWriter& out) const override;

 private:
  Index n_;
  Vector mu_star_;  // n
  ProblemConstants constants_;
};

}  // namespace dposg::problems
