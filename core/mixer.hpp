#pragma once
// Mixer: applies W^t to the d x M matrix of worker iterates (one gossip round = X <- X W).
//
// MixingSchedule says which W acts at round r of iteration k; it is shared by every backend so
// that an in-process run and a distributed one mix identically. Random kinds (random-ring) draw
// round r of iteration k from (seed, k, r) alone: any process can reproduce any round.
// CpuMixer is the in-process backend; other backends implement Mixer below the same driver.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/topology.hpp"
#include "core/types.hpp"

namespace dposg {

class StateArchive;  // core/checkpoint.hpp

std::vector<std::string> topology_names();

// E||W_t ... W_1 - 11^T/M||_2 over draws of the random rounds (Remark 2), with the standard error of
// the mean. method: dense (SVD of the M x M product, small M), Lanczos (the product applied by
// neighbours, core/spectral.hpp), rho^t (a fixed W, exact).
struct DeviationEstimate {
  double mean = 0.0;
  double std_error = 0.0;
  int draws = 0;
  std::string method;
  double max = 0.0;  // the largest draw (one-peer-exponential: the worst phase of its period)
  // Lanczos: the mean over draws of each stop's stated error (core/spectral.hpp, RitzValue::change
  // in the norm). Each draw's value approaches its norm from below, so the true mean lies in
  // [mean, mean + convergence_error] up to the Monte-Carlo error std_error.
  double convergence_error = 0.0;
  int lanczos_steps = 0;  // the most steps any draw took
};
// The dense SVD of the product for M at or below this; above, Lanczos on neighbour products.
inline constexpr Index kDenseDeviationMaxWorkers = 128;
// Lanczos draws come in batches of this many (in parallel) until the mean's standard error is
// below 1e-3 of it.
inline constexpr int kMinDeviationDraws = 4;
// Each draw's Lanczos stops once the norm rose by at most this fraction over the last half of its
// steps (half the Monte-Carlo target above; ~75 steps at M = 10^6, t = 2, where 1e-4 took ~185),
// and after at most kDeviationLanczosMaxSteps.
inline constexpr double kDeviationLanczosTolerance = 5e-4;
inline constexpr int kDeviationLanczosMaxSteps = 4000;

class MixingSchedule {
 public:
  // kind: one of topology_names() (core/graphs.hpp for star, grid, erdos-renyi, one-peer-exponential).
  // edge_prob: erdos-renyi's p (0: default_edge_prob(M)). Throws InputError naming --topology,
  // --workers, --topology-file or --edge-prob on bad input.
  MixingSchedule(const std::string& kind, Index workers, std::uint64_t seed, const std::string& file = "",
                 double edge_prob = 0.0);
  // A fixed W given directly (already validated by the caller), reported under `label`.
  MixingSchedule(Topology W, std::string label);

  const std::string& kind() const { return kind_; }
  Index workers() const { return workers_; }
  bool is_random() const { return kind_ == "random-ring"; }
  // W differs between rounds (random-ring; one-peer-exponential, whose round g of iteration k is
  // g = k + r: each iteration starts one step further along the period, so every phase recurs).
  bool is_time_varying() const { return is_random() || kind_ == "one-peer-exponential"; }
  // erdos-renyi: the p used and the draw that was connected (0: the first).
  double edge_prob() const { return edge_prob_; }
  int graph_attempt() const { return graph_attempt_; }
  // W = 11^T/M: one round already reaches exact consensus, so rounds beyond the first are skipped
  // (and not counted as communication).
  bool is_complete() const { return kind_ == "complete" && workers_ > 1; }
  // The rounds that t rounds of gossip take on this W: at most one for complete, t otherwise (every
  // mixer and engine counts and applies rounds through this).
  int effective_rounds(int t) const { return is_complete() ? std::min(t, 1) : t; }

  // The fixed W (for random-ring: the ring in natural order, whose spectrum every drawn ring shares;
  // for one-peer-exponential: round 0's W).
  const Topology& base() const { return base_; }
  Topology at(std::int64_t iteration, int round) const;
  // at(iteration, round) written into W, reusing its rows for random-ring.
  void at_into(std::int64_t iteration, int round, Topology& W) const;
  // random-ring: the order of the ring drawn for (iteration, round), at(iteration, round) being
  // permuted_ring_topology of it; written into perm's storage.
  void permutation_into(std::int64_t iteration, int round, std::vector<Index>& perm) const;
  const Spectrum& base_spectrum() const { return spectrum_; }
  double rho() const { return spectrum_.rho; }

  // ||W_t ... W_1 - 11^T/M||_2 for one draw (fixed W: rho^t exactly), and its mean over draws
  // for random kinds (Remark 2), from a stream independent of the run's own rounds.
  double product_deviation(int rounds, std::int64_t draw) const;
  // The same with the stated error of the Lanczos stop (0 for the exact paths).
  struct Draw {
    double value = 0.0, convergence_error = 0.0;
    int lanczos_steps = 0;
  };
  Draw product_deviation_draw(int rounds, std::int64_t draw) const;
  double mean_product_deviation(int rounds, int draws) const;
  // The mean with its Monte-Carlo error, at most `draws` draws; cached per (kind, M, seed, rounds,
  // draws) within the process, so that a sweep computes it once.
  DeviationEstimate product_deviation_estimate(int rounds, int draws) const;

  // Bytes the busiest node sends in one iteration of `rounds` gossip rounds on a d-vector of doubles.
  double bytes_busiest_per_iteration(Index d, int rounds) const;

 private:
  std::vector<Index> round_permutation(std::int64_t iteration, int round) const;
  // The seed of that permutation's stream.
  std::uint64_t round_seed(std::int64_t iteration, int round) const;
  std::string kind_;
  Index workers_;
  std::uint64_t seed_;
  double edge_prob_ = 0.0;
  int graph_attempt_ = 0;
  Topology base_;
  Spectrum spectrum_;
};

class Mixer {
 public:
  virtual ~Mixer() = default;
  virtual const MixingSchedule& schedule() const = 0;
  // X <- X W_{k,1} W_{k,2} ... W_{k,rounds}; rounds = 0 leaves X as it is.
  virtual void mix(Matrix& X, int rounds, std::int64_t iteration) const = 0;
  // mix(X, rounds, iteration) and work(), which must not touch X, as concurrently as the backend
  // allows (DriverOptions::overlap). In one process there is no network to wait for, so the default
  // runs them one after the other; MpiMixer exchanges on a thread of its own while work() runs.
  // The result is the same either way.
  virtual void mix_while(Matrix& X, int rounds, std::int64_t iteration, const std::function<void()>& work) const {
    work();
    mix(X, rounds, iteration);
  }
  // Bytes the busiest node sends in one iteration of `rounds` rounds on d-vectors: d doubles to
  // each neighbour per round, unless a mixer sends something else (compressed messages, nothing).
  virtual double bytes_busiest_per_iteration(Index d, int rounds) const {
    return schedule().bytes_busiest_per_iteration(d, rounds);
  }
  // Cumulative bytes the busiest node has sent so far, for a mixer that counts what it sends
  // (a distributed one, whose messages vary with the drawn W); nullopt: rounds x the figure above.
  virtual std::optional<double> bytes_busiest_sent() const { return std::nullopt; }
  // Checkpoints (core/checkpoint.hpp), as StepRule's: a mixer with state (CHOCO's public copies, a
  // byte count) saves it under `prefix` and restores it after the run's init. Const, like mix: the
  // state is the communication layer's. A mixer that does not override these cannot be checkpointed.
  virtual bool checkpointable() const { return false; }
  virtual void save_state(StateArchive&, const std::string& /*prefix*/) const {}
  virtual void load_state(const StateArchive&, const std::string& /*prefix*/) const {}
};

// In-process gossip: sparse neighbour sums, applied to cache-sized blocks of rows so that all
// t rounds happen on a block before it returns to memory (W^t acts on each row independently).
// Whether CpuMixer mixes d x M on `threads` threads one round at a time over whole columns (many
// workers, few rows) rather than by row blocks that take all rounds in cache; the sums are the
// same either way.
bool mixes_whole_columns(Index d, Index M, int threads);

class CpuMixer final : public Mixer {
 public:
  explicit CpuMixer(MixingSchedule schedule);
  const MixingSchedule& schedule() const override { return schedule_; }
  void mix(Matrix& X, int rounds, std::int64_t iteration) const override;
  // Whether mix() takes the whole-column path for d x M over `rounds` rounds, on the threads it
  // would use (one below its parallel threshold).
  bool takes_whole_columns(Index d, Index M, int rounds) const;
  // Random rounds are drawn from (seed, iteration, round) alone: nothing to save.
  bool checkpointable() const override { return true; }

 private:
  int threads_for(Index d, Index M, int rounds) const;
  MixingSchedule schedule_;
  // The drawn rounds' W, kept between calls so that their rows are rewritten, not reallocated.
  mutable std::vector<Topology> drawn_;
  // random-ring on whole columns: each round's ring order and its rows as node triples
  // (core/topology.hpp, permuted_ring_triples) instead of drawn_, kept between calls likewise.
  mutable std::vector<std::vector<Index>> ring_orders_;
  mutable std::vector<std::vector<std::uint32_t>> ring_triples_;
  mutable std::mutex drawn_lock_;
  // A fixed W's translate_runs (core/topology.hpp), for its column path; empty otherwise.
  std::vector<NodeRun> base_runs_;
};

}  // namespace dposg
