#pragma once
// Compressor: what one worker sends instead of a d-vector (DQGAN's uplink, CHOCO gossip's
// messages), DESIGN.md §2. A compressor C is delta-approximate when
//     ||C(x) - x||^2 <= (1 - delta) ||x||^2            (for randomized C: in expectation),
// the assumption of DQGAN (Liu et al. 2020, ../shared/papers/dqgan-abstract.txt) and of CHOCO
// gossip (Koloskova et al. 2019). Each kind states its delta below; tests/test_compressor.cpp
// checks the inequality on random and adversarial inputs.
//
// Encoding (what `bits` counts; every encoding has a fixed length, so a message's size depends
// only on d and the compressor's parameters, never on x):
//   - values are 64-bit doubles: the engine computes in double and the receiver must use exactly
//     what was sent (decompress(compress(x)) is what the algorithm sees);
//   - indices are ceil(log2 d) bits each (a fixed-width field wide enough for 0..d-1; 0 bits for
//     d = 1);
//   - a norm or scale is one 64-bit double;
//   - a level is sign-magnitude: 1 sign bit (1 = negative), then the magnitude in a fixed width
//     (0 bits for the scaled sign, whose magnitude is always 1).
// encode() packs a message into exactly ceil(bits / 8) bytes in that format (a little-endian bit
// stream: indices, values, levels, scale); it is what the MPI backend puts on the wire.
//
// Kinds (`--compressor`):
//   none   x itself. bits = 64 d. delta = 1.
//   top-k  the k entries of largest magnitude (ties: lower index first), the rest 0.
//          bits = k (64 + ceil(log2 d)). delta = k/d deterministically: the d - k dropped entries
//          are the smallest, so their mean square is at most the mean square of all d.
//   rand-k k coordinates drawn uniformly without replacement, kept unscaled, the rest 0.
//          bits = k (64 + ceil(log2 d)) (the indices are sent, not derived from a shared seed).
//          E||C(x) - x||^2 = (1 - k/d)||x||^2 exactly, so delta = k/d in expectation. The unbiased
//          variant (d/k) C(x) is NOT delta-approximate (its error is (d/k - 1)||x||^2 >= ||x||^2
//          for k <= d/2), hence the unscaled one.
//   sign   scaled sign (||x||_1 / d) sign(x) (sign(0) = +1; it never matters, see below).
//          bits = d + 64. ||C(x) - x||^2 = ||x||^2 - ||x||_1^2 / d exactly (zero entries add
//          nothing to <C(x), x> and ||C(x)||^2 = ||x||_1^2/d whatever their sign), so
//          delta(x) = ||x||_1^2 / (d ||x||_2^2) >= 1/d; delta() reports the worst case 1/d.
//   qsgd   s levels (Alistarh et al. 2017): Q(x)_j = ||x||_2 sign(x_j) l_j / s with l_j in 0..s
//          the stochastic rounding of s |x_j| / ||x||_2 (unbiased, E||Q(x) - x||^2 <= beta ||x||^2,
//          beta = min(d/s^2, sqrt(d)/s)). Sent scaled as C(x) = Q(x) / (1 + beta) (Koloskova et
//          al. 2019, Remark): E||C(x) - x||^2 <= (1 - 1/(1 + beta))||x||^2, delta = 1/(1 + beta)
//          in expectation. bits = 64 + d (1 + ceil(log2(s + 1))) (fixed width sign + level; an
//          Elias code would be shorter on sparse levels, we count the fixed width).
// Randomized kinds draw only from the Rng passed in: compression_rng() keys it by
// (seed, channel, worker, iteration), so a run is reproducible and independent of thread count.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg {

// One compressed d-vector as it travels.
struct CompressedVector {
  Index dim = 0;
  std::vector<std::uint32_t> indices;  // top-k, rand-k: the kept coordinates
  std::vector<double> values;          // none: all d values; top-k, rand-k: the kept values
  std::vector<std::int32_t> levels;    // sign: +-1; qsgd: signed level in -s..s
  double scale = 0.0;                  // sign: ||x||_1/d; qsgd: ||x||_2 / (s (1 + beta))
  std::int64_t bits = 0;               // the message's size on the wire
};

class Compressor {
 public:
  virtual ~Compressor() = default;
  virtual std::string name() const = 0;
  Index dim() const { return dim_; }
  // Exact size in bits of one message for this compressor's d (from its layout, so that the
  // count and the wire format cannot disagree).
  std::int64_t bits() const;
  // Bytes of one encoded message: ceil(bits() / 8).
  std::size_t wire_bytes() const { return static_cast<std::size_t>((bits() + 7) / 8); }
  // The guaranteed delta (worst case over x; for randomized kinds in expectation).
  virtual double delta() const = 0;
  virtual bool randomized() const { return false; }
  // Coordinates kept by top-k and rand-k; 0 for the other kinds.
  virtual Index k() const { return 0; }
  // "deterministic", "in expectation"; the qualifier of delta().
  std::string delta_kind() const { return randomized() ? "in expectation" : "deterministic"; }

  virtual void compress(const Eigen::Ref<const Vector>& x, Rng& rng, CompressedVector& out) const = 0;
  virtual void decompress(const CompressedVector& c, Eigen::Ref<Vector> out) const = 0;
  // out = C(x), what the receiver reconstructs.
  void apply(const Eigen::Ref<const Vector>& x, Rng& rng, CompressedVector& scratch, Eigen::Ref<Vector> out) const {
    compress(x, rng, scratch);
    decompress(scratch, out);
  }

  // The message packed into `out` (resized to wire_bytes()).
  void encode(const CompressedVector& c, std::vector<std::uint8_t>& out) const;
  // The same into the wire_bytes() bytes at `out` (e.g. a slot of a gather buffer).
  void encode(const CompressedVector& c, std::uint8_t* out) const;
  // The inverse of encode. Throws std::runtime_error when `n` is not this compressor's message size.
  void decode(const std::uint8_t* bytes, std::size_t n, CompressedVector& out) const;

 protected:
  // What one message holds; counts are fixed by the kind, d and its parameters.
  struct Layout {
    Index indices = 0;       // ceil(log2 d) bits each
    Index values = 0;        // 64 bits each
    Index levels = 0;        // 1 + magnitude_bits each
    int magnitude_bits = 0;  // 0: every magnitude is 1
    bool scale = false;      // one 64-bit double
  };
  virtual Layout layout() const = 0;
  explicit Compressor(Index d) : dim_(d) {}
  Index dim_;
};

struct CompressorOptions {
  std::string name = "none";  // none | top-k | rand-k | sign | qsgd
  Index k = 0;                // top-k, rand-k: coordinates kept (0: from ratio)
  double ratio = 0.0;         // top-k, rand-k: k = ceil(ratio d) when k = 0; must be in (0, 1]
  int qsgd_levels = 4;        // qsgd: s
};

std::vector<std::string> compressor_names();
// Builds the compressor for d-vectors; throws InputError naming --compressor, --compress-k,
// --compress-ratio or --qsgd-levels on bad input.
std::unique_ptr<Compressor> make_compressor(const CompressorOptions& opts, Index d);

// ceil(log2 d): the bits of one index into a d-vector (0 for d = 1).
int index_bits(Index d);

// The stream of worker `worker`'s compression at `iteration` on `channel` (0: DQGAN's uplink;
// 1 + r: round r of compressed gossip).
Rng compression_rng(std::uint64_t seed, std::uint64_t channel, Index worker, std::int64_t iteration);

// Compresses the columns of a d x M matrix, one message per worker, optionally through error
// feedback (Karimireddy et al. 2019; DQGAN): with memory e_i (zero at the start),
//     p = x_i + e_i,   worker i sends C(p),   e_i <- p - C(p).
class ColumnCompressor {
 public:
  ColumnCompressor(std::shared_ptr<const Compressor> c, bool error_feedback, std::uint64_t seed);
  // sent.col(i) = what worker first_worker + i's message decompresses to (the message itself:
  // messages()[i]). first_worker keys the streams, so a process holding a block of the workers
  // draws what the in-process run draws for them.
  void compress(const Matrix& X, std::int64_t iteration, std::uint64_t channel, Matrix& sent,
                Index first_worker = 0);
  const std::vector<CompressedVector>& messages() const { return scratch_; }
  void reset() { memory_.resize(0, 0); }
  const Matrix& memory() const { return memory_; }
  void set_memory(const Matrix& m) { memory_ = m; }  // a checkpoint's (empty: not yet used)
  const Compressor& compressor() const { return *c_; }
  bool error_feedback() const { return error_feedback_; }

 private:
  std::shared_ptr<const Compressor> c_;
  bool error_feedback_;
  std::uint64_t seed_;
  Matrix memory_;
  std::vector<CompressedVector> scratch_;
};

}  // namespace dposg
