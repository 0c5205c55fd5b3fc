#pragma once
// One RNG facility. Every worker owns a stream derived from (seed, worker), so the in-process
// simulator and a distributed run that holds only some workers draw the same numbers.
// Streams for other purposes (problem instances, random mixing) are derived from (seed, purpose, k)
// the same way, so they never depend on the order in which anything else was drawn.
#include <cstdint>
#include <utility>
#include <random>
#include <vector>

#include "core/lazy_mt19937_64.hpp"
#include "core/types.hpp"

namespace dposg {

// std::mt19937_64's streams, bit for bit, compact until their 157th draw.
using Rng = LazyMt19937_64;

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
  noise_keys = 8,   // --noise-normals ziggurat: a key per (worker, sampling round)
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
// At a million workers, full mt19937_64 states are 2.5 GB (312 words each); seeding and
// first-touching them was most of the start-up (issue #20). Each stream is an Rng in its compact
// form (40 bytes: core/lazy_mt19937_64.hpp), built in batches (the seeding chains of several
// streams interleaved, on all threads), plus a reserved slot of 312 words that the stream fills
// only at its 157th draw. The slots are one mapping marked for huge pages and never touched before
// (the kernel zeroes a page when a stream first writes it), so a run pays for the state of the
// streams that go past 156 draws, when they do.
class WorkerRngs {
 public:
  WorkerRngs(std::uint64_t seed, Index count, Index first = 0);
  WorkerRngs(const WorkerRngs& other);
  WorkerRngs& operator=(const WorkerRngs& other);
  WorkerRngs(WorkerRngs&& other) noexcept;
  WorkerRngs& operator=(WorkerRngs&& other) noexcept;
  ~WorkerRngs();
  Rng& operator[](Index local) { return streams()[local]; }
  const Rng& operator[](Index local) const { return streams()[local]; }
  Index size() const { return count_; }

  // Counter-based keys (--noise-normals ziggurat): the key of local worker i in round n is a hash
  // of (seed, first + i, n), so drawing keys leaves the mt19937_64 streams untouched (compact, 40 B,
  // however long the run) and a process holding only some workers computes the same keys. A round
  // is one call of a problem's sample(), which draws for every worker: all advance together, and
  // the checkpoint needs only the round count. Copies carry it (same_samples' copy draws the same).
  std::uint64_t begin_key_round() { return key_rounds_++; }
  std::uint64_t key(Index local, std::uint64_t round) const {
    return splitmix64(derive_seed(seed_, StreamPurpose::noise_keys, static_cast<std::uint64_t>(first_ + local)) + round);
  }
  std::uint64_t key_rounds() const { return key_rounds_; }
  void set_key_rounds(std::uint64_t n) { key_rounds_ = n; }

 private:
  // Storage from mmap (large: huge pages, reserved but untouched) or operator new (small).
  class Block {
   public:
    Block() = default;
    explicit Block(std::size_t bytes);
    Block(Block&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    Block& operator=(Block&& o) noexcept;
    ~Block();
    void* get() const { return p_; }

   private:
    void* p_ = nullptr;
    std::size_t bytes_ = 0;
  };

  explicit WorkerRngs(Index count);  // storage only: the streams are constructed by the caller
  Rng* streams() const { return static_cast<Rng*>(streams_.get()); }
  std::uint64_t* slot(Index i) const { return static_cast<std::uint64_t*>(states_.get()) + i * Index{Rng::state_size}; }
  void destroy();
  Index count_ = 0;
  std::uint64_t seed_ = 0;
  Index first_ = 0;
  std::uint64_t key_rounds_ = 0;
  Block streams_, states_;
};

// Fills v with independent N(0, stddev^2) draws.
inline void fill_normal(Rng& rng, double stddev, Eigen::Ref<Vector> v) {
  std::normal_distribution<double> n(0.0, stddev);
  for (Index i = 0; i < v.size(); ++i) v[i] = n(rng);
}

}  // namespace dposg
