#pragma once
// Shared pieces of bench_dposg: a cheap problem, thread-parallel loops and the bytes models.
#include <cmath>
#include <cstdint>
#include <string>

#include "core/mixer.hpp"
#include "core/parallel_ranges.hpp"
#include "core/problem.hpp"
#include "core/types.hpp"

namespace dposg::bench {

// A cheap game for timing the engine, O(d) per worker and free of dense matrices:
//   f(u, v) = (a/2)||u - c||^2 + b (u - c)^T (v - c) - (a/2)||v - c||^2,   z = (u, v), u, v in R^n,
//   g(z) = [a(u - c) + b(v - c), -b(u - c) + a(v - c)] = J (z - c 1),  J = [[aI, bI], [-bI, aI]],
// i.e. n independent 2x2 blocks [[a, b], [-b, a]] pairing u_k with v_k. The solution x* = c 1 is
// kept away from 0 so that converging iterates never reach subnormal numbers (which would slow the
// timing down). Noise-free: `sample` is the exact operator, so the timings exclude the cost of
// drawing Gaussian noise (which would dominate: ~10-20 ns per coordinate for mt19937_64 + normal).
// Memory traffic of one call: reads Z once, writes G once (16 B per worker per coordinate).
class RotationGame final : public Problem {
 public:
  RotationGame(Index d, double a = 0.1, double b = 1.0, double c = 1.0) : n_(d / 2), a_(a), b_(b), c_(c) {}
  std::string name() const override { return "bench-rotation-game"; }
  Index dim() const override { return 2 * n_; }
  Index dim_u() const override { return n_; }
  void sample(const Matrix& Z, Index, WorkerRngs&, Matrix& G) const override { exact(Z, G); }
  void exact(const Matrix& Z, Matrix& G) const override {
    G.resize(Z.rows(), Z.cols());
    const Index n = n_, d = 2 * n_;
    const double a = a_, b = b_, c = c_;
    const double* z = Z.data();
    double* g = G.data();
    // The pairs (k, n + k) of one column: split over the n pair indices of all columns.
    for_each_flat_range(n, Z.cols(), [&](Index col, Index k0, Index k1) {
      const double* zu = z + col * d;
      const double* zv = zu + n;
      double* gu = g + col * d;
      double* gv = gu + n;
      for (Index k = k0; k < k1; ++k) {
        const double u = zu[k] - c, v = zv[k] - c;
        gu[k] = a * u + b * v;
        gv[k] = -b * u + a * v;
      }
    });
  }
  ProblemConstants constants() const override {
    ProblemConstants k;
    k.L = std::hypot(a_, b_);
    k.sigma = 0.0;
    k.x_star = Vector::Constant(2 * n_, c_);
    k.D = 4.0 * std::max(1.0, k.x_star->norm());
    k.G = k.L * (k.D / 2.0 + k.x_star->norm());
    return k;
  }
  void write_instance(InstanceWriter& out) const override {
    out.text("formula", "g(z) = [a(u-c) + b(v-c), -b(u-c) + a(v-c)] (benchmark game)");
    out.scalar("a", a_);
    out.scalar("b", b_);
    out.scalar("c", c_);
  }

 private:
  Index n_;
  double a_, b_, c_;
};

// Bytes models (STREAM convention: every array element read or written counts 8 B once; the
// write-allocate read a cache brings in before a store is not counted, as in STREAM itself).
//   mix, t >= 1 rounds: X is read once and written once per call, whatever t is (every row block
//     takes all t rounds in cache):                              2 * 8 * d * M
//   mix by whole columns (many workers: mixes_whole_columns), each round reads one d x M matrix
//     and writes the other, and reads W's rows (a 24 B vector per node, 16 B an entry):
//                                                                t * (2 * 8 * d * M + W's bytes)
//   OSG step:  Z = X - eta G_prev   (read X, G_prev; write Z)      3 passes
//              G = g(Z)             (read Z; write G = G_prev)     2 passes (the bench game)
//              X = X - eta G        (read X, G; write X)           3 passes
//                                                                  8 * 8 * d * M
//   DPOSG iteration = mix + OSG step:                              10 * 8 * d * M
//   STREAM triad a = b + s c:                                      3 * 8 * N
inline double mix_bytes(Index d, Index M, int t) { return t > 0 ? 2.0 * 8.0 * static_cast<double>(d * M) : 0.0; }
inline double topology_entries(const Topology& W) {
  double entries = 0.0;
  for (const auto& row : W.rows) entries += static_cast<double>(row.size());
  return entries;
}
inline double topology_bytes(const Topology& W) { return 24.0 * static_cast<double>(W.workers) + 16.0 * topology_entries(W); }
// The bytes of the path `mixer` takes for this shape.
inline double mix_bytes(Index d, Index M, int t, const CpuMixer& mixer) {
  if (!mixer.takes_whole_columns(d, M, t)) return mix_bytes(d, M, t);
  return static_cast<double>(t) * (2.0 * 8.0 * static_cast<double>(d * M) + topology_bytes(mixer.schedule().base()));
}
// The whole-column mix as if no neighbour's column came from cache: each entry of a node's row
// reads that neighbour's d-column, and the node's column is written (a bound from above for the ring,
// whose neighbours' columns were just read for the node before; about what exponential's offsets
// past the caches' reach and random-ring's random columns cost). 0 where the row blocks are taken.
inline double gather_bytes(Index d, Index M, int t, const CpuMixer& mixer) {
  if (!mixer.takes_whole_columns(d, M, t)) return 0.0;
  const Topology& W = mixer.schedule().base();
  return static_cast<double>(t) *
         (8.0 * static_cast<double>(d) * (topology_entries(W) + static_cast<double>(M)) + topology_bytes(W));
}
inline double step_bytes(Index d, Index M) { return 8.0 * 8.0 * static_cast<double>(d * M); }
inline double iteration_bytes(Index d, Index M, int t) { return mix_bytes(d, M, t) + step_bytes(d, M); }
inline double iteration_bytes(Index d, Index M, int t, const CpuMixer& mixer) {
  return mix_bytes(d, M, t, mixer) + step_bytes(d, M);
}

}  // namespace dposg::bench
