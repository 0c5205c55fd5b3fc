// ctest-label: unit
// WorkerRngs' batched construction (core/rng.cpp) against std::mt19937_64 seeded one stream at a time,
// as every result so far was drawn: the same numbers, draw by draw, across several twists.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/checkpoint.hpp"
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

namespace {
// Seeds that exercise the chain: zero, std's default, all ones, the top bits set, and SplitMix draws.
std::vector<std::uint64_t> engine_seeds() {
  std::vector<std::uint64_t> s = {0, 1, 5489, ~std::uint64_t{0}, std::uint64_t{3} << 62, 0x8000000000000000ULL};
  for (std::uint64_t k = 0; k < 60; ++k) s.push_back(splitmix64(k * 0x1234567ULL + 99));
  return s;
}

template <class Engine>
std::string text_of(const Engine& e) {
  std::ostringstream os;
  os << e;
  return os.str();
}
}  // namespace

TEST_CASE("Rng (the lazy engine) draws std::mt19937_64's numbers", "[rng]") {
  static_assert(sizeof(Rng) <= 40, "a stream before its 157th draw is meant to stay compact");
  for (std::uint64_t seed : engine_seeds()) {
    INFO("seed " << seed);
    Rng lazy(seed);
    std::mt19937_64 reference(seed);
    bool same = true;
    for (int k = 0; k < 1000; ++k) {  // compact until 156, then the first twist's state, 3 more twists
      CHECK(lazy.materialized() == (k > 156));
      same = same && lazy() == reference();
    }
    CHECK(same);
  }
  Rng by_default;
  std::mt19937_64 std_default;
  CHECK(by_default() == std_default());
}

TEST_CASE("Rng: std distributions draw the same values as with std::mt19937_64", "[rng]") {
  for (std::uint64_t seed : {std::uint64_t{3}, std::uint64_t{5489}, splitmix64(17)}) {
    Rng lazy(seed);
    std::mt19937_64 reference(seed);
    std::normal_distribution<double> n1(0.5, 2.0), n2(0.5, 2.0);
    std::uniform_real_distribution<double> u1(-1.0, 3.0), u2(-1.0, 3.0);
    std::uniform_int_distribution<int> i1(0, 999), i2(0, 999);
    std::uniform_int_distribution<std::uint64_t> w1, w2;
    std::exponential_distribution<double> e1(1.5), e2(1.5);
    bool same = true;
    for (int k = 0; k < 1000; ++k) {  // the four mixed: every boundary lands inside some distribution
      same = same && n1(lazy) == n2(reference);
      same = same && u1(lazy) == u2(reference);
      same = same && i1(lazy) == i2(reference);
      same = same && w1(lazy) == w2(reference);
      same = same && e1(lazy) == e2(reference);
    }
    CHECK(same);
    std::vector<int> a(300), b(300);
    for (int k = 0; k < 300; ++k) a[k] = b[k] = k;
    Rng lazy2(seed + 1);
    std::mt19937_64 reference2(seed + 1);
    std::shuffle(a.begin(), a.end(), lazy2);
    std::shuffle(b.begin(), b.end(), reference2);
    CHECK(a == b);
  }
}

TEST_CASE("Rng: discard, the text form and equality are std::mt19937_64's at every position", "[rng]") {
  for (unsigned long long skip : {0ULL, 1ULL, 155ULL, 156ULL, 157ULL, 311ULL, 312ULL, 313ULL, 1000ULL}) {
    INFO("position " << skip);
    Rng lazy(99);
    std::mt19937_64 reference(99);
    lazy.discard(skip);
    reference.discard(skip);
    // The checkpoints' text: the same characters as std writes, so old checkpoints read back.
    CHECK(text_of(lazy) == text_of(reference));

    Rng from_std;
    std::istringstream(text_of(reference)) >> from_std;
    CHECK(from_std == lazy);
    std::mt19937_64 from_lazy;
    std::istringstream(text_of(lazy)) >> from_lazy;
    CHECK(from_lazy == reference);

    Rng copy = lazy;
    CHECK(copy == lazy);
    bool same = true;
    for (int k = 0; k < 400; ++k) {
      const auto want = reference();
      same = same && lazy() == want && from_std() == want && from_lazy() == want && copy() == want;
    }
    CHECK(same);
    Rng behind(99);
    behind.discard(skip);
    CHECK_FALSE(behind == lazy);
  }
  Rng bad;
  std::istringstream truncated("1 2 3");
  truncated >> bad;  // the stream reports the failure, as with std's (the checkpoints' test)
  CHECK(truncated.fail());
}

TEST_CASE("Rng: copies, moves and reseeding keep the stream", "[rng]") {
  std::mt19937_64 reference(5);
  reference.discard(200);
  Rng a(5);
  a.discard(200);  // materialized, storage of its own
  Rng moved(std::move(a));
  CHECK(moved() == reference());
  Rng assigned(1);
  assigned = std::move(moved);
  CHECK(assigned() == reference());
  a = assigned;  // the moved-from engine is usable again
  CHECK(a() == reference());
  assigned.seed(5);  // back to compact, its storage kept for later
  CHECK_FALSE(assigned.materialized());
  std::mt19937_64 again(5);
  bool same = true;
  for (int k = 0; k < 700; ++k) same = same && assigned() == again();
  CHECK(same);
  std::vector<Rng> grown;
  for (std::uint64_t s = 0; s < 40; ++s) {
    grown.emplace_back(s);
    grown.back().discard(s * 10);  // some compact, some materialized, moved as the vector grows
  }
  for (std::uint64_t s = 0; s < 40; ++s) {
    std::mt19937_64 r(s);
    r.discard(s * 10);
    CHECK(grown[s]() == r());
  }
}

TEST_CASE("WorkerRngs: streams stay compact for 156 draws; copies of compact and materialized streams", "[rng]") {
  WorkerRngs rngs(3, 5);
  for (int k = 0; k < 156; ++k) rngs[2]();
  CHECK_FALSE(rngs[2].materialized());
  WorkerRngs at156 = rngs;
  rngs[2]();
  CHECK(rngs[2].materialized());
  CHECK_FALSE(rngs[1].materialized());
  WorkerRngs at157 = rngs;
  std::mt19937_64 reference(derive_seed(3, StreamPurpose::worker, 2));
  reference.discard(156);
  const auto draw156 = reference();
  CHECK(at156[2]() == draw156);
  bool same = true;
  for (int k = 0; k < 500; ++k) {
    const auto want = reference();
    same = same && at156[2]() == want && at157[2]() == want && rngs[2]() == want;
  }
  CHECK(same);
  WorkerRngs assigned(1, 1);
  assigned = at157;
  CHECK(assigned.size() == 5);
  CHECK(assigned[2] == at157[2]);
}

TEST_CASE("a checkpoint keeps a compact stream as its seed and draws, and restores std::mt19937_64's stream",
          "[rng][checkpoint]") {
  const std::uint64_t seed = 0x9E3779B97F4A7C15ULL;
  for (unsigned draws : {0u, 1u, 77u, 155u, 156u, 157u, 400u, 1000u}) {
    INFO(draws << " draws");
    dposg::Rng rng(seed);
    rng.discard(draws);
    dposg::StateArchive a;
    a.put_rng("r", rng);
    const bool compact = draws <= 156;
    CHECK(rng.materialized() == !compact);
    // Compact: "compact SEED DRAWS"; materialized: std's 312 words and its index.
    if (compact)
      CHECK(a.text("r") == "compact " + std::to_string(seed) + " " + std::to_string(draws));
    else
      CHECK(std::count(a.text("r").begin(), a.text("r").end(), ' ') == 312);
    dposg::Rng back(1);
    back.discard(500);  // a materialized stream is reset by the restore
    a.get_rng("r", back);
    CHECK(back.materialized() == !compact);
    std::mt19937_64 reference(seed);
    reference.discard(draws);
    for (int k = 0; k < 700; ++k) REQUIRE(back() == reference());
  }
  // A std::mt19937_64 text form (a checkpoint of a build before the compact form) still restores.
  std::mt19937_64 std_engine(5);
  std_engine.discard(10);
  std::ostringstream text;
  text << std_engine;
  dposg::StateArchive a;
  a.put_text("old", text.str());
  dposg::Rng back;
  a.get_rng("old", back);
  for (int k = 0; k < 400; ++k) REQUIRE(back() == std_engine());
  for (const char* bad : {"compact 5", "compact 5 157", "compact 5 3 x", "compact -1 2", "compact"}) {
    INFO(bad);
    a.put_text("bad", bad);
    CHECK_THROWS_AS(a.get_rng("bad", back), dposg::CheckpointError);
  }
}
