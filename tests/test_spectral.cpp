// ctest-label: unit
// The closed forms and the sparse estimators of core/spectral.hpp and MixingSchedule against the
// dense computation they replace for large M (Eigen's eigensolver and SVD of the M x M matrices).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <numbers>

#include <H5Cpp.h>

#include "core/error.hpp"
#include "core/mixer.hpp"
#include "core/spectral.hpp"

using namespace dposg;

namespace {
Topology topology_of(const std::string& kind, Index M) {
  if (kind == "single") return single_topology();
  if (kind == "complete") return complete_topology(M);
  if (kind == "ring") return ring_topology(M);
  if (kind == "torus") return torus_topology(M);
  return exponential_topology(M);
}
}  // namespace

TEST_CASE("closed-form spectra equal the dense eigensolver for every M <= 256", "[spectral]") {
  for (const std::string kind : {"ring", "torus", "exponential", "complete"}) {
    for (Index M = 1; M <= 256; ++M) {
      const Spectrum dense = spectrum(topology_of(kind, M));
      const auto closed = closed_form_spectrum(kind, M);
      INFO(kind << " M = " << M);
      REQUIRE(closed.has_value());
      REQUIRE(closed->size() == M);
      // Both descending: element by element; the dense solver is accurate to a few ulps of 1.
      CHECK((*closed - dense.eigenvalues).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
  CHECK_FALSE(closed_form_spectrum("file", 8).has_value());
}

TEST_CASE("Lanczos rho of a sparse W equals the dense rho", "[spectral]") {
  for (const std::string kind : {"ring", "torus", "exponential", "complete"}) {
    for (Index M : {2, 3, 5, 8, 17, 64, 200}) {
      INFO(kind << " M = " << M);
      const Topology W = topology_of(kind, M);
      CHECK(sparse_rho(W) == Approx(spectrum(W).rho).margin(1e-9));
    }
  }
  // A W that is not circulant: a path graph with Metropolis weights (1/3 to each neighbour).
  for (Index M : {3, 10, 90}) {
    Matrix D = Matrix::Zero(M, M);
    for (Index i = 0; i + 1 < M; ++i) D(i, i + 1) = D(i + 1, i) = 1.0 / 3.0;
    for (Index i = 0; i < M; ++i) D(i, i) = 1.0 - D.row(i).sum();
    const Topology W = topology_from_dense(D, "--topology-file");
    INFO("path M = " << M);
    CHECK(sparse_rho(W) == Approx(spectrum(W).rho).margin(1e-9));
  }
}

TEST_CASE("schedules above the dense limit take rho from the closed forms and say so", "[spectral]") {
  for (const std::string kind : {"ring", "torus", "exponential", "random-ring"}) {
    const Index M = 1000;
    const MixingSchedule s(kind, M, 3);
    INFO(kind);
    CHECK(s.base_spectrum().method == "closed form");
    CHECK(s.base_spectrum().full);
    const Spectrum dense = spectrum(s.base());
    CHECK(s.rho() == Approx(dense.rho).margin(1e-12));
  }
  // Beyond the stored-spectrum limit only rho is kept.
  const MixingSchedule big("ring", kStoredSpectrumMaxWorkers + 1, 0);
  CHECK_FALSE(big.base_spectrum().full);
  CHECK(big.base_spectrum().eigenvalues.size() == 0);
  const double M = static_cast<double>(kStoredSpectrumMaxWorkers + 1);
  CHECK(big.rho() == Approx(1.0 / 3.0 + 2.0 / 3.0 * std::cos(2.0 * std::numbers::pi / M)).epsilon(1e-14));
  // Small M keep the dense solver (every file written so far has its numbers).
  CHECK(MixingSchedule("ring", 64, 0).base_spectrum().method == "dense");
}

TEST_CASE("the product deviation by Lanczos on neighbour products equals the dense SVD", "[spectral]") {
  // The dense path (M <= kDenseDeviationMaxWorkers) is the reference: the same draws, computed
  // through the M x M product, for an M just above the limit.
  const Index M = kDenseDeviationMaxWorkers + 72;
  const MixingSchedule s("random-ring", M, 11);
  for (int t : {1, 2, 3}) {
    for (std::int64_t draw : {0, 5}) {
      Matrix P = Matrix::Identity(M, M);
      for (int r = 0; r < t; ++r) P = P * s.at((std::int64_t{1} << 52) + draw, r).dense();
      P.array() -= 1.0 / static_cast<double>(M);
      const double dense = Eigen::JacobiSVD<Matrix>(P).singularValues()(0);
      INFO("t = " << t << " draw " << draw);
      // Plain Lanczos stopped at kDeviationLanczosTolerance (core/spectral.hpp): a lower bound (up to
      // the operator's single-precision rounding, ~1e-7) within its stated error of the dense norm.
      const MixingSchedule::Draw d = s.product_deviation_draw(t, draw);
      CHECK(d.value <= dense + 1e-6);
      CHECK(dense - d.value <= d.convergence_error + 1e-6);
      CHECK(d.value == Approx(dense).epsilon(1e-4));
      if (t > 1) CHECK(d.lanczos_steps >= 8);
    }
  }
  // t = 1: every drawn ring has the ring's spectrum, so the deviation is rho exactly.
  CHECK(s.product_deviation(1, 3) == Approx(s.rho()).epsilon(1e-6));
  // Fixed W above the limit: rho^t.
  const MixingSchedule ring("ring", M, 0);
  CHECK(ring.product_deviation(3, 0) == Approx(std::pow(ring.rho(), 3)).epsilon(1e-14));
}

TEST_CASE("the stopped Lanczos deviation is within its stated error of a long-run solve", "[spectral]") {
  // The reference: Lanczos run to a relative change of 1e-10 on P^T P in double, each W_r applied
  // by its own rows from MixingSchedule::at in node order (not the coordinates, gathers and single
  // precision of core/mixer.cpp), for the same draws at an M where a draw's stop can fall short of
  // convergence (t = 3, draw 1: 3e-5 below, stated 2.3e-4). Spectra (implicitly restarted, to
  // 1e-8) gave the same references to the 6 digits compared, in 6 s.
  const Index M = 20000;
  const MixingSchedule s("random-ring", M, 2);
  for (int t : {2, 3}) {
    double stopped = 0.0, reference = 0.0, stated = 0.0;
    for (std::int64_t draw : {0, 1}) {
      std::vector<Topology> W;
      for (int r = 0; r < t; ++r) W.push_back(s.at((std::int64_t{1} << 52) + draw, r));
      std::vector<double> a(M), b(M);
      auto by_rows = [M](const Topology& T, const double* x, double* y) {
        for (Index i = 0; i < M; ++i) {
          double v = 0.0;
          for (const auto& [j, w] : T.rows[static_cast<std::size_t>(i)]) v += w * x[j];
          y[i] = v;
        }
      };
      const std::function<void(const double*, double*)> gram = [&](const double* x, double* y) {
        std::copy(x, x + M, a.data());
        for (int r = t - 1; r >= 0; --r) by_rows(W[static_cast<std::size_t>(r)], a.data(), b.data()), a.swap(b);
        for (int r = 0; r < t; ++r) by_rows(W[static_cast<std::size_t>(r)], a.data(), b.data()), a.swap(b);
        std::copy(a.begin(), a.end(), y);
      };
      // ~250 steps; the stop below takes 70-90.
      const double ref = std::sqrt(largest_ritz_value_on_complement(M, gram, 1e-10, 20000).value);
      const MixingSchedule::Draw d = s.product_deviation_draw(t, draw);
      INFO("t = " << t << " draw " << draw << ": stopped " << d.value << " after " << d.lanczos_steps
                  << " steps, stated error " << d.convergence_error << ", reference " << ref);
      CHECK(d.value <= ref + 1e-6);
      CHECK(ref - d.value <= d.convergence_error);
      // The stop is where the stated error reaches the tolerance, so it is not trivially large.
      CHECK(d.convergence_error <= kDeviationLanczosTolerance * d.value * 1.0001);
      stopped += d.value / 2, reference += ref / 2, stated += d.convergence_error / 2;
    }
    // The same for the estimate's mean and its convergence_error (the first two draws).
    CHECK(reference - stopped <= stated);
  }
}

TEST_CASE("the deviation estimate reports its Monte-Carlo error, stays under Remark 2's bound, and is cached",
          "[spectral]") {
  const Index M = 300;
  const MixingSchedule s("random-ring", M, 5);
  for (int t : {2, 4}) {
    const DeviationEstimate e = s.product_deviation_estimate(t, 200);
    INFO("t = " << t);
    CHECK(e.method == "Lanczos");
    CHECK(e.draws >= kMinDeviationDraws);
    CHECK(e.draws <= 200);
    CHECK(e.std_error >= 0.0);
    // The stopping rule, unless all 200 draws ran first.
    if (e.draws < 200) CHECK(e.std_error <= 1e-3 * e.mean + 1e-12);
    // Remark 2: E||W_t...W_1 - J|| <= sqrt(M - 1) / sqrt(3)^t, and random rounds beat rho^t.
    CHECK(e.mean < std::sqrt(static_cast<double>(M - 1)) / std::pow(std::sqrt(3.0), t));
    CHECK(e.mean < std::pow(s.rho(), t));
    // The mean of its first draws, recomputed one by one.
    double sum = 0.0;
    for (int k = 0; k < e.draws; ++k) sum += s.product_deviation(t, k);
    CHECK(e.mean == Approx(sum / e.draws).epsilon(1e-12));
    // Cached: the same numbers from a second schedule of the same kind, M and seed.
    const DeviationEstimate again = MixingSchedule("random-ring", M, 5).product_deviation_estimate(t, 200);
    CHECK(again.mean == e.mean);
    CHECK(again.draws == e.draws);
  }
  // Small M: the dense path with every draw, equal to mean_product_deviation.
  const MixingSchedule small("random-ring", 16, 5);
  const DeviationEstimate d = small.product_deviation_estimate(2, 50);
  CHECK(d.method == "dense");
  CHECK(d.draws == 50);
  CHECK(d.mean == small.mean_product_deviation(2, 50));
}

TEST_CASE("complete W beyond its stored size is refused with one line naming --workers", "[spectral]") {
  CHECK_THROWS_WITH(complete_topology(kCompleteMaxWorkers + 1), Catch::StartsWith("mixer.workers: mixer.topology complete"));
}

namespace {
// Writes W (given by rows) as CSR datasets indptr, indices, data.
void write_csr(const std::string& path, const Topology& W) {
  std::vector<std::int64_t> indptr{0}, indices;
  std::vector<double> data;
  for (const auto& row : W.rows) {
    for (const auto& [j, w] : row) {
      indices.push_back(j);
      data.push_back(w);
    }
    indptr.push_back(static_cast<std::int64_t>(data.size()));
  }
  H5::H5File f(path, H5F_ACC_TRUNC);
  auto put = [&](const std::string& name, const void* p, hsize_t n, const H5::PredType& file_type,
                 const H5::PredType& mem) {
    H5::DataSpace s(1, &n);
    f.createDataSet(name, file_type, s).write(p, mem);
  };
  put("indptr", indptr.data(), indptr.size(), H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64);
  put("indices", indices.data(), indices.size(), H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64);
  put("data", data.data(), data.size(), H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE);
}
std::string temp_path(const std::string& name) { return "/tmp/dposg-test-spectral-" + name + ".h5"; }
}  // namespace

TEST_CASE("a topology file may hold a sparse W (CSR), validated like a dense one", "[spectral]") {
  // A ring of 1000 nodes as a file: the same W and rho as the built-in ring (sparse solver
  // against the closed form).
  const std::string ring = temp_path("ring");
  write_csr(ring, ring_topology(1000));
  const MixingSchedule s("file", 1000, 0, ring);
  CHECK(s.base().rows == ring_topology(1000).rows);
  CHECK(s.base_spectrum().method == "Lanczos");
  CHECK(s.rho() == Approx(ring_rho_closed_form(1000)).epsilon(1e-9));
  // Small M: the dense solver, as for a dense file.
  const std::string small = temp_path("small");
  write_csr(small, torus_topology(12));
  CHECK(MixingSchedule("file", 12, 0, small).rho() == Approx(spectrum(torus_topology(12)).rho).margin(1e-12));

  // Damage: each a one-line InputError naming --topology-file.
  Topology asym = ring_topology(6);
  asym.rows[0][1].second += 0.1;
  asym.rows[0][0].second -= 0.1;
  write_csr(temp_path("asym"), asym);
  CHECK_THROWS_WITH(MixingSchedule("file", 6, 0, temp_path("asym")), Catch::Contains("mixer.topology_file") &&
                                                                         Catch::Contains("not symmetric"));
  Topology rows = ring_topology(6);
  rows.rows[2][0].second = 0.5;
  write_csr(temp_path("rows"), rows);
  CHECK_THROWS_WITH(MixingSchedule("file", 6, 0, temp_path("rows")), Catch::Contains("not doubly stochastic"));
  Topology range = ring_topology(6);
  range.rows[3][0].first = 17;
  write_csr(temp_path("range"), range);
  CHECK_THROWS_WITH(MixingSchedule("file", 6, 0, temp_path("range")), Catch::Contains("out of range"));
  // Two disconnected rings of 200: doubly stochastic and symmetric, but rho = 1.
  Topology two = ring_topology(400);
  const Topology half = ring_topology(200);
  for (Index i = 0; i < 400; ++i) {
    two.rows[static_cast<std::size_t>(i)].clear();
    for (auto [j, w] : half.rows[static_cast<std::size_t>(i % 200)])
      two.rows[static_cast<std::size_t>(i)].emplace_back(j + (i / 200) * 200, w);
  }
  write_csr(temp_path("two"), two);
  CHECK_THROWS_WITH(MixingSchedule("file", 400, 0, temp_path("two")), Catch::Contains("not < 1"));
  for (const char* n : {"ring", "small", "asym", "rows", "range", "two"}) std::remove(temp_path(n).c_str());
}
