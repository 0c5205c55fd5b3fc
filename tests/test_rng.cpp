// ctest-label: unit
// WorkerRngs' batched construction (core/rng.cpp) against std::mt19937_64 seeded one stream at a time,
// as every result so far was drawn: the same numbers, draw by draw, across several twists.
#include <catch2/catch.hpp>

#include <random>

#include "core/rng.hpp"

using namespace dposg;

namespace {
void check_streams(WorkerRngs& fast, std::uint64_t seed, Index first, const std::vector<Index>& which, int draws) {
  for (Index i : which) {
    std::mt19937_64 reference(derive_seed(seed, StreamPurpose::worker, static_cast<std::uint64_t>(first + i)));
    INFO("stream " << i);
    bool same = true;
    for (int k = 0; k < draws; ++k) same = same && fast[i]() == reference();
    CHECK(same);
  }
}
}  // namespace

TEST_CASE("WorkerRngs draws what std::mt19937_64 seeded stream by stream draws", "[rng]") {
  for (Index count : {1, 2, 7, 8, 9, 17, 100}) {
    for (Index first : {0, 3}) {
      WorkerRngs fast(42, count, first);
      REQUIRE(fast.size() == count);
      std::vector<Index> all;
      for (Index i = 0; i < count; ++i) all.push_back(i);
      INFO("count " << count << " first " << first);
      check_streams(fast, 42, first, all, 1000);  // 1000 draws: three twists after the first
    }
  }
}

TEST_CASE("WorkerRngs: the mapped allocation of many streams, copies, and distributions", "[rng]") {
  const Index count = 20000;  // 50 MB: the mmap'd, huge-page path
  WorkerRngs fast(7, count, 11);
  check_streams(fast, 7, 11, {0, 1, 4095, 4096, 12345, count - 1}, 700);
  WorkerRngs copy = fast;  // copies the state as it is now
  std::mt19937_64 reference(derive_seed(7, StreamPurpose::worker, 11 + 5));
  std::normal_distribution<double> a, b;
  bool same = true;
  for (int k = 0; k < 500; ++k) same = same && a(copy[5]) == b(reference);
  CHECK(same);
  WorkerRngs moved = std::move(copy);
  CHECK(moved.size() == count);
}
