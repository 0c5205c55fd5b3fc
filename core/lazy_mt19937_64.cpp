#include "core/lazy_mt19937_64.hpp"

#include <algorithm>
#include <cstring>
#include <istream>
#include <ostream>

namespace dposg {
namespace {

constexpr std::size_t kN = LazyMt19937_64::state_size, kM = LazyMt19937_64::shift_size;
constexpr std::uint64_t kMatrixA = 0xb5026f5aa96619e9ULL, kInitMult = 6364136223846793005ULL;
constexpr std::uint64_t kUpper = ~std::uint64_t{0} << 31, kLower = ~kUpper;

constexpr std::uint64_t chain(std::uint64_t prev, std::uint64_t i) { return kInitMult * (prev ^ (prev >> 62)) + i; }
constexpr std::uint64_t twist(std::uint64_t a, std::uint64_t b, std::uint64_t far) {
  const std::uint64_t y = (a & kUpper) | (b & kLower);
  return far ^ (y >> 1) ^ ((y & 1) ? kMatrixA : 0);
}

// std::mersenne_twister_engine::seed and _M_gen_rand, word for word.
void seed_words(std::uint64_t s, std::uint64_t* x) {
  x[0] = s;
  for (std::size_t i = 1; i < kN; ++i) x[i] = chain(x[i - 1], i);
}
// Integer operations only, so the wider clones give the same words; at M = 10^6 and d = 20 the
// twist was an eighth of an iteration with SSE2.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void twist_words(std::uint64_t* x) {
  for (std::size_t k = 0; k < kN - kM; ++k) x[k] = twist(x[k], x[k + 1], x[k + kM]);
  for (std::size_t k = kN - kM; k < kN - 1; ++k) x[k] = twist(x[k], x[k + 1], x[k + kM - kN]);
  x[kN - 1] = twist(x[kN - 1], x[0], x[kM - 1]);
}

}  // namespace

void LazyMt19937_64::seed(result_type s) {
  seed_ = a_ = s;
  std::uint64_t b = s;
  for (std::size_t i = 1; i <= kM; ++i) b = chain(b, i);
  b_ = b;
  p_ = 0;
  end_ = 0;
}

LazyMt19937_64::result_type LazyMt19937_64::next_slow() {
  if (end_ != 0) {  // full, at the end of the state
    twist_words(words_);
    p_ = 0;
    return temper(words_[p_++]);
  }
  if (p_ == kM) {
    // Draw 156 needs words the first twist has already rewritten: build the state std holds now.
    ensure_storage();
    seed_words(seed_, words_);
    twist_words(words_);
    end_ = kN;
    return temper(words_[p_++]);
  }
  const std::uint64_t next = chain(a_, p_ + 1);
  const std::uint64_t out = twist(a_, next, b_);
  a_ = next;
  b_ = chain(b_, p_ + kM + 1);
  ++p_;
  return temper(out);
}

std::uint32_t LazyMt19937_64::std_state(std::uint64_t* out) const {
  if (end_ != 0) {
    std::memcpy(out, words_, kN * sizeof(std::uint64_t));
    return p_;
  }
  seed_words(seed_, out);
  if (p_ == 0) return kN;  // seeded, not yet twisted
  twist_words(out);
  return p_;
}

void LazyMt19937_64::ensure_storage() {
  if (words_) return;
  words_ = new std::uint64_t[kN];
  owned_ = true;
}

void LazyMt19937_64::release() {
  if (owned_) delete[] words_;
  words_ = nullptr;
  owned_ = false;
  end_ = 0;
}

LazyMt19937_64::LazyMt19937_64(const LazyMt19937_64& other)
    : p_(other.p_), end_(other.end_), seed_(other.seed_), a_(other.a_), b_(other.b_) {
  if (end_ != 0) {
    ensure_storage();
    std::memcpy(words_, other.words_, kN * sizeof(std::uint64_t));
  }
}

LazyMt19937_64& LazyMt19937_64::operator=(const LazyMt19937_64& other) {
  if (this == &other) return *this;
  // Keeps this stream's storage (WorkerRngs' reserved slot stays in use).
  p_ = other.p_;
  end_ = other.end_;
  seed_ = other.seed_;
  a_ = other.a_;
  b_ = other.b_;
  if (end_ != 0) {
    ensure_storage();
    std::memcpy(words_, other.words_, kN * sizeof(std::uint64_t));
  }
  return *this;
}

LazyMt19937_64::LazyMt19937_64(LazyMt19937_64&& other) noexcept
    : p_(other.p_), end_(other.end_), seed_(other.seed_), a_(other.a_), b_(other.b_) {
  if (end_ == 0) return;
  if (other.owned_) {
    words_ = other.words_;
    owned_ = true;
    other.words_ = nullptr;
    other.owned_ = false;
    other.seed(other.seed_);
  } else {
    // Storage someone else reserved stays with its owner; this copy gets its own.
    ensure_storage();
    std::memcpy(words_, other.words_, kN * sizeof(std::uint64_t));
  }
}

LazyMt19937_64& LazyMt19937_64::operator=(LazyMt19937_64&& other) noexcept {
  if (this == &other) return *this;
  const bool reserved_here = words_ && !owned_;
  if (other.end_ == 0 || !other.owned_ || reserved_here) return *this = static_cast<const LazyMt19937_64&>(other);
  release();
  p_ = other.p_;
  end_ = kN;
  seed_ = other.seed_;
  a_ = other.a_;
  b_ = other.b_;
  words_ = other.words_;
  owned_ = true;
  other.words_ = nullptr;
  other.owned_ = false;
  other.seed(other.seed_);
  return *this;
}

bool operator==(const LazyMt19937_64& a, const LazyMt19937_64& b) {
  if (a.end_ == 0 && b.end_ == 0) return a.seed_ == b.seed_ && a.p_ == b.p_;
  std::uint64_t x[kN], y[kN];
  const std::uint32_t pa = a.std_state(x), pb = b.std_state(y);
  return pa == pb && std::equal(x, x + kN, y);
}

// The text form of libstdc++'s operator<< and operator>> for mersenne_twister_engine: the 312
// words, then the index, decimal, separated by spaces.
std::ostream& operator<<(std::ostream& os, const LazyMt19937_64& e) {
  std::uint64_t x[kN];
  const std::uint32_t p = e.std_state(x);
  const auto flags = os.flags();
  const auto fill = os.fill();
  const char space = os.widen(' ');
  os.flags(std::ios_base::dec | std::ios_base::fixed | std::ios_base::left);
  os.fill(space);
  for (std::size_t i = 0; i < kN; ++i) os << x[i] << space;
  os << static_cast<std::size_t>(p);
  os.flags(flags);
  os.fill(fill);
  return os;
}

std::istream& operator>>(std::istream& is, LazyMt19937_64& e) {
  std::uint64_t x[kN];
  std::size_t p = 0;
  const auto flags = is.flags();
  is.flags(std::ios_base::dec | std::ios_base::skipws);
  for (std::size_t i = 0; i < kN; ++i) is >> x[i];
  is >> p;
  is.flags(flags);
  if (is) {
    e.ensure_storage();
    std::memcpy(e.words_, x, sizeof x);
    // std twists at any index >= 312; so does operator() here.
    e.p_ = static_cast<std::uint32_t>(std::min<std::size_t>(p, kN));
    e.end_ = kN;
  }
  return is;
}

}  // namespace dposg
