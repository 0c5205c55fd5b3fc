#include "core/rng.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <new>

namespace dposg {
namespace {

constexpr std::uint64_t kInitMult = 6364136223846793005ULL;
constexpr int kSeedLanes = 8;
// Blocks at least this large are mapped on their own and marked for transparent huge pages.
constexpr std::size_t kMapBytes = std::size_t{8} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

std::size_t mapped_size(std::size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

}  // namespace

WorkerRngs::Block::Block(std::size_t bytes) : bytes_(std::max<std::size_t>(bytes, 64)) {
  if (bytes_ >= kMapBytes) {
    bytes_ = mapped_size(bytes_);
    // MAP_NORESERVE: the state slots are a reservation; only the streams that reach their 157th
    // draw ever touch theirs.
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes_, MADV_HUGEPAGE);  // advice only: without huge pages it still works
    p_ = p;
  } else {
    p_ = ::operator new(bytes_, std::align_val_t{64});
  }
}

WorkerRngs::Block& WorkerRngs::Block::operator=(Block&& o) noexcept {
  if (this != &o) {
    this->~Block();
    p_ = std::exchange(o.p_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

WorkerRngs::Block::~Block() {
  if (!p_) return;
  if (bytes_ >= kMapBytes) {
    munmap(p_, bytes_);
  } else {
    ::operator delete(p_, std::align_val_t{64});
  }
  p_ = nullptr;
}

WorkerRngs::WorkerRngs(Index count)
    : count_(count),
      streams_(static_cast<std::size_t>(count) * sizeof(Rng)),
      states_(static_cast<std::size_t>(count) * Rng::state_size * sizeof(std::uint64_t)) {}

WorkerRngs::WorkerRngs(std::uint64_t seed, Index count, Index first) : WorkerRngs(count) {
  seed_ = seed;
  first_ = first;
  // Each stream needs its chain word 156 (156 dependent multiplies): kSeedLanes chains side by side
  // keep several multiplies in flight instead of one latency-bound chain.
  const Index batches = (count + kSeedLanes - 1) / kSeedLanes;
#pragma omp parallel for schedule(static) if (count >= 4096)
  for (Index b = 0; b < batches; ++b) {
    const Index base = b * kSeedLanes, lanes = std::min<Index>(kSeedLanes, count - base);
    std::uint64_t seeds[kSeedLanes], x[kSeedLanes];
    for (int l = 0; l < kSeedLanes; ++l)
      seeds[l] = x[l] = derive_seed(seed, StreamPurpose::worker,
                                    static_cast<std::uint64_t>(first + base + std::min<Index>(l, lanes - 1)));
    for (std::uint64_t i = 1; i <= Rng::shift_size; ++i)
      for (int l = 0; l < kSeedLanes; ++l) x[l] = kInitMult * (x[l] ^ (x[l] >> 62)) + i;
    for (Index l = 0; l < lanes; ++l) new (streams() + base + l) Rng(seeds[l], x[l], slot(base + l));
  }
}

WorkerRngs::WorkerRngs(const WorkerRngs& other) : WorkerRngs(other.count_) {
  seed_ = other.seed_;
  first_ = other.first_;
  key_rounds_ = other.key_rounds_;
  // A stream still compact is copied as 40 bytes; a materialized one into this object's slot.
#pragma omp parallel for schedule(static) if (count_ >= 4096)
  for (Index i = 0; i < count_; ++i) {
    Rng* r = new (streams() + i) Rng(0, 0, slot(i));
    *r = other[i];
  }
}

WorkerRngs& WorkerRngs::operator=(const WorkerRngs& other) {
  if (this != &other) *this = WorkerRngs(other);
  return *this;
}

WorkerRngs::WorkerRngs(WorkerRngs&& other) noexcept
    : count_(std::exchange(other.count_, 0)),
      seed_(other.seed_),
      first_(other.first_),
      key_rounds_(other.key_rounds_),
      streams_(std::move(other.streams_)),
      states_(std::move(other.states_)) {}

WorkerRngs& WorkerRngs::operator=(WorkerRngs&& other) noexcept {
  if (this != &other) {
    destroy();
    count_ = std::exchange(other.count_, 0);
    seed_ = other.seed_;
    first_ = other.first_;
    key_rounds_ = other.key_rounds_;
    streams_ = std::move(other.streams_);
    states_ = std::move(other.states_);
  }
  return *this;
}

void WorkerRngs::destroy() {
  // The streams own no storage (assignment keeps a stream's slot): the slots go with states_.
  for (Index i = 0; i < count_; ++i) streams()[i].~Rng();
  count_ = 0;
}

WorkerRngs::~WorkerRngs() { destroy(); }

}  // namespace dposg
