// ctest-label: integration
// Non-finite is divergence: a run whose logged metrics become Inf (or NaN after being finite)
// stops at the first such row with status `diverged`; inputs that overflow are bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>

#include "cli_harness.hpp"
#include "core/recorder.hpp"

using dposg::ResultsReader;
using dposg::test::run_cli;
using dposg::test::TempDir;

TEST_CASE("metrics turning Inf stop the run at that row, diverged") {
  TempDir dir;
  const auto r = run_cli("run --lr 5 --iters 400 --out r.h5 --run-name big-lr", dir);
  CHECK(r.code == 1);
  CHECK(r.out.find("NaN or Inf in the metric grad_norm_sq at iteration") != std::string::npos);
  auto reader = ResultsReader::open(dir / "r.h5");
  CHECK(reader->summary("big-lr").status == "diverged");
  const auto g = reader->metric("big-lr", "grad_norm_sq");
  REQUIRE(g.size() >= 2);
  CHECK(!std::isfinite(g.back()));
  for (std::size_t i = 0; i + 1 < g.size(); ++i) CHECK(std::isfinite(g[i]));  // no row after the first bad one
  CHECK(reader->iterations("big-lr").back() < 400);
}

TEST_CASE("a --noise whose variance overflows is refused as bad input, nothing written") {
  TempDir dir;
  const auto r = run_cli("run --noise 1e308 --out r.h5", dir);
  CHECK(r.code == 2);
  CHECK(r.err == "dposg run: --noise: too large, the per-sample noise variance noise^2 * dim overflows a double, got "
                 "1e+308\n");
  CHECK(!std::filesystem::exists(dir / "r.h5"));
  CHECK(run_cli("run --noise 1e100 --iters 2 --out ok.h5", dir).code == 0);  // large but finite variance: runs
}
