#pragma once
// One RNG facility. Every worker owns a stream derived from (seed, worker), so the in-process
// simulator and a distributed run that holds only some workers draw the same numbers.
// Streams for other purposes (problem instances, random mixing) are derived from (seed, purpose, k)
// the same way, so they never depend on the order in which anything else was drawn.
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "core/types.hpp"

namespace dposg {

using Rng = std::mt19937_64;

// SplitMix64 finaliser: a bijective mixer that decorrelates nearby seeds.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class StreamPurpose : std::uint64_t {
  worker = 1,       // per-worker sampling noise
  instance = 2,     // the problem instance (matrices, shift x*)
  mixing = 3,       // random topologies, keyed by (iteration, round)
  init = 4,         // random initial points
  evaluation = 5,   // large-batch estimates of g where no exact operator exists
  compression = 6,  // randomized compressors, keyed by (channel, worker, iteration)
  graph = 7,        // random graphs (erdos-renyi), keyed by the redraw
};

inline std::uint64_t derive_seed(std::uint64_t seed, StreamPurpose purpose, std::uint64_t k = 0) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<std::uint64_t>(purpose)) + k);
}

inline Rng make_rng(std::uint64_t seed, StreamPurpose purpose, std::uint64_t k = 0) {
  return Rng(derive_seed(seed, purpose, k));
}

// Per-worker streams for workers [first, first + count) of a run with the given seed: stream i is
// make_rng(seed, StreamPurpose::worker, first + i), the same numbers bit for bit.
//
// At a million workers the streams are 2.5 GB (an mt19937_64 is 312 words) and seeding them one by
// one dominated the start-up (issue #20: each seed is a 312-step dependent chain, then the first draw
// twists all 312 words from cold memory). So they are built in batches: the seeding chains of
// kSeedLanes streams interleaved (independent multiplies in flight instead of one latency-bound
// chain), the first twist done at once while the batch is in cache, on all threads, into one
// allocation marked for huge pages (a 2.5 GB buffer faulted in 4 KiB pages cost more than the
// seeding). The state is written as libstdc++ lays an mt19937_64 out (x[312], then the index);
// elsewhere each stream is constructed as before (core/rng.cpp).
// Frees WorkerRngs' storage: mapped (large) or from operator new (small), by its size.
struct RngStorageRelease {
  std::size_t bytes = 0;
  void operator()(Rng* p) const;
};

class WorkerRngs {
 public:
  WorkerRngs(std::uint64_t seed, Index count, Index first = 0);
  WorkerRngs(const WorkerRngs& other);
  WorkerRngs& operator=(const WorkerRngs& other);
  WorkerRngs(WorkerRngs&&) noexcept = default;
  WorkerRngs& operator=(WorkerRngs&&) noexcept = default;
  Rng& operator[](Index local) { return streams_.get()[local]; }
  const Rng& operator[](Index local) const { return streams_.get()[local]; }
  Index size() const { return count_; }

 private:
  void allocate(Index count);
  Index count_ = 0;
  std::unique_ptr<Rng, RngStorageRelease> streams_;
};

// The state of make_rng(seed, StreamPurpose::worker, first + i) for i < count after its first twist,
// written to out[i] (the batched construction above, exposed for tests/test_rng.cpp).
void seed_worker_streams(std::uint64_t seed, Index first, Index count, Rng* out);

// Fills v with independent N(0, stddev^2) draws.
inline void fill_normal(Rng& rng, double stddev, Eigen::Ref<Vector> v) {
  std::normal_distribution<double> n(0.0, stddev);
  for (Index i = 0; i < v.size(); ++i) v[i] = n(rng);
}

}  // namespace dposg
