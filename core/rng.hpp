#pragma once
// One RNG facility. Every worker owns a stream derived from (seed, worker), so the in-process
// simulator and a distributed run that holds only some workers draw the same numbers.
// Streams for other purposes (problem instances, random mixing) are derived from (seed, purpose, k)
// the same way, so they never depend on the order in which anything else was drawn.
#include <cstdint>
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

// Per-worker streams for workers [first, first + count) of a run with the given seed.
class WorkerRngs {
 public:
  WorkerRngs(std::uint64_t seed, Index count, Index first = 0) {
    streams_.reserve(static_cast<std::size_t>(count));
    for (Index i = 0; i < count; ++i)
      streams_.push_back(make_rng(seed, StreamPurpose::worker, static_cast<std::uint64_t>(first + i)));
  }
  Rng& operator[](Index local) { return streams_[static_cast<std::size_t>(local)]; }
  Index size() const { return static_cast<Index>(streams_.size()); }

 private:
  std::vector<Rng> streams_;
};

// Fills v with independent N(0, stddev^2) draws.
inline void fill_normal(Rng& rng, double stddev, Eigen::Ref<Vector> v) {
  std::normal_distribution<double> n(0.0, stddev);
  for (Index i = 0; i < v.size(); ++i) v[i] = n(rng);
}

}  // namespace dposg
