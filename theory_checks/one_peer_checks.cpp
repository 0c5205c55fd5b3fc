// Remark 2's kind of check for the time-varying one-peer exponential schedule (BlueFog; issue #18):
// its claim that tau = log2 M rounds average exactly for M a power of two, the closed form of its
// product deviation against dense products of the schedule's own W_g, and the claim realized by
// the mixer that runs gossip with.
#include <algorithm>
#include <cmath>

#include "core/graphs.hpp"
#include "core/mixer.hpp"
#include "theory_checks/verify.hpp"

namespace dposg::verify {
namespace {

// W_{g0+t-1} ... W_{g0} - 11^T/M from the dense W_g that the schedule hands the mixers.
Matrix dense_product_minus_J(const MixingSchedule& s, std::int64_t g0, int t) {
  const Index M = s.workers();
  Matrix P = Matrix::Identity(M, M);
  // Iteration g0's round r is g = g0 + r (core/mixer.hpp).
  for (int r = 0; r < t; ++r) P = s.at(g0, r).dense() * P;
  P.array() -= 1.0 / static_cast<double>(M);
  return P;
}
double dense_deviation(const MixingSchedule& s, std::int64_t g0, int t) {
  return dense_product_minus_J(s, g0, t).jacobiSvd().singularValues()(0);
}

}  // namespace

void check_one_peer(Context& ctx) {
  const std::string check = "one-peer";
  const Index top = ctx.quick() ? 256 : 1024;
  double worst = 0;
  Index worst_M = 0;
  for (Index M = 2; M <= top; M *= 2) {
    const MixingSchedule s("one-peer-exponential", M, 0);
    const int tau = one_peer_period(M);
    // Every phase: an iteration may start anywhere in the period.
    for (int g0 = 0; g0 < tau; ++g0) {
      // The Frobenius norm bounds the spectral one from above (and costs no SVD at M = 1024).
      const double dev = dense_product_minus_J(s, g0, tau).norm();
      if (dev >= worst) worst = dev, worst_M = M;
    }
  }
  ctx.add(make_row(check,
                   "one-peer exponential, M = 2^k <= " + std::to_string(top) +
                       ": max over M and phases ||W_{g+tau-1}..W_g - 11^T/M||_F (>= ||.||_2; dense product), tau = log2 M",
                   worst, "<=", 1e-12, worst <= 1e-12 ? Status::pass : Status::fail,
                   "exact averaging after log2 M rounds; worst at M = " + std::to_string(worst_M)));

  // The closed form max_j prod_g |cos(pi j h_g / M)| that the runs record, against the dense SVD,
  // on sizes that are not powers of two (where the products do not vanish).
  double diff = 0;
  for (Index M : {3, 5, 6, 12, 24, 40}) {
    const MixingSchedule s("one-peer-exponential", M, 0);
    const int tau = one_peer_period(M);
    for (int t = 1; t <= tau + 2; ++t)
      for (int g0 = 0; g0 < tau; ++g0)
        diff = std::max(diff, std::abs(s.product_deviation(t, g0) - dense_deviation(s, g0, t)));
  }
  ctx.add(make_row(check, "one-peer exponential, M in {3, 5, 6, 12, 24, 40}, t <= tau + 2: max |closed form - dense SVD|",
                   diff, "<=", 1e-10, diff <= 1e-10 ? Status::pass : Status::fail));

  // Not a power of two, tau rounds do not average: the claim is the powers of two's alone.
  const double left = one_peer_product_deviation(12, 0, one_peer_period(12));
  ctx.add(make_row(check, "one-peer exponential, M = 12: ||W_{tau}..W_1 - 11^T/M||_2 after tau = 4 rounds (control)",
                   left, ">=", 1e-3, left >= 1e-3 ? Status::pass : Status::fail,
                   "the exact-averaging claim is for M a power of two only"));

  // Through the mixer the runs use (CpuMixer, t = tau = 4 rounds, M = 16): from a spread start
  // every worker holds the average after one gossip, at every iteration's phase; the ring does not.
  auto spread_after = [](const std::string& kind, std::int64_t k) {
    const Index M = 16;
    Matrix X(5, M);
    for (Index i = 0; i < M; ++i)
      for (Index r = 0; r < 5; ++r) X(r, i) = std::cos(1.0 + 3.0 * static_cast<double>(i) + 7.0 * static_cast<double>(r));
    const Vector mean = X.rowwise().mean();
    const double before = (X.colwise() - mean).squaredNorm();
    CpuMixer(MixingSchedule(kind, M, 0)).mix(X, 4, k);
    return (X.colwise() - mean).squaredNorm() / before;
  };
  double peer = 0, ring = 0;
  for (std::int64_t k = 1; k <= 4; ++k) {
    peer = std::max(peer, spread_after("one-peer-exponential", k));
    ring = std::max(ring, spread_after("ring", k));
  }
  ctx.add(make_row(check,
                   "CpuMixer, M = 16, t = 4, iterations 1..4: max ||X - mean||_F^2 / ||X_0 - mean||_F^2 after one gossip",
                   peer, "<=", 1e-28, peer <= 1e-28 ? Status::pass : Status::fail,
                   "ring at the same t: " + short_number(ring)));
}

}  // namespace dposg::verify
