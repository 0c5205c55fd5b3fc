// ctest-label: unit
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <omp.h>

#include "core/error.hpp"
#include "core/mixer.hpp"
#include "core/rng.hpp"

using namespace dposg;

namespace {
Matrix random_matrix(Index d, Index M, std::uint64_t seed) {
  Rng rng(seed);
  Matrix X(d, M);
  std::normal_distribution<double> n;
  for (Index j = 0; j < M; ++j)
    for (Index i = 0; i < d; ++i) X(i, j) = n(rng);
  return X;
}
Matrix deviation(const Matrix& X) { return X.colwise() - X.rowwise().mean(); }
}  // namespace

TEST_CASE("ring rho equals Remark 2's closed form 1/3 + 2/3 cos(2 pi/M) for M >= 4", "[topology]") {
  for (Index M : {4, 5, 6, 7, 8, 13, 16, 31, 64, 100, 257, 1024}) {
    const Spectrum s = spectrum(ring_topology(M));
    const double closed = 1.0 / 3.0 + 2.0 / 3.0 * std::cos(2.0 * std::numbers::pi / static_cast<double>(M));
    INFO("M = " << M);
    CHECK(s.rho == Approx(closed).epsilon(1e-10));
    CHECK(s.eigenvalues[0] == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("circulant closed forms match the eigen-solver for every fixed topology", "[topology]") {
  for (const std::string kind : {"ring", "torus", "exponential", "complete"}) {
    for (Index M : {2, 3, 4, 6, 9, 12, 16, 25, 30, 64}) {
      INFO(kind << " M = " << M);
      const MixingSchedule s(kind, M, 1);
      REQUIRE(closed_form_rho(kind, M).has_value());
      CHECK(s.rho() == Approx(*closed_form_rho(kind, M)).margin(1e-10));
    }
  }
}

TEST_CASE("exponential rows are the definition, sorted, and hold no spare capacity", "[topology]") {
  // W_ij = 1/(k + 1) where (j - i) mod M is 0 or +-2^h mod M, k the number of distinct nonzero
  // such offsets: membership tested entry by entry, not by walking the builder's sorted offsets.
  // M >= 4096 takes the parallel build.
  for (Index M : {1, 2, 3, 5, 8, 12, 33, 64, 100, 1000, 4097, 5000}) {
    INFO("M = " << M);
    std::vector<char> is_offset(static_cast<std::size_t>(M), 0);
    is_offset[0] = 1;
    for (Index h = 1; h < M; h *= 2) {
      is_offset[static_cast<std::size_t>(h % M)] = 1;
      is_offset[static_cast<std::size_t>((M - h % M) % M)] = 1;
    }
    Index members = 0;
    for (char c : is_offset) members += c;
    const double w = 1.0 / static_cast<double>(members);
    const Topology W = exponential_topology(M);
    REQUIRE(W.workers == M);
    REQUIRE(static_cast<Index>(W.rows.size()) == M);
    Index wrong = 0, unsorted = 0, spare = 0;
    for (Index i = 0; i < M; ++i) {
      const auto& row = W.rows[static_cast<std::size_t>(i)];
      if (static_cast<Index>(row.size()) != members) ++wrong;
      if (row.capacity() != row.size()) ++spare;
      for (std::size_t q = 0; q < row.size(); ++q) {
        const auto [j, v] = row[q];
        if (j < 0 || j >= M || !is_offset[static_cast<std::size_t>(((j - i) % M + M) % M)] || v != w) ++wrong;
        if (q > 0 && row[q - 1].first >= j) ++unsorted;
      }
    }
    CHECK(wrong == 0);
    CHECK(unsorted == 0);
    CHECK(spare == 0);
  }
}

TEST_CASE("ring and torus rows hold no spare capacity", "[topology]") {
  for (Index M : {2, 3, 12, 5000}) {
    for (const Topology& W : {ring_topology(M), torus_topology(M)}) {
      Index spare = 0;
      for (const auto& row : W.rows) spare += row.capacity() != row.size();
      INFO("M = " << M);
      CHECK(spare == 0);
    }
  }
}

TEST_CASE("every topology is symmetric, doubly stochastic and non-negative", "[topology]") {
  for (const std::string kind : {"complete", "ring", "torus", "exponential", "random-ring"}) {
    for (Index M : {1, 2, 3, 5, 8, 12, 33}) {
      const MixingSchedule s(kind, M, 7);
      for (int round = 0; round < 3; ++round) {
        const Matrix W = s.at(5, round).dense();
        INFO(kind << " M = " << M);
        CHECK((W - W.transpose()).cwiseAbs().maxCoeff() < 1e-15);
        CHECK((W.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-14);
        CHECK(W.minCoeff() >= 0.0);
      }
    }
  }
}

TEST_CASE("mixing equals X W^t by dense products, preserves the column average and contracts by rho^t",
          "[mixer]") {
  for (const std::string kind : {"single", "complete", "ring", "torus", "exponential", "random-ring"}) {
    for (Index M : {1, 4, 9, 16}) {
      if (kind == "single" && M != 1) continue;
      for (int t : {0, 1, 2, 5}) {
        INFO(kind << " M = " << M << " t = " << t);
        const MixingSchedule sched(kind, M, 3);
        const CpuMixer mixer(sched);
        // d larger than one cache block, to cross block boundaries.
        const Matrix X0 = random_matrix(5000, M, 11);
        Matrix X = X0;
        const std::int64_t iteration = 17;
        mixer.mix(X, t, iteration);
        // Independent computation: the dense product of this iteration's round matrices.
        Matrix expected = X0;
        const int effective = sched.is_complete() ? std::min(t, 1) : t;
        for (int r = 0; r < effective; ++r) expected = expected * sched.at(iteration, r).dense();
        CHECK((X - expected).cwiseAbs().maxCoeff() < 1e-12);
        CHECK((X.rowwise().mean() - X0.rowwise().mean()).cwiseAbs().maxCoeff() < 1e-12);
        // t-round contraction: ||X W^t - X̄||_F <= rho^t ||X - X̄||_F (each round contracts by rho,
        // random rings included, since every drawn ring has the ring's spectrum).
        const double bound = std::pow(sched.rho(), effective) * deviation(X0).norm();
        CHECK(deviation(X).norm() <= bound * (1 + 1e-12) + 1e-12);
      }
    }
  }
}

TEST_CASE("translate_runs: maximal runs of rows that are translates of the run's first row", "[mixer]") {
  // The definition checked pair by pair, independently of the scan: inside a run every row is the
  // previous one shifted by one column with the same weights; across a boundary it is not.
  const auto shifted = [](const Topology& W, Index i) {
    const auto& a = W.rows[static_cast<std::size_t>(i - 1)];
    const auto& b = W.rows[static_cast<std::size_t>(i)];
    if (a.size() != b.size()) return false;
    for (std::size_t q = 0; q < a.size(); ++q)
      if (b[q].first != a[q].first + 1 || b[q].second != a[q].second) return false;
    return true;
  };
  for (const std::string kind : {"ring", "torus", "exponential", "grid", "star", "erdos-renyi"}) {
    for (Index M : {Index{1}, Index{2}, Index{5}, Index{64}, Index{1000}}) {
      if (kind == "torus" && M < 4) continue;
      INFO(kind << " M = " << M);
      Topology W;
      try {
        W = MixingSchedule(kind, M, 3).base();
      } catch (const std::exception&) {
        continue;  // a topology this M does not have (e.g. a torus of a prime)
      }
      const std::vector<NodeRun> runs = translate_runs(W);
      REQUIRE(!runs.empty());
      CHECK(runs.front().begin == 0);
      CHECK(runs.back().end == M);
      for (std::size_t r = 0; r < runs.size(); ++r) {
        CHECK(runs[r].begin < runs[r].end);
        if (r > 0) CHECK(runs[r].begin == runs[r - 1].end);
        for (Index i = runs[r].begin + 1; i < runs[r].end; ++i) CHECK(shifted(W, i));
        if (r > 0) CHECK_FALSE(shifted(W, runs[r].begin));
      }
    }
  }
  // A ring is node 0, nodes 1..M-2 and node M-1.
  const std::vector<NodeRun> ring = translate_runs(ring_topology(10));
  REQUIRE(ring.size() == 3);
  CHECK((ring[0].begin == 0 && ring[0].end == 1 && ring[1].end == 9 && ring[2].end == 10));
}

TEST_CASE("mixing many workers by whole columns gives each element the row's sum in order, bit for bit",
          "[mixer]") {
  // Past a cache's worth of workers (d M > 128 Ki doubles per row block) CpuMixer mixes each round
  // as one pass over whole columns, trading X with a buffer after odd t. The reference: each
  // element summed over W's row in the row's order, one term at a time, here (the row blocks add
  // the same terms in the same order, which every small-M result in the golden corpus records).
  // ring, torus and exponential go a tile of translated rows at a time (translate_runs), grid and
  // star mostly node by node (their runs are short), random-ring by node triples.
  for (const std::string kind : {"ring", "torus", "exponential", "grid", "star", "random-ring"}) {
    // A row block has at least 8 rows, so past 16384 workers every thread count takes this path.
    for (const auto& [d, M] : {std::pair<Index, Index>{20, 17000}, {37, 17000}}) {
      for (int t : {1, 2, 3}) {
        INFO(kind << " d = " << d << " M = " << M << " t = " << t);
        REQUIRE(mixes_whole_columns(d, M, omp_get_max_threads()));
        const MixingSchedule sched(kind, M, 3);
        const CpuMixer mixer(sched);
        const Matrix X0 = random_matrix(d, M, 21);
        Matrix X = X0;
        const std::int64_t iteration = 5;
        mixer.mix(X, t, iteration);
        Matrix expected = X0;
        for (int r = 0; r < t; ++r) {
          const Topology W = sched.at(iteration, r);
          Matrix next(d, M);
          for (Index i = 0; i < M; ++i)
            for (Index k = 0; k < d; ++k) {
              const auto& row = W.rows[static_cast<std::size_t>(i)];
              volatile double s = row[0].second * expected(k, row[0].first);  // no fused multiply-add
              for (std::size_t e = 1; e < row.size(); ++e) {
                const volatile double term = row[e].second * expected(k, row[e].first);
                s = s + term;
              }
              next(k, i) = s;
            }
          expected = next;
        }
        CHECK(X == expected);
        CHECK((X.rowwise().mean() - X0.rowwise().mean()).cwiseAbs().maxCoeff() < 1e-12);
      }
    }
  }
  // The same mixer again (its buffer reused, X's storage swapped in an earlier call) still mixes.
  const CpuMixer mixer(MixingSchedule("ring", 17000, 3));
  Matrix X = random_matrix(20, 17000, 4), Y = X;
  mixer.mix(X, 3, 1);
  mixer.mix(X, 3, 2);
  CpuMixer(MixingSchedule("ring", 17000, 3)).mix(Y, 6, 1);
  CHECK(X == Y);
  // Few workers stay on row blocks (all rounds in cache).
  CHECK_FALSE(mixes_whole_columns(5000, 16, 2));
}

TEST_CASE("a mixer with a wrong weight breaks the contraction check", "[mixer]") {
  // The check above must be able to fail: a W that is not doubly stochastic moves the average.
  Matrix W = ring_topology(8).dense();
  W(0, 0) += 0.1;
  const Matrix X0 = random_matrix(10, 8, 5);
  const Matrix X = X0 * W;
  CHECK((X.rowwise().mean() - X0.rowwise().mean()).cwiseAbs().maxCoeff() > 1e-3);
  CHECK_THROWS_AS(topology_from_dense(W, "--topology-file"), InputError);
}

TEST_CASE("a drawn ring rewritten into a reused W is the Topology permuted_ring_topology builds", "[mixer]") {
  // CpuMixer rewrites its rounds' W in place (core/topology.hpp, fill_permuted_ring); the rows,
  // weights and their order must be permuted_ring_topology's for the sums to stay bit for bit.
  Topology W;
  for (Index M : {1, 2, 3, 4, 5, 9, 300, 7, 5000, 2, 6000}) {  // shrinking and growing over the same W (5000: on threads)
    const MixingSchedule s("random-ring", M, 5);
    for (int r : {0, 1}) {
      s.at_into(9, r, W);
      const Topology expected = s.at(9, r);
      INFO("M = " << M << " round " << r);
      CHECK(W.workers == expected.workers);
      CHECK(W.rows == expected.rows);
    }
  }
  // A mixer called twice (rows reused) mixes as a fresh one.
  const MixingSchedule s("random-ring", 50, 8);
  const CpuMixer reused(s);
  Matrix X = random_matrix(7, 50, 3), Y = X;
  reused.mix(X, 2, 1);
  reused.mix(X, 2, 2);
  CpuMixer(s).mix(Y, 2, 1);
  CpuMixer(s).mix(Y, 2, 2);
  CHECK(X == Y);
}

TEST_CASE("a drawn ring's node triples are the rows permuted_ring_topology builds", "[mixer]") {
  // CpuMixer mixes a drawn ring on whole columns from permuted_ring_triples (12 B a node), so each
  // triple must hold the row's three nodes in the row's order, every weight 1/3.
  std::vector<std::uint32_t> triples;
  for (Index M : {3, 4, 5, 9, 300, 7, 5000, 3, 6000}) {  // 5000, 6000: on threads; shrinking and growing
    const MixingSchedule s("random-ring", M, 5);
    for (int r : {0, 1}) {
      std::vector<Index> perm;
      s.permutation_into(9, r, perm);
      permuted_ring_triples(perm, triples);
      const Topology expected = s.at(9, r);
      INFO("M = " << M << " round " << r);
      REQUIRE(triples.size() == 3 * static_cast<std::size_t>(M));
      for (Index i = 0; i < M; ++i) {
        const auto& row = expected.rows[static_cast<std::size_t>(i)];
        REQUIRE(row.size() == 3);
        for (std::size_t q = 0; q < 3; ++q) {
          CHECK(triples[3 * static_cast<std::size_t>(i) + q] == static_cast<std::uint32_t>(row[q].first));
          CHECK(row[q].second == 1.0 / 3.0);
        }
      }
    }
  }
  CHECK_THROWS(permuted_ring_triples({0, 1}, triples));
  std::vector<Index> unused;
  CHECK_THROWS(MixingSchedule("ring", 8, 1).permutation_into(0, 0, unused));
}

TEST_CASE("a random ring's order is Fisher-Yates over the round's mt19937_64 stream", "[mixer]") {
  // The definition, one swap at a time: position i (from M - 1 down) swaps with r % (i + 1), r the
  // first word of std::mt19937_64(derive_seed(seed, mixing, splitmix64(iteration) ^ round)) below
  // 2^64 - 1 - (2^64 - 1) % (i + 1). The mixer draws them in prefetched batches.
  for (Index M : {2, 3, 31, 32, 33, 64, 65, 1000, 100000}) {
    const std::uint64_t seed = 17;
    const MixingSchedule s("random-ring", M, seed);
    for (const auto& [iteration, round] : {std::pair<std::int64_t, int>{0, 0}, {12, 1}, {99, 3}}) {
      std::vector<Index> expected(static_cast<std::size_t>(M));
      for (Index i = 0; i < M; ++i) expected[static_cast<std::size_t>(i)] = i;
      std::mt19937_64 g(derive_seed(seed, StreamPurpose::mixing,
                                    splitmix64(static_cast<std::uint64_t>(iteration)) ^ static_cast<std::uint64_t>(round)));
      for (Index i = M - 1; i > 0; --i) {
        const auto bound = static_cast<std::uint64_t>(i + 1);
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
        std::uint64_t r;
        do r = g(); while (r >= limit);
        std::swap(expected[static_cast<std::size_t>(i)], expected[static_cast<std::size_t>(r % bound)]);
      }
      std::vector<Index> perm;
      s.permutation_into(iteration, round, perm);
      INFO("M = " << M << " iteration " << iteration << " round " << round);
      CHECK(perm == expected);
      CHECK(permuted_ring_topology(perm).rows == s.at(iteration, round).rows);
    }
  }
}

TEST_CASE("random-ring draws are reproducible from (seed, iteration, round) and differ across rounds", "[mixer]") {
  const MixingSchedule a("random-ring", 16, 42), b("random-ring", 16, 42), c("random-ring", 16, 43);
  CHECK(a.at(3, 1).dense() == b.at(3, 1).dense());
  CHECK(a.at(3, 1).dense() != a.at(3, 2).dense());
  CHECK(a.at(3, 1).dense() != c.at(3, 1).dense());
}

TEST_CASE("Remark 2: random mixing contracts faster than rho^t and stays below sqrt(M-1)/sqrt(3)^t", "[mixer]") {
  const Index M = 32;
  const MixingSchedule s("random-ring", M, 9);
  for (int t : {1, 2, 4, 6}) {
    const double measured = s.mean_product_deviation(t, 200);
    INFO("t = " << t);
    CHECK(measured < std::sqrt(static_cast<double>(M - 1)) / std::pow(std::sqrt(3.0), t));
    if (t >= 2) CHECK(measured < std::pow(s.rho(), t));
  }
}

TEST_CASE("user W is validated", "[topology]") {
  Matrix W = complete_topology(4).dense();
  CHECK_NOTHROW(topology_from_dense(W, "--topology-file"));
  Matrix asym = W;
  asym(0, 1) += 0.1;
  asym(0, 2) -= 0.1;
  CHECK_THROWS_WITH(topology_from_dense(asym, "--topology-file"), Catch::Contains("not symmetric"));
  Matrix neg = Matrix::Identity(3, 3) * 1.5;
  neg(0, 1) = neg(1, 0) = -0.5;
  neg(2, 2) = 1.0;
  CHECK_THROWS_WITH(topology_from_dense(neg, "--topology-file"), Catch::Contains("non-negative"));
  CHECK_THROWS_WITH(topology_from_dense(Matrix::Identity(4, 4), "--topology-file"), Catch::Contains("rho"));
  Matrix rows = W;
  rows(0, 0) += 0.2;
  rows(1, 1) += 0.2;
  CHECK_THROWS_WITH(topology_from_dense(rows, "--topology-file"), Catch::Contains("doubly stochastic"));
  CHECK_THROWS_WITH(MixingSchedule("hypercube", 4, 0), Catch::Contains("mixer.topology"));
  CHECK_THROWS_WITH(MixingSchedule("ring", 0, 0), Catch::Contains("mixer.workers"));
  CHECK_THROWS_WITH(MixingSchedule("single", 3, 0), Catch::Contains("mixer.workers 1"));
}

TEST_CASE("bytes on the busiest node count every round's messages", "[mixer]") {
  CHECK(MixingSchedule("ring", 8, 0).bytes_busiest_per_iteration(100, 3) == 3 * 2 * 100 * 8);
  CHECK(MixingSchedule("complete", 8, 0).bytes_busiest_per_iteration(100, 3) == 1 * 7 * 100 * 8);
  CHECK(MixingSchedule("torus", 16, 0).bytes_busiest_per_iteration(10, 1) == 4 * 10 * 8);
  CHECK(MixingSchedule("single", 1, 0).bytes_busiest_per_iteration(10, 4) == 0);
}
