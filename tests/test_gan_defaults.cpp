// ctest-label: slow
// Issue #19: with the problem's own defaults only, gan-mog25 and gan-fashion learn visibly. Each
// case runs the command a user would type (the CLI applies the problem's defaults, which the tests
// cannot reach otherwise: cli/ is above every library a test links) and checks the learning that
// gan/gan_registry.cpp states for those defaults.
#include <catch2/catch.hpp>

#include <H5Cpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cli_harness.hpp"
#include "core/recorder.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

// What the defaults reached (gan/gan_registry.cpp states the measured figures), with margin.
constexpr int kMog25MinModes = 14;
constexpr double kMog25MinQuality = 0.25;
constexpr double kFashionMaxFdRatio = 0.35;
constexpr double kFashionMinClasses = 8;

struct Timed {
  test::CliResult result;
  double seconds = 0.0;
};

Timed timed_cli(const std::string& args, const TempDir& dir, const std::string& env = "") {
  const auto start = std::chrono::steady_clock::now();
  Timed t{run_cli(args, dir, env)};
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

std::vector<double> final_samples(const std::string& path, const std::string& run, hsize_t dims[2]) {
  H5::H5File f(path, H5F_ACC_RDONLY);
  auto ds = f.openDataSet("/runs/" + run + "/final/samples");
  REQUIRE(ds.getSpace().getSimpleExtentDims(dims) == 2);
  std::vector<double> buf(dims[0] * dims[1]);
  ds.read(buf.data(), H5::PredType::NATIVE_DOUBLE);
  return buf;
}

// The grid's metrics counted on the run's stored final samples (2,500 drawn at z-bar after the
// metrics' own 2,500, so a second draw of the same generator), without data/mixture.cpp: the
// nearest of the means {-4, -2, 0, 2, 4}^2 is each coordinate rounded to the nearest even number
// in [-4, 4], a sample is high-quality within 3 std = 0.15 of it.
struct GridCount {
  int modes = 0;
  double high_quality = 0.0;
};

GridCount count_grid(const std::vector<double>& samples, hsize_t n) {
  std::set<std::pair<int, int>> covered;
  int good = 0;
  for (hsize_t s = 0; s < n; ++s) {
    // Row-major 2 x n: row 0 holds the x coordinates, row 1 the y coordinates.
    const double x = samples[s], y = samples[n + s];
    const auto nearest = [](double c) { return std::clamp(2.0 * std::round(c / 2.0), -4.0, 4.0); };
    const double mx = nearest(x), my = nearest(y);
    if (std::hypot(x - mx, y - my) <= 3 * 0.05) {
      ++good;
      covered.insert({static_cast<int>(mx), static_cast<int>(my)});
    }
  }
  return {static_cast<int>(covered.size()), static_cast<double>(good) / static_cast<double>(n)};
}

}  // namespace

// Measured (2026-12-02): seed 1: 16 modes, high-quality 0.024 -> 0.408 (the second draw: 17,
// 0.409); seed 2: 20, 0.023 -> 0.371 (20, 0.383). Seeds 3 and 4 reach 17 and 16 modes, 0.010 ->
// 0.313 and 0.074 -> 0.357, and pass these checks too. About twice gan-mog8's command (a third
// hidden layer); 5 min a seed with one thread on the shared machine at load 4-5.
TEST_CASE("gan defaults: gan-mog25 with its defaults only covers most of the grid, its high-quality fraction rising",
          "[gan][defaults]") {
  const int seed = GENERATE(1, 2);
  TempDir dir;
  const Timed t = timed_cli("run --problem gan-mog25 --workers 8 --topology ring --rounds 1 --step-rule oadam --seed " +
                                std::to_string(seed) + " --quiet --out r.h5",
                            dir);
  INFO("seed " << seed << ", " << t.seconds << " s; " << t.result.err);
  REQUIRE(t.result.code == 0);
  std::vector<double> modes, quality;
  std::string run;
  {
    auto reader = ResultsReader::open(dir / "r.h5");
    run = reader->runs().at(0);
    REQUIRE(reader->summary(run).status == "finished");
    modes = reader->metric(run, "modes_covered");
    quality = reader->metric(run, "high_quality_fraction");
  }
  REQUIRE(modes.size() >= 2);
  hsize_t dims[2];
  const std::vector<double> samples = final_samples(dir / "r.h5", run, dims);
  REQUIRE(dims[0] == 2);
  const GridCount recount = count_grid(samples, dims[1]);
  INFO("modes " << modes.front() << " -> " << modes.back() << " (recounted " << recount.modes << "), high-quality "
                << quality.front() << " -> " << quality.back() << " (recounted " << recount.high_quality << ")");
  // Two draws of 2,500 from one generator: their fractions differ by a binomial error of about
  // sqrt(2 p (1 - p) / 2500) ~ 0.014 at p ~ 0.4, so 0.045 is three of it. The modes a draw covers
  // differ more (a mode with a few good samples), hence the thresholds on both draws.
  CHECK(recount.high_quality == Approx(quality.back()).margin(0.045));
  for (const double m : {modes.back(), static_cast<double>(recount.modes)}) CHECK(m >= kMog25MinModes);
  for (const double q : {quality.back(), recount.high_quality}) {
    CHECK(q >= kMog25MinQuality);
    CHECK(q > 4 * quality.front());
  }
}

TEST_CASE("gan defaults: gan-fashion with its defaults only brings fd_classifier well below its start",
          "[gan][defaults]") {
  if (!std::filesystem::is_directory("/usr/share/datasets/fashion-mnist")) {
    WARN("SKIPPED: dataset-fashion-mnist not installed");
    return;
  }
  // Measured (2026-12-02): fd_classifier 187.7 -> 29.5, classes_covered 5 -> 9.
  TempDir dir;
  // A fresh cache: the project's classifier, trained here as on a user's first run.
  const std::string env = "env DPOSG_CACHE_DIR='" + (dir / "cache") + "' ";
  const Timed t = timed_cli(
      "run --problem gan-fashion --workers 8 --topology ring --rounds 1 --step-rule oadam --seed 1 --quiet --out f.h5",
      dir, env);
  INFO(t.seconds << " s; " << t.result.err);
  REQUIRE(t.result.code == 0);
  auto reader = ResultsReader::open(dir / "f.h5");
  const std::string run = reader->runs().at(0);
  const std::vector<double> fd = reader->metric(run, "fd_classifier");
  const std::vector<double> classes = reader->metric(run, "classes_covered");
  REQUIRE(fd.size() >= 2);
  INFO("fd_classifier " << fd.front() << " -> " << fd.back() << ", classes " << classes.front() << " -> "
                        << classes.back());
  CHECK(fd.back() < kFashionMaxFdRatio * fd.front());
  CHECK(classes.back() >= kFashionMinClasses);
}
