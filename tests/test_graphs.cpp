// ctest-label: unit
// The graphs of core/graphs.hpp (star, grid, erdos-renyi, one-peer-exponential) against
// computations written here: W matrices built from their definitions, Eigen's dense eigensolver and
// SVD, the path graph's closed form, and the edge statistics of G(M, p).
#include <catch2/catch.hpp>

#include <H5Cpp.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "core/graphs.hpp"
#include "core/mixer.hpp"
#include "core/player_split_mixer.hpp"
#include "core/spectral.hpp"

using namespace dposg;

namespace {

// Symmetric (where asked), non-negative, rows and columns summing to 1.
void check_doubly_stochastic(const Matrix& W, bool symmetric) {
  const Index M = W.rows();
  CHECK(W.minCoeff() >= 0.0);
  CHECK((W.rowwise().sum() - Vector::Ones(M)).cwiseAbs().maxCoeff() < 1e-13);
  CHECK((W.colwise().sum().transpose() - Vector::Ones(M)).cwiseAbs().maxCoeff() < 1e-13);
  if (symmetric) CHECK((W - W.transpose()).cwiseAbs().maxCoeff() == 0.0);
}

// Metropolis-Hastings weights from an adjacency matrix, written out from the definition.
Matrix metropolis(const Matrix& A) {
  const Index M = A.rows();
  const Vector deg = A.rowwise().sum();
  Matrix W = Matrix::Zero(M, M);
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < M; ++j)
      if (A(i, j) != 0.0 && i != j) W(i, j) = 1.0 / (1.0 + std::max(deg[i], deg[j]));
  for (Index i = 0; i < M; ++i) W(i, i) = 1.0 - W.row(i).sum();
  return W;
}

double dense_rho(const Matrix& W) {
  const Index M = W.rows();
  return (W - Matrix::Constant(M, M, 1.0 / static_cast<double>(M))).jacobiSvd().singularValues()(0);
}

// (I + S^h)/2 as the test reads the schedule: x_i <- (x_i + x_{(i+h) mod M}) / 2, so row i has 1/2 at
// i and 1/2 at i + h (X <- X W^T).
Matrix one_peer_dense(Index M, Index h) {
  Matrix W = Matrix::Zero(M, M);
  for (Index i = 0; i < M; ++i) {
    W(i, i) += 0.5;
    W(i, (i + h) % M) += 0.5;
  }
  return W;
}

}  // namespace

TEST_CASE("star: Metropolis weights and the closed-form spectrum against the dense eigensolver", "[graphs]") {
  for (Index M = 2; M <= 64; ++M) {
    INFO("M = " << M);
    Matrix A = Matrix::Zero(M, M);
    for (Index i = 1; i < M; ++i) A(0, i) = A(i, 0) = 1.0;
    const Matrix W = star_topology(M).dense();
    CHECK((W - metropolis(A)).cwiseAbs().maxCoeff() < 1e-15);
    check_doubly_stochastic(W, true);
    const Vector ev = Eigen::SelfAdjointEigenSolver<Matrix>(W).eigenvalues().reverse();
    CHECK((star_spectrum(M) - ev).cwiseAbs().maxCoeff() < 1e-12);
  }
  // Above the dense limit the schedule uses the closed form: rho = 1 - 1/M.
  const MixingSchedule big("star", 5000, 0);
  CHECK(big.base_spectrum().method == "closed form");
  CHECK(big.rho() == Approx(1.0 - 1.0 / 5000).epsilon(1e-14));
  CHECK(big.base().max_degree() == 4999);
}

TEST_CASE("grid: Metropolis weights of the non-wrapping r x c grid, rho by Lanczos against dense", "[graphs]") {
  for (Index M : {2, 3, 4, 6, 7, 12, 16, 20, 30, 49}) {
    INFO("M = " << M);
    Index r = static_cast<Index>(std::floor(std::sqrt(static_cast<double>(M))));
    while (r > 1 && M % r != 0) --r;
    const Index c = M / r;
    Matrix A = Matrix::Zero(M, M);
    for (Index a = 0; a < r; ++a)
      for (Index b = 0; b < c; ++b) {
        if (a + 1 < r) A(a * c + b, (a + 1) * c + b) = A((a + 1) * c + b, a * c + b) = 1;
        if (b + 1 < c) A(a * c + b, a * c + b + 1) = A(a * c + b + 1, a * c + b) = 1;
      }
    const Matrix W = grid_topology(M).dense();
    CHECK((W - metropolis(A)).cwiseAbs().maxCoeff() < 1e-15);
    check_doubly_stochastic(W, true);
  }
  // M prime: a path, whose Metropolis W is I - L/3 except at the ends, where L's end rows have
  // degree 1: W = I - L/3 exactly, with eigenvalues 1 - (2 - 2 cos(pi k / M)) / 3.
  for (Index M : {5, 7, 13, 31}) {
    const Spectrum s = spectrum(grid_topology(M));
    Vector closed(M);
    for (Index k = 0; k < M; ++k) closed[k] = 1.0 - (2.0 - 2.0 * std::cos(std::numbers::pi * k / M)) / 3.0;
    INFO("path M = " << M);
    CHECK((s.eigenvalues - closed).cwiseAbs().maxCoeff() < 1e-12);
  }
  // Above M = 256 the schedule's rho comes from Lanczos; here against the dense eigensolver.
  const MixingSchedule g("grid", 300, 0);
  CHECK(g.base_spectrum().method == "Lanczos");
  CHECK(g.rho() == Approx(spectrum(g.base()).rho).margin(1e-9));
}

TEST_CASE("erdos-renyi: seeded, connected, Metropolis, and G(M, p)'s edge statistics", "[graphs]") {
  const Index M = 60;
  const double p = 0.3;
  // Same seed, same graph; another seed, another graph.
  CHECK(erdos_renyi_topology(M, p, 4).W.dense() == erdos_renyi_topology(M, p, 4).W.dense());
  CHECK(erdos_renyi_topology(M, p, 4).W.dense() != erdos_renyi_topology(M, p, 5).W.dense());
  double edges = 0.0, first = 0.0, last = 0.0;
  const int seeds = 400;
  for (int s = 0; s < seeds; ++s) {
    const Matrix W = erdos_renyi_topology(M, p, static_cast<std::uint64_t>(s)).W.dense();
    Matrix A = (W.array() > 0.0).cast<double>();
    A.diagonal().setZero();
    if (s < 20) {
      CHECK((W - metropolis(A)).cwiseAbs().maxCoeff() < 1e-15);
      check_doubly_stochastic(W, true);
      CHECK(dense_rho(W) < 1.0 - 1e-9);  // connected
    }
    edges += A.sum() / 2.0;
    first += A(1, 0);
    last += A(M - 1, M - 2);
  }
  // Binomial(M(M-1)/2, p) per draw (connectivity at p = 0.3, M = 60 is all but certain: a redraw would
  // bias this by < 1e-6); within 5 standard errors.
  const double pairs = M * (M - 1) / 2.0;
  CHECK(std::abs(edges / seeds - p * pairs) < 5.0 * std::sqrt(pairs * p * (1 - p) / seeds));
  // The first and the last pair of the skip order are each an edge with probability p.
  CHECK(std::abs(first / seeds - p) < 5.0 * std::sqrt(p * (1 - p) / seeds));
  CHECK(std::abs(last / seeds - p) < 5.0 * std::sqrt(p * (1 - p) / seeds));
  // p = 1: the complete graph with Metropolis weights 1/M.
  CHECK((erdos_renyi_topology(8, 1.0, 0).W.dense() - Matrix::Constant(8, 8, 1.0 / 8)).cwiseAbs().maxCoeff() < 1e-15);
  // Large M: Lanczos against dense.
  const MixingSchedule big("erdos-renyi", 300, 3, "", 0.05);
  CHECK(big.base_spectrum().method == "Lanczos");
  CHECK(big.rho() == Approx(spectrum(big.base()).rho).margin(1e-9));
  CHECK(big.edge_prob() == 0.05);
  CHECK(MixingSchedule("erdos-renyi", 300, 3).edge_prob() == Approx(2 * std::log(300.0) / 300));
}

TEST_CASE("erdos-renyi: bad or hopeless --edge-prob is one line naming the option", "[graphs]") {
  CHECK_THROWS_WITH(MixingSchedule("erdos-renyi", 50, 0, "", -0.5), Catch::StartsWith("mixer.edge_prob: must be in (0, 1]"));
  CHECK_THROWS_WITH(MixingSchedule("erdos-renyi", 50, 0, "", 1.5), Catch::StartsWith("mixer.edge_prob: must be in (0, 1]"));
  CHECK_THROWS_WITH(MixingSchedule("erdos-renyi", 200, 0, "", 0.001),
                    Catch::StartsWith("mixer.edge_prob: G(200, 0.001) was disconnected in all 100 draws"));
  CHECK_THROWS_WITH(MixingSchedule("erdos-renyi", 100000, 0, "", 0.5), Catch::StartsWith("mixer.edge_prob:"));
}

TEST_CASE("one-peer-exponential: each round is (I + S^h)/2 with h = 2^((k + r) mod tau)", "[graphs]") {
  for (Index M : {2, 3, 5, 8, 12, 16, 33}) {
    int tau = 0;
    while ((Index{1} << tau) < M) ++tau;
    const MixingSchedule s("one-peer-exponential", M, 0);
    CHECK(s.is_time_varying());
    CHECK(s.base().max_degree() == 1);
    CHECK(s.bytes_busiest_per_iteration(10, 3) == 3 * 10 * 8);
    for (std::int64_t k : {0, 1, 7}) {
      for (int r = 0; r < 4; ++r) {
        const Index h = Index{1} << ((k + r) % tau);
        INFO("M = " << M << " k = " << k << " r = " << r);
        const Matrix W = s.at(k, r).dense();
        CHECK(W == one_peer_dense(M, h));
        check_doubly_stochastic(W, h % M == M - h % M);
      }
    }
    // The mixer: column i becomes (x_i + x_{i+h})/2, round after round.
    Matrix X = Matrix::Random(7, M), Y = X;
    CpuMixer(s).mix(X, 3, 5);
    for (int r = 0; r < 3; ++r) {
      const Index h = Index{1} << ((5 + r) % tau);
      Matrix next(Y.rows(), M);
      for (Index i = 0; i < M; ++i) next.col(i) = (Y.col(i) + Y.col((i + h) % M)) / 2;
      Y = next;
    }
    CHECK((X - Y).cwiseAbs().maxCoeff() < 1e-15);
  }
}

TEST_CASE("one-peer-exponential: closed-form deviation and rho against dense products and SVDs", "[graphs]") {
  for (Index M = 2; M <= 40; ++M) {
    const int tau = one_peer_period(M);
    double rho = 0.0;
    for (int g = 0; g < tau; ++g) rho = std::max(rho, dense_rho(one_peer_dense(M, Index{1} << g)));
    INFO("M = " << M);
    CHECK(one_peer_rho(M) == Approx(rho).margin(1e-12));
    CHECK(MixingSchedule("one-peer-exponential", M, 0).rho() == one_peer_rho(M));
    for (int t = 1; t <= 6; ++t) {
      double sum = 0.0, worst = 0.0;
      for (int g0 = 0; g0 < tau; ++g0) {
        Matrix P = Matrix::Identity(M, M);
        for (int r = 0; r < t; ++r) P = one_peer_dense(M, Index{1} << ((g0 + r) % tau)) * P;
        const double dense = dense_rho(P);
        INFO("t = " << t << " g0 = " << g0);
        CHECK(one_peer_product_deviation(M, g0, t) == Approx(dense).margin(1e-12));
        sum += dense;
        worst = std::max(worst, dense);
      }
      const DeviationEstimate e = MixingSchedule("one-peer-exponential", M, 0).product_deviation_estimate(t, 200);
      CHECK(e.mean == Approx(sum / tau).margin(1e-12));
      CHECK(e.max == Approx(worst).margin(1e-12));
      CHECK(e.draws == tau);
    }
  }
}

TEST_CASE("one-peer-exponential: exact averaging after log2 M rounds for M a power of two", "[graphs]") {
  for (Index M : {2, 4, 8, 16, 32, 64, 128, 256}) {
    const int tau = one_peer_period(M);
    for (int g0 = 0; g0 < tau; ++g0) {
      Matrix P = Matrix::Identity(M, M);
      for (int r = 0; r < tau; ++r) P = one_peer_dense(M, Index{1} << ((g0 + r) % tau)) * P;
      INFO("M = " << M << " g0 = " << g0);
      CHECK((P - Matrix::Constant(M, M, 1.0 / M)).cwiseAbs().maxCoeff() < 1e-15);
      CHECK(one_peer_product_deviation(M, g0, tau) < 1e-15);
    }
    // One round fewer does not average.
    if (M >= 4) CHECK(one_peer_product_deviation(M, 0, tau - 1) > 0.1);
  }
  // Not a power of two: tau rounds leave a deviation.
  CHECK(one_peer_product_deviation(12, 0, one_peer_period(12)) > 1e-3);
}

TEST_CASE("topology-v: u rows gossip on one W, v rows on another (PlayerSplitMixer)", "[graphs]") {
  const Index M = 8, d = 5, du = 2;
  const MixingSchedule su("ring", M, 0), sv("one-peer-exponential", M, 0);
  PlayerSplitMixer split(std::make_unique<CpuMixer>(su), std::make_unique<CpuMixer>(sv), d, du);
  // An iterate stacked on a tracker (2d rows), as the gradient-tracking rules mix them.
  Matrix X = Matrix::Random(2 * d, M), Y = X;
  split.mix(X, 3, 4);
  for (int r = 0; r < 3; ++r) {
    const Matrix Wu = su.at(4, r).dense(), Wv = sv.at(4, r).dense();
    Matrix next = Y;
    for (Index row = 0; row < 2 * d; ++row) {
      const Matrix& W = row % d < du ? Wu : Wv;
      next.row(row) = (W * Y.row(row).transpose()).transpose();
    }
    Y = next;
  }
  CHECK((X - Y).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(split.bytes_busiest_per_iteration(2 * d, 3) ==
        2 * (su.bytes_busiest_per_iteration(du, 3) + sv.bytes_busiest_per_iteration(d - du, 3)));
}

TEST_CASE("a dense --topology-file above M = 8192 is refused before it is read, naming the CSR form", "[graphs]") {
  const std::string path = "/tmp/dposg-test-graphs-dense-" + std::to_string(::getpid()) + ".h5";
  {
    // Declared 8193 x 8193 but never written (chunked, allocated late): only its shape is read.
    H5::H5File f(path, H5F_ACC_TRUNC);
    hsize_t dims[2] = {8193, 8193}, chunk[2] = {64, 64};
    H5::DSetCreatPropList plist;
    plist.setChunk(2, chunk);
    f.createDataSet("W", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, dims), plist);
  }
  CHECK_THROWS_WITH(MixingSchedule("file", 8193, 0, path),
                    Catch::StartsWith("mixer.topology_file:") && Catch::Contains("8193x8193") &&
                        Catch::Contains("indptr, indices, data"));
  std::remove(path.c_str());
}
