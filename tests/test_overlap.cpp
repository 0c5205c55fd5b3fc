// ctest-label: unit
// --overlap (DriverOptions::overlap): the paper's implementation, where each worker steps from its
// un-averaged x while the averaging runs. Checked against the recurrence written out by hand with a
// dense W built here, not with the library's topology code.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/driver.hpp"
#include "core/error.hpp"
#include "app/experiment.hpp"
#include "driver_run.hpp"
#include "linear_problem.hpp"

using namespace dposg;
using dposg::test::bilinear_test_problem;

namespace {

Matrix ring_by_hand(Index M) {
  Matrix W = Matrix::Zero(M, M);
  for (Index i = 0; i < M; ++i) {
    W(i, i) += 1.0 / 3;
    W(i, (i + 1) % M) += 1.0 / 3;
    W(i, (i + M - 1) % M) += 1.0 / 3;
  }
  return W;
}

Matrix random_start(Index d, Index M, std::uint64_t seed) {
  Rng rng = make_rng(seed, StreamPurpose::instance, 99);
  std::normal_distribution<double> nd;
  Matrix Z(d, M);
  for (Index i = 0; i < Z.size(); ++i) Z.data()[i] = nd(rng);
  return Z;
}

RunOutcome run(const Problem& p, const std::string& topology, Index M, int t, const std::string& rule, double eta,
               std::int64_t iters, const Matrix& Z0, bool overlap) {
  return dposg::test::run_rule(p, topology, M, t, rule, eta, iters, 1, 3, nullptr, nullptr, &Z0, overlap);
}

}  // namespace

TEST_CASE("overlap: OSG is Z_k = X_{k-1} - eta g(Z_{k-1}), X_k = X_{k-1} W^t - eta g(Z_k)", "[overlap]") {
  const auto p = bilinear_test_problem(3, 0.0, 11);  // sigma = 0: the oracle is g itself
  const Index M = 6, d = p.dim();
  const int t = 2;
  const double eta = 0.1;
  const std::int64_t N = 4;  // few enough that the workers still disagree
  const Matrix Z0 = 10.0 * random_start(d, M, 1);

  const Matrix Wt = ring_by_hand(M) * ring_by_hand(M);
  Matrix X = Z0, Z = Z0, G;
  p.exact(Z, G);
  for (std::int64_t k = 1; k <= N; ++k) {
    Z = X - eta * G;
    p.exact(Z, G);
    X = X * Wt - eta * G;
  }
  const Vector expected = Z.rowwise().mean();

  const RunOutcome out = run(p, "ring", M, t, "osg", eta, N, Z0, true);
  REQUIRE(out.status == RunStatus::finished);
  REQUIRE(out.z_bar.size() == d);
  CHECK((out.z_bar - expected).norm() <= 1e-12 * expected.norm());
  // The columns, through the consensus error (the metric is computed on the same Z).
  const double consensus = (Z.colwise() - expected).squaredNorm() / static_cast<double>(M);
  REQUIRE(consensus > 1.0);
  CHECK(out.last.get("consensus_error") == Approx(consensus).epsilon(1e-10));

  // Algorithm 1 on the same start: for a linear operator the average moves identically (W is doubly
  // stochastic and the mean of g is g of the mean), the workers do not.
  const RunOutcome plain = run(p, "ring", M, t, "osg", eta, N, Z0, false);
  CHECK((plain.z_bar - out.z_bar).norm() <= 1e-10 * out.z_bar.norm());
  CHECK(std::abs(plain.last.get("consensus_error") - consensus) > 1e-3 * consensus);
}

TEST_CASE("overlap: with W = I (one worker) every rule is Algorithm 1", "[overlap]") {
  // X_k = X_{k-1} + (rule(X_{k-1}) - X_{k-1}) = rule(X_{k-1}) up to round-off.
  const auto p = bilinear_test_problem(4, 0.5, 5);
  const Matrix Z0 = random_start(p.dim(), 1, 2);
  for (const std::string rule : {"osg", "oadam", "extragradient", "gda"}) {
    INFO(rule);
    const RunOutcome a = run(p, "single", 1, 2, rule, 0.05, 40, Z0, true);
    const RunOutcome b = run(p, "single", 1, 2, rule, 0.05, 40, Z0, false);
    REQUIRE(a.status == RunStatus::finished);
    CHECK((a.z_bar - b.z_bar).norm() <= 1e-12 * b.z_bar.norm());
  }
}

TEST_CASE("overlap: complete W makes every x_k the average plus the worker's own step", "[overlap]") {
  // W = 11^T/M: X_k = xbar_{k-1} 1^T - eta G(Z_k), Z_k = X_{k-1} - eta G(Z_{k-1}); written out per column.
  const auto p = bilinear_test_problem(2, 0.0, 4);
  const Index M = 4, d = p.dim();
  const double eta = 0.05;
  const Matrix Z0 = random_start(d, M, 3);
  Matrix X = Z0, Z = Z0, G;
  p.exact(Z, G);
  for (int k = 1; k <= 30; ++k) {
    Z = X - eta * G;
    p.exact(Z, G);
    const Vector xbar = X.rowwise().mean();
    for (Index i = 0; i < M; ++i) X.col(i) = xbar - eta * G.col(i);
  }
  const RunOutcome out = run(p, "complete", M, 3, "osg", eta, 30, Z0, true);
  const Vector expected = Z.rowwise().mean();
  CHECK((out.z_bar - expected).norm() <= 1e-12 * expected.norm());
}

TEST_CASE("overlap: refused with dqgan, recorded and named otherwise", "[overlap]") {
  ExperimentConfig c;
  c.problem.name = "star";
  c.workers = 4;
  c.topology = "complete";
  c.algorithm = "dqgan";
  c.overlap = true;
  try {
    build_experiment(c);
    FAIL("dqgan with --overlap was accepted");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).rfind("--overlap:", 0) == 0);
  }
  c.algorithm = "dposg";
  const Experiment e = build_experiment(c);
  CHECK(e.driver.overlap);
  CHECK(e.run_name.find("-overlap") != std::string::npos);
}
