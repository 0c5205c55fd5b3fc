#pragma once
// Standard normals at a few nanoseconds each, for `--noise-normals ziggurat` (issue #20).
//
// std::normal_distribution over mt19937_64 costs ~25 ns a normal: at a million workers the noise
// of one iteration took longer than its mixing and its operator together, and reproducing std's
// numbers in bulk was no faster (bench/README.md). This is the other generator, opt-in because it
// gives different numbers:
// - each call takes a key k = hash(seed, worker, round) from WorkerRngs (core/rng.hpp): a counter,
//   not a draw, so the workers' mt19937_64 streams stay compact (40 B) however long the run (a
//   word drawn a call materialized their 2.5 KB at the 157th), the MPI split of workers over ranks
//   computes the same keys, and a checkpoint holds one round count;
// - k seeds a SplitMix64 stream split off as java.util.SplittableRandom.split() does (seed and odd
//   gamma both mixed from k), so the streams of different calls are not shifts of one sequence;
// - its words become normals by the 256-layer ziggurat of Marsaglia & Tsang (2000) in the 64-bit
//   form of NumPy's Generator (8 bits layer, 1 bit sign, 52 bits magnitude; ~99 % of the normals
//   cost one word, a multiply and a compare; the wedges and the tail beyond r are exact).
#include <array>
#include <bit>
#include <cstdint>

#include "core/types.hpp"

namespace dposg {

// SplitMix64 with a per-stream odd gamma: word j is mix64(seed + (j + 1) * gamma).
class SplitStream {
 public:
  // The stream split off by key k (one draw of a worker's stream).
  explicit SplitStream(std::uint64_t key);
  SplitStream(std::uint64_t seed, std::uint64_t gamma) : state_(seed), gamma_(gamma | 1) {}
  std::uint64_t operator()() {
    state_ += gamma_;
    return mix64(state_);
  }
  // Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  std::uint64_t gamma() const { return gamma_; }
  std::uint64_t state() const { return state_; }
  static std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_, gamma_;
};

// The ziggurat's layers, computed once from (r, v) by Marsaglia & Tsang's recurrence.
struct ZigguratTables {
  static constexpr int kLayers = 256;
  static constexpr double r = 3.6541528853610087963519472518;  // right edge of the base layer
  static constexpr double v = 4.92867323399e-3;                // area of every layer
  std::array<std::uint64_t, kLayers> k;  // 52-bit magnitudes below k[i] lie in layer i's inner rectangle
  std::array<double, kLayers> w;         // magnitude * w[i] = x
  std::array<double, kLayers> f;         // exp(-x_i^2 / 2) at the layer edges
  std::array<double, kLayers> x;         // the edges x_i (x[0] = v / f(r), the base's pseudo-width)
  static const ZigguratTables& get();
};

// The normal for a word that fell outside its layer's inner rectangle (the wedge test, the tail
// beyond r, fresh words until one is accepted), with the stream after it. Out of line and cold,
// and the stream passed by value, so that the ~99 % fast path keeps the stream in a register
// (by reference it lived on the stack: a store-load chain through every normal).
struct ZigguratSlow {
  double value;
  SplitStream stream;
};
[[gnu::noinline, gnu::cold]] ZigguratSlow ziggurat_slow_path(SplitStream s, const ZigguratTables& t,
                                                             std::uint64_t word);

// One standard normal from the stream (one word, more when it falls in a wedge or the tail).
inline double ziggurat_normal(SplitStream& s, const ZigguratTables& t) {
  const std::uint64_t word = s();
  const unsigned layer = static_cast<unsigned>(word & 0xff);
  const std::uint64_t magnitude = word >> 12;
  if (magnitude < t.k[layer]) [[likely]] {
    // The sign goes straight into the IEEE sign bit: a branch on it is a coin flip, mispredicted
    // half the time (that alone cost more than the rest of the fast path).
    const double x = static_cast<double>(static_cast<std::int64_t>(magnitude)) * t.w[layer];
    return std::bit_cast<double>(std::bit_cast<std::uint64_t>(x) ^ ((word & 0x100) << 55));
  }
  const ZigguratSlow slow = ziggurat_slow_path(s, t, word);
  s = slow.stream;
  return slow.value;
}

// out[i] += stddev * n_i for i < n, the n_i the normals of SplitStream(key) in order.
void add_ziggurat_normals(std::uint64_t key, double stddev, double* out, Index n);

// add_ziggurat_normals(keys[c], stddev, out + c n, n) for every column c < count (columns of n,
// one after another), bit for bit. `best` draws eight streams at once in the lanes of AVX-512
// vectors where the machine has them (a lane whose word misses its layer's rectangle takes the
// slow path alone; the words of a stream are counter-based, so no lane waits for another), the
// scalar loop elsewhere; `scalar` is that loop, the vector kernel's twin in the tests.
enum class ZigguratKernel { best, scalar };
void add_ziggurat_normals_columns(const std::uint64_t* keys, Index count, double stddev, double* out, Index n,
                                  ZigguratKernel kernel = ZigguratKernel::best);
// Whether `best` is the vector kernel on this machine.
bool ziggurat_vector_kernel_available();

}  // namespace dposg
