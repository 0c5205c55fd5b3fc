#include "core/rng.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace dposg {
namespace {

constexpr std::size_t kN = 312, kM = 156;
constexpr std::uint64_t kMatrixA = 0xb5026f5aa96619e9ULL, kInitMult = 6364136223846793005ULL;
constexpr std::uint64_t kUpper = ~std::uint64_t{0} << 31, kLower = ~kUpper;
constexpr int kSeedLanes = 8;
// Allocations at least this large are mapped on their own and marked for transparent huge pages.
constexpr std::size_t kMapBytes = std::size_t{8} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

#if defined(__GLIBCXX__)
// libstdc++'s mersenne_twister_engine is {UIntType _M_x[n]; size_t _M_p;}: the state words, then the
// index of the next word to temper (n: twist first). tests/test_rng.cpp compares the streams built
// here with std::mt19937_64's own, draw by draw across several twists.
constexpr bool kKnownLayout = sizeof(Rng) == (kN + 1) * sizeof(std::uint64_t) &&
                              alignof(Rng) == alignof(std::uint64_t);
#else
constexpr bool kKnownLayout = false;
#endif

// The seeding chains of kSeedLanes streams side by side (x[i][lane]: independent chains, so the
// multiplies overlap), then each stream's first twist, exactly as std::mersenne_twister_engine::seed
// and _M_gen_rand compute them.
void seed_lanes(const std::uint64_t* seeds, std::uint64_t (*x)[kSeedLanes]) {
  for (int l = 0; l < kSeedLanes; ++l) x[0][l] = seeds[l];
  for (std::size_t i = 1; i < kN; ++i)
    for (int l = 0; l < kSeedLanes; ++l) {
      const std::uint64_t p = x[i - 1][l];
      x[i][l] = kInitMult * (p ^ (p >> 62)) + i;
    }
  auto twist = [](std::uint64_t a, std::uint64_t b, std::uint64_t far) {
    const std::uint64_t y = (a & kUpper) | (b & kLower);
    return far ^ (y >> 1) ^ ((y & 1) ? kMatrixA : 0);
  };
  for (std::size_t k = 0; k < kN - kM; ++k)
    for (int l = 0; l < kSeedLanes; ++l) x[k][l] = twist(x[k][l], x[k + 1][l], x[k + kM][l]);
  for (std::size_t k = kN - kM; k < kN - 1; ++k)
    for (int l = 0; l < kSeedLanes; ++l) x[k][l] = twist(x[k][l], x[k + 1][l], x[k + kM - kN][l]);
  for (int l = 0; l < kSeedLanes; ++l) x[kN - 1][l] = twist(x[kN - 1][l], x[0][l], x[kM - 1][l]);
}

}  // namespace

void seed_worker_streams(std::uint64_t seed, Index first, Index count, Rng* out) {
  auto key = [&](Index i) { return derive_seed(seed, StreamPurpose::worker, static_cast<std::uint64_t>(first + i)); };
  if constexpr (!kKnownLayout) {
    for (Index i = 0; i < count; ++i) new (out + i) Rng(key(i));
    return;
  }
  const Index batches = (count + kSeedLanes - 1) / kSeedLanes;
#pragma omp parallel for schedule(static) if (count >= 4096)
  for (Index b = 0; b < batches; ++b) {
    alignas(64) std::uint64_t x[kN][kSeedLanes];
    std::uint64_t seeds[kSeedLanes];
    const Index base = b * kSeedLanes, lanes = std::min<Index>(kSeedLanes, count - base);
    for (int l = 0; l < kSeedLanes; ++l) seeds[l] = key(base + std::min<Index>(l, lanes - 1));
    seed_lanes(seeds, x);
    for (Index l = 0; l < lanes; ++l) {
      std::uint64_t state[kN + 1];
      for (std::size_t i = 0; i < kN; ++i) state[i] = x[i][l];
      state[kN] = 0;  // twisted: the next draw tempers word 0
      // Rng is trivially copyable (an implicit-lifetime type): memcpy creates the object.
      std::memcpy(static_cast<void*>(out + base + l), state, sizeof state);
    }
  }
}

void RngStorageRelease::operator()(Rng* p) const {
  if (!p) return;
  if (bytes >= kMapBytes) {
    munmap(p, bytes);
  } else {
    ::operator delete(static_cast<void*>(p), std::align_val_t{64});
  }
}

void WorkerRngs::allocate(Index count) {
  count_ = count;
  const std::size_t need = std::max<std::size_t>(1, static_cast<std::size_t>(count)) * sizeof(Rng);
  if (need >= kMapBytes) {
    const std::size_t bytes = (need + kHugePage - 1) / kHugePage * kHugePage;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without huge pages it still works
    streams_ = std::unique_ptr<Rng, RngStorageRelease>(static_cast<Rng*>(p), RngStorageRelease{bytes});
  } else {
    streams_ = std::unique_ptr<Rng, RngStorageRelease>(
        static_cast<Rng*>(::operator new(need, std::align_val_t{64})), RngStorageRelease{need});
  }
}

WorkerRngs::WorkerRngs(std::uint64_t seed, Index count, Index first) {
  allocate(count);
  seed_worker_streams(seed, first, count, streams_.get());
}

WorkerRngs::WorkerRngs(const WorkerRngs& other) {
  allocate(other.count_);
  if (count_ > 0) std::memcpy(static_cast<void*>(streams_.get()), other.streams_.get(), static_cast<std::size_t>(count_) * sizeof(Rng));
}

WorkerRngs& WorkerRngs::operator=(const WorkerRngs& other) {
  if (this != &other) *this = WorkerRngs(other);
  return *this;
}

}  // namespace dposg
