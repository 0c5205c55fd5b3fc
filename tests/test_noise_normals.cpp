// ctest-label: integration
// --noise-normals ziggurat through the problems and the CLI: the noise keeps its promised variance
// (E||g(z;xi) - g(z)||^2 = sigma^2 / m, computed here from chi-square), each call's normals come
// from the key hash(seed, worker, round) and leave the worker streams untouched and compact, a
// column's noise does not depend on which workers a process holds (the MPI split), auto (the default)
// takes std's below 100000 workers and ziggurat's from there, and bad values are refused in one line.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <set>
#include <string>

#include "app/experiment.hpp"
#include "app/problem_catalog.hpp"
#include "cli_harness.hpp"
#include "core/counter_normals.hpp"
#include "core/recorder.hpp"
#include "core/rng.hpp"
#include "run_compare.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

ProblemOptions star(const std::string& normals, double noise = 0.7) {
  ProblemOptions o;
  o.name = "star";
  o.dim = 20;
  o.noise = noise;
  o.seed = 12345;
  o.noise_normals = normals;
  return o;
}

Matrix points(Index d, Index M) {
  std::mt19937_64 g(3);
  std::normal_distribution<double> n;
  Matrix Z(d, M);
  for (Index j = 0; j < M; ++j)
    for (Index i = 0; i < d; ++i) Z(i, j) = 2.0 * n(g);
  return Z;
}

std::string attr_string(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name)
      if (auto p = std::get_if<std::string>(&v)) return *p;
  return "(none)";
}

}  // namespace

TEST_CASE("ziggurat noise: E||g(z;xi) - g(z)||^2 = sigma^2/m and E[g(z;xi)] = g(z)", "[noise-normals]") {
  for (const std::string problem : {"star", "bilinear", "forsaken", "pl-game"}) {
    ProblemOptions o = star("ziggurat");
    o.name = problem;
    auto p = make_problem(o);
    const Index d = p->dim(), M = 64;
    const int reps = 200;
    const Matrix Z = problem == "forsaken" ? Matrix(points(d, M).cwiseMin(5).cwiseMax(-5)) : points(d, M);
    Matrix E, G;
    p->exact(Z, E);
    for (Index m : {Index(1), Index(4)}) {
      INFO(problem << " batch " << m);
      WorkerRngs rngs(99, M);
      double sum_sq = 0;
      Vector sum = Vector::Zero(d);
      for (int r = 0; r < reps; ++r) {
        p->sample(Z, m, rngs, G);
        sum_sq += (G - E).squaredNorm();
        sum += (G - E).rowwise().sum();
      }
      // ||e||^2 = (sigma^2 / (d m)) chi^2_d: mean sigma^2 / m, sd (sigma^2 / m) sqrt(2 / d).
      const double N = double(M) * reps, expected = 0.49 / double(m);
      const double se = expected * std::sqrt(2.0 / double(d)) / std::sqrt(N);
      INFO("mean squared error " << sum_sq / N << " expected " << expected << " +- " << se);
      CHECK(std::abs(sum_sq / N - expected) < 5 * se);
      CHECK((sum / N).squaredNorm() <= expected / N * (1.0 + 5.0 * std::sqrt(2.0 / double(d))));
    }
  }
}

TEST_CASE("ziggurat noise: keys by (seed, worker, round), the worker streams never drawn", "[noise-normals]") {
  auto p = make_problem(star("ziggurat"));
  const Index d = p->dim(), M = 5;
  const Matrix Z = points(d, M);
  Matrix E, G;
  p->exact(Z, E);
  WorkerRngs rngs(7, M, 3), untouched(7, M, 3);
  const double stddev = 0.7 / std::sqrt(double(d) * 3.0);
  for (std::uint64_t round = 0; round < 300; ++round) {
    p->sample(Z, 3, rngs, G);
    if (round % 100 != 0 && round != 299) continue;
    for (Index i = 0; i < M; ++i) {
      INFO("round " << round << " worker " << i);
      // The key, computed here from its definition: worker 3 + i's seed for the noise keys.
      const std::uint64_t key = splitmix64(derive_seed(7, StreamPurpose::noise_keys, std::uint64_t(3 + i)) + round);
      Vector expected = E.col(i);
      add_ziggurat_normals(key, stddev, expected.data(), d);
      CHECK((G.col(i) - expected).cwiseAbs().maxCoeff() == 0.0);
    }
  }
  CHECK(rngs.key_rounds() == 300);
  // 300 calls, past the 156 draws after which a drawn stream holds its 2.5 KB state: still compact,
  // still at its start.
  for (Index i = 0; i < M; ++i) {
    CHECK_FALSE(rngs[i].materialized());
    CHECK(rngs[i] == untouched[i]);
  }
  // A copy draws what the original draws (same_samples: both points see the same noise).
  WorkerRngs copy = rngs;
  Matrix G1, G2;
  p->sample(Z, 3, rngs, G1);
  p->sample(Z, 3, copy, G2);
  CHECK(G1 == G2);
  // Noise 0 draws no round.
  WorkerRngs none(7, M);
  make_problem(star("ziggurat", 0.0))->sample(Z, 3, none, G);
  CHECK(none.key_rounds() == 0);
}

TEST_CASE("ziggurat noise: a worker's column does not depend on which workers a process holds", "[noise-normals]") {
  auto p = make_problem(star("ziggurat"));
  const Index d = p->dim(), M = 12;
  const Matrix Z = points(d, M);
  WorkerRngs all(5, M);
  Matrix G;
  p->sample(Z, 2, all, G);
  // Workers 4..8 alone, as an MPI rank holding them would draw them.
  WorkerRngs part(5, 5, 4);
  Matrix Gp;
  p->sample(Z.middleCols(4, 5), 2, part, Gp);
  CHECK(Gp == G.middleCols(4, 5));
  // std and ziggurat give different noise on the same streams; with no noise, the same operator.
  auto q = make_problem(star("std"));
  WorkerRngs again(5, M);
  Matrix Gs;
  q->sample(Z, 2, again, Gs);
  CHECK((Gs - G).norm() > 1e-3);
  Matrix G0, G0s;
  WorkerRngs r1(5, M), r2(5, M);
  make_problem(star("ziggurat", 0.0))->sample(Z, 2, r1, G0);
  make_problem(star("std", 0.0))->sample(Z, 2, r2, G0s);
  CHECK(G0 == G0s);
}

TEST_CASE("dposg run --noise-normals: recorded, reproducible, std by default, bad values refused", "[noise-normals][cli]") {
  TempDir dir;
  const std::string base = "run --problem star --workers 8 --topology ring --iters 300 --noise 0.5 --quiet";
  REQUIRE(run_cli(base + " --out std.h5 --run-name r", dir).code == 0);
  REQUIRE(run_cli(base + " --noise-normals std --out std2.h5 --run-name r", dir).code == 0);
  REQUIRE(run_cli(base + " --noise-normals ziggurat --out z.h5 --run-name r", dir).code == 0);
  REQUIRE(run_cli(base + " --noise-normals ziggurat --out z2.h5 --run-name r", dir).code == 0);
  dposg::test::require_identical(dir / "std.h5", dir / "std2.h5", "r");
  dposg::test::require_identical(dir / "z.h5", dir / "z2.h5", "r");
  CHECK(attr_string(ResultsReader::open(dir / "std.h5")->summary("r"), "noise_normals") == "std");
  CHECK(attr_string(ResultsReader::open(dir / "z.h5")->summary("r"), "noise_normals") == "ziggurat");
  const auto gs = ResultsReader::open(dir / "std.h5")->metric("r", "grad_norm_sq");
  const auto gz = ResultsReader::open(dir / "z.h5")->metric("r", "grad_norm_sq");
  CHECK(gs.front() == gz.front());  // the same start
  CHECK(gs.back() != gz.back());    // other noise
  // Both converge to the same noise floor's order: it is the same noise model.
  CHECK(gz.back() < 0.1 * gz.front());

  for (const auto& [args, what] : std::vector<std::pair<std::string, std::string>>{
           {"--noise-normals fast", "--noise-normals: expected auto, std or ziggurat, got 'fast'"},
           {"--problem gaussian-wgan --noise-normals ziggurat", "--noise-normals: 'ziggurat' is for the problems"},
           {"--problem gan-mog8 --noise-normals ziggurat", "not 'gan-mog8'"}}) {
    INFO(args);
    const auto r = run_cli("run --iters 5 --out bad.h5 " + args, dir);
    CHECK(r.code == 2);
    CHECK(r.err.find(what) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(dir / "bad.h5"));
  }
}

TEST_CASE("noise normals auto: ziggurat from 100000 workers of an additive-noise problem, std otherwise",
          "[noise-normals]") {
  const std::set<std::string> additive = {"bilinear", "star", "forsaken", "pl-game", "quadratic-file"};
  ExperimentConfig c;
  CHECK(c.problem.noise_normals == "auto");  // a run's default
  CHECK(ProblemOptions{}.noise_normals == "std");  // a problem's on its own (no worker count)
  for (const auto& name : problem_names()) {
    INFO(name);
    c.problem.name = name;
    for (Index M : {Index{1}, Index{8}, Index{99999}})  {
      c.workers = M;
      CHECK(resolved_noise_normals(c) == "std");
    }
    for (Index M : {Index{100000}, Index{1000000}}) {
      c.workers = M;
      CHECK(resolved_noise_normals(c) == (additive.count(name) ? "ziggurat" : "std"));
    }
  }
  c.problem.name = "star";
  c.workers = 1000000;
  c.problem.noise_normals = "std";
  CHECK(resolved_noise_normals(c) == "std");  // given, it is kept
  c.workers = 2;
  c.problem.noise_normals = "ziggurat";
  CHECK(resolved_noise_normals(c) == "ziggurat");
  c.problem.noise_normals = "Auto";
  CHECK_THROWS_WITH(resolved_noise_normals(c), "--noise-normals: expected auto, std or ziggurat, got 'Auto'");
}

TEST_CASE("dposg run: auto draws ziggurat's normals from 100000 workers and std's below, and records which",
          "[noise-normals][cli]") {
  TempDir dir;
  const std::string base = "run --problem star --dim 2 --topology ring --iters 6 --log-every 1 --noise 0.5 --quiet --run-name r";
  for (const auto& [M, normals] : std::vector<std::pair<std::string, std::string>>{{"99999", "std"}, {"100000", "ziggurat"}}) {
    INFO(M);
    const std::string run = base + " --workers " + M;
    REQUIRE(run_cli(run + " --out auto" + M + ".h5", dir).code == 0);
    REQUIRE(run_cli(run + " --noise-normals " + normals + " --out given" + M + ".h5", dir).code == 0);
    dposg::test::require_identical(dir / ("auto" + M + ".h5"), dir / ("given" + M + ".h5"), "r");
    CHECK(attr_string(ResultsReader::open(dir / ("auto" + M + ".h5"))->summary("r"), "noise_normals") == normals);
  }
  // At 100000 workers auto is not std's numbers (the comparison above is not vacuous).
  REQUIRE(run_cli(base + " --workers 100000 --noise-normals std --out std100000.h5", dir).code == 0);
  CHECK(ResultsReader::open(dir / "std100000.h5")->metric("r", "grad_norm_sq").back() !=
        ResultsReader::open(dir / "auto100000.h5")->metric("r", "grad_norm_sq").back());
  // Given explicitly to a problem without additive noise, auto is accepted and means std.
  const auto gan = run_cli("run --problem gan-mog8 --gan-width 8 --workers 2 --batch 4 --eval-batch 16 --iters 2 "
                           "--noise-normals auto --quiet --run-name r --out gan.h5", dir);
  INFO(gan.err);
  REQUIRE(gan.code == 0);
  CHECK(attr_string(ResultsReader::open(dir / "gan.h5")->summary("r"), "noise_normals") == "std");
}

TEST_CASE("dposg sweep: auto resolved per run by its workers, in the attribute and in the options key",
          "[noise-normals][cli][sweep]") {
  TempDir dir;
  const std::string sweep = "sweep --problem star --dim 2 --topology ring --iters 2 --log-every 1 --noise 0.5 --jobs 1 "
                            "--quiet --grid workers=99999,100000 --out s.h5";
  const auto first = run_cli(sweep, dir);
  INFO(first.err);
  REQUIRE(first.code == 0);
  const auto reader = ResultsReader::open(dir / "s.h5");
  const auto runs = reader->runs();
  REQUIRE(runs.size() == 2);
  for (const auto& run : runs) {
    INFO(run);
    const auto s = reader->summary(run);
    const std::string expected = run.find("workers=100000") != std::string::npos ? "ziggurat" : "std";
    CHECK(attr_string(s, "noise_normals") == expected);
    CHECK(attr_string(s, "sweep_options").find("noise-normals=" + expected + "\n") != std::string::npos);
  }
  // Run again, the same sweep finds its runs done; with std given, the 100000-worker run is not the same run.
  CHECK(run_cli(sweep, dir).code == 0);
  const auto given = run_cli(sweep + " --noise-normals std", dir);
  CHECK(given.code == 2);
  CHECK(given.err.find("noise-normals: ziggurat vs std") != std::string::npos);
}
