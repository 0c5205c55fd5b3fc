#pragma once
// std::mt19937_64's stream, number for number, in 40 bytes until its 157th draw (issue #20).
//
// A million workers each own a stream; as std::mt19937_64 objects they were 2.5 GB (312 words each)
// that had to be seeded and first-touched before the first iteration, which was most of the start-up
// at M = 10^6. But the first 156 outputs of a freshly seeded engine need only three words of its
// seeding chain x[i] = f * (x[i-1] ^ (x[i-1] >> 62)) + i: output j tempers
// x[j + 156] ^ twist(x[j], x[j + 1]) (the first twist's first half reads only words it has not yet
// overwritten). So a stream starts as (seed, j, x[j], x[j + 156]), advances both chain positions one
// step per draw, and only at draw 156 builds the full state, exactly as std::mt19937_64 holds it
// then (seeded, twisted once, index 156), in storage it owns or that WorkerRngs reserved for it.
//
// Everything observable is std::mt19937_64's: the outputs (so every std distribution draws the same
// numbers), min/max, seed, discard, operator== on the state std would hold, and the text form of
// operator<< / operator>> (the checkpoints' format: a lazy stream writes the state std would hold at
// its position, and reads any std::mt19937_64 text). tests/test_rng.cpp compares them all.
#include <cstdint>
#include <iosfwd>

namespace dposg {

class WorkerRngs;

class LazyMt19937_64 {
 public:
  using result_type = std::uint64_t;
  static constexpr std::size_t state_size = 312;
  static constexpr std::size_t shift_size = 156;
  static constexpr result_type default_seed = 5489u;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }

  LazyMt19937_64() : LazyMt19937_64(default_seed) {}
  explicit LazyMt19937_64(result_type s) { seed(s); }
  LazyMt19937_64(const LazyMt19937_64& other);
  LazyMt19937_64& operator=(const LazyMt19937_64& other);
  LazyMt19937_64(LazyMt19937_64&& other) noexcept;
  LazyMt19937_64& operator=(LazyMt19937_64&& other) noexcept;
  ~LazyMt19937_64() { release(); }

  void seed(result_type s);

  result_type operator()() {
    // One compare on the common path: end_ is 312 once materialized, 0 while compact.
    if (p_ < end_) [[likely]] return temper(words_[p_++]);
    return next_slow();
  }

  void discard(unsigned long long n) {
    for (; n != 0; --n) (*this)();
  }

  // Whether the 312-word state has been built (a stream is compact for its first 156 draws).
  bool materialized() const { return end_ != 0; }
  // While compact, the stream is seed(compact_seed()) then discard(compact_draws()): what a
  // checkpoint keeps of it (StateArchive::put_rng), two numbers instead of 312 words of text, so a
  // million never-drawn streams (--noise-normals ziggurat) stay compact through checkpoint and resume.
  result_type compact_seed() const { return seed_; }
  std::uint32_t compact_draws() const { return p_; }

  friend bool operator==(const LazyMt19937_64& a, const LazyMt19937_64& b);
  friend std::ostream& operator<<(std::ostream& os, const LazyMt19937_64& e);
  friend std::istream& operator>>(std::istream& is, LazyMt19937_64& e);

 private:
  friend class WorkerRngs;  // builds its streams in batches (core/rng.cpp)

  static constexpr result_type temper(result_type z) {
    z ^= (z >> 29) & 0x5555555555555555ULL;
    z ^= (z << 17) & 0x71d67fffeda60000ULL;
    z ^= (z << 37) & 0xfff7eee000000000ULL;
    return z ^ (z >> 43);
  }
  // A stream seeded with s whose chain word 156 is x156, whose full state (when it comes) goes to
  // storage (312 words that outlive it, or null: then it allocates its own).
  LazyMt19937_64(result_type s, result_type x156, std::uint64_t* storage)
      : words_(storage), seed_(s), a_(s), b_(x156) {}

  result_type next_slow();  // the next compact draw, or a twist
  // The state std::mt19937_64 holds at this position, into out[0..311]; returns its index.
  std::uint32_t std_state(std::uint64_t* out) const;
  void ensure_storage();
  void release();

  std::uint64_t* words_ = nullptr;  // the full state once materialized (or storage reserved for it)
  std::uint32_t p_ = 0;             // compact: draws so far (0..156); full: index of the next word
  std::uint16_t end_ = 0;           // 0 while compact, 312 with the full state in words_
  bool owned_ = false;              // words_ came from new[] here
  result_type seed_ = 0;
  result_type a_ = 0, b_ = 0;       // lazy: chain words p_ and p_ + 156
};

}  // namespace dposg
