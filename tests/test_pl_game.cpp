// ctest-label: unit
// pl-game (problems/pl_game.hpp): the operator against finite differences of f, both PL inequalities
// against the closed-form inner minimum and maximum, Lipschitz bound, g(x*) = 0 and Assumption 1 (iv).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "problems/pl_game.hpp"

using namespace dposg;
using dposg::problems::PlGameProblem;
using dposg::problems::SyntheticOptions;

namespace {

PlGameProblem make(Index dim, double cond, double coupling) {
  SyntheticOptions o;
  o.dim = dim;
  o.cond = cond;
  o.coupling = coupling;
  o.noise = 0.0;
  o.seed = 9;
  return PlGameProblem(o);
}

Vector gaussian(Index n, std::mt19937_64& rng, double scale) {
  std::normal_distribution<double> nd(0.0, scale);
  Vector v(n);
  for (Index i = 0; i < n; ++i) v[i] = nd(rng);
  return v;
}

Vector g_at(const PlGameProblem& p, const Vector& z) {
  Matrix G;
  p.exact(Matrix(z), G);
  return G.col(0);
}

}  // namespace

TEST_CASE("pl-game: g is [grad_u f, -grad_v f] by central differences", "[problems]") {
  const auto p = make(8, 5.0, 0.7);
  std::mt19937_64 rng(1);
  const Index n = p.dim_u();
  for (int trial = 0; trial < 5; ++trial) {
    const Vector z = gaussian(p.dim(), rng, 1.0);
    const Vector g = g_at(p, z);
    const double h = 1e-5;
    for (Index j = 0; j < p.dim(); ++j) {
      Vector a = z, b = z;
      a[j] += h;
      b[j] -= h;
      const double df = (p.value(a) - p.value(b)) / (2 * h);
      CHECK(g[j] == Approx(j < n ? df : -df).margin(1e-7));
    }
  }
}

TEST_CASE("pl-game: two-sided PL with mu = 1/cond against the closed-form inner problems", "[problems]") {
  for (double cond : {1.0, 4.0, 30.0}) {
    const auto p = make(10, cond, 1.5);
    const Index n = p.dim_u();
    const Matrix& J = p.J();
    const Matrix P = J.topLeftCorner(n, n), R = J.topRightCorner(n, n), Q = J.bottomRightCorner(n, n);
    const Vector xs = *p.constants().x_star;
    std::mt19937_64 rng(2);
    for (int trial = 0; trial < 20; ++trial) {
      const Vector z = gaussian(p.dim(), rng, 2.0);
      const Vector w = z - xs;
      const Vector wu = w.head(n), wv = w.tail(n);
      const Vector g = g_at(p, z);
      // min_u f(., v) at u - u* = -P^{-1} R (v - v*); max_v f(u, .) at v - v* = Q^{-1} R^T (u - u*).
      const double min_u = -0.5 * wv.dot(R.transpose() * P.ldlt().solve(R * wv)) - 0.5 * wv.dot(Q * wv);
      const double max_v = 0.5 * wu.dot(P * wu) + 0.5 * wu.dot(R * Q.ldlt().solve(R.transpose() * wu));
      const double f = p.value(z);
      INFO("cond " << cond);
      CHECK(f >= min_u - 1e-9);
      CHECK(max_v >= f - 1e-9);
      CHECK(0.5 * g.head(n).squaredNorm() >= p.mu_u() * (f - min_u) * (1 - 1e-9) - 1e-12);
      CHECK(0.5 * g.tail(n).squaredNorm() >= p.mu_v() * (max_v - f) * (1 - 1e-9) - 1e-12);
    }
    // mu is tight: the smallest eigenvalue of P is 1/cond.
    CHECK(Eigen::SelfAdjointEigenSolver<Matrix>(P).eigenvalues()(0) == Approx(1.0 / cond));
  }
}

TEST_CASE("pl-game: Assumption 1 (i), (iii), (iv) and g(x*) = 0", "[problems]") {
  const auto p = make(12, 8.0, 1.0);
  const auto k = p.constants();
  const Vector xs = *k.x_star;
  CHECK(g_at(p, xs).norm() < 1e-12);
  std::mt19937_64 rng(3);
  const double L_svd = Eigen::JacobiSVD<Matrix>(p.J()).singularValues()(0);
  CHECK(k.L == Approx(L_svd));
  for (int trial = 0; trial < 50; ++trial) {
    const Vector a = gaussian(p.dim(), rng, 1.0), b = gaussian(p.dim(), rng, 1.0);
    CHECK((g_at(p, a) - g_at(p, b)).norm() <= k.L * (a - b).norm() * (1 + 1e-12));
    CHECK(g_at(p, a).dot(a - xs) >= -1e-12);
    // (iii) on the ball ||z|| <= D/2.
    const Vector on_ball = a.normalized() * (k.D / 2);
    CHECK(g_at(p, on_ball).norm() <= k.G);
  }
}
