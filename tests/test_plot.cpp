// ctest-label: integration
// dposg plot: every kind of figure from a file the CLI made, checked as PNG images (signature,
// size, pixels), with the .gp scripts re-rendering on their own.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_harness.hpp"
#include "core/recorder.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::slurp;
using dposg::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Png {
  bool signature = false;
  std::uint32_t width = 0, height = 0;
  std::uintmax_t bytes = 0;
};

Png read_png(const fs::path& path) {
  Png p;
  if (!fs::exists(path)) return p;
  p.bytes = fs::file_size(path);
  const std::string data = slurp(path);
  if (data.size() < 24) return p;
  p.signature = data.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0 && data.compare(12, 4, "IHDR") == 0;
  auto be32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
    return v;
  };
  p.width = be32(16);
  p.height = be32(20);
  return p;
}

bool have_matplotlib() {
  return std::system("/usr/bin/python3 -c 'import matplotlib.image' >/dev/null 2>&1") == 0;
}

// Decodes the PNGs with matplotlib (one process) and checks that none is one flat colour.
bool have_content(const std::vector<fs::path>& paths) {
  if (!have_matplotlib()) return true;
  std::string cmd =
      "/usr/bin/python3 -c \"import sys, matplotlib.image as m\n"
      "for p in sys.argv[1:]:\n"
      "    px = m.imread(p); px = px.reshape(-1, px.shape[-1])\n"
      "    if px.std(axis=0).max() < 0.02 or len({tuple(r) for r in px[::7].round(2).tolist()}) < 20: sys.exit(p)\n\"";
  for (const auto& p : paths) cmd += " '" + p.string() + "'";
  return std::system(cmd.c_str()) == 0;
}

void check_figure(const fs::path& dir, const std::string& stem) {
  INFO(stem);
  const Png p = read_png(dir / (stem + ".png"));
  CHECK(p.signature);
  CHECK(p.width >= 200);
  CHECK(p.height >= 200);
  CHECK(p.bytes > 8000);
  CHECK(fs::exists(dir / (stem + ".gp")));
  CHECK(fs::exists(dir / (stem + ".dat")));
}

int blocks(const fs::path& dat) {
  const std::string s = slurp(dat);
  int n = 0;
  for (std::size_t p = s.find("# block "); p != std::string::npos; p = s.find("# block ", p + 1)) ++n;
  return n;
}

// A small sweep: 2 topologies x 2 values of t x 2 seeds, workers starting apart.
void make_results(const TempDir& dir) {
  const auto r = run_cli(
      "sweep --grid topology=ring,random-ring --grid rounds=1,2 --seeds 2 --workers 8 --iters 300 --log-every 5 "
      "--init random --init-spread 1 --out r.h5 --quiet",
      dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
}

}  // namespace

TEST_CASE("dposg plot renders every kind, with scripts that re-render standalone", "[plot][cli]") {
  TempDir dir;
  make_results(dir);
  if (!have_matplotlib()) WARN("/usr/bin/python3 has no matplotlib: PNG pixels are not decoded");

  SECTION("one curve per run") {
    const auto r = run_cli("plot r.h5 --out-dir figs", dir);
    INFO(r.err);
    REQUIRE(r.code == 0);
    const fs::path figs = dir.path / "figs";
    for (const char* stem : {"grad_norm", "consensus", "bytes"}) check_figure(figs, stem);
    CHECK(have_content({figs / "grad_norm.png", figs / "consensus.png", figs / "bytes.png"}));
    CHECK(blocks(figs / "grad_norm.dat") == 8);
    CHECK(r.out.find("no verify results in r.h5") != std::string::npos);
    // Legends name what tells the runs apart, the title what they share.
    const std::string gp = slurp(figs / "grad_norm.gp");
    CHECK(gp.find("'ring, t=1, seed=0") != std::string::npos);  // (perhaps "[coincides with ...]" after it)
    CHECK(gp.find("M=8") != std::string::npos);
    CHECK(gp.find("(exact operator)") != std::string::npos);
    // The consensus figure carries a rho_t^{2k} reference per curve.
    CHECK(slurp(figs / "consensus.gp").find("**(x - ") != std::string::npos);

    // The .gp runs on its own from its directory.
    fs::remove(figs / "bytes.png");
    const std::string cmd = "cd '" + figs.string() + "' && gnuplot bytes.gp >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    check_figure(figs, "bytes");
  }
  SECTION("grouped by an option, one kind, some runs") {
    const auto r = run_cli("plot r.h5 --kind grad --group-by topology --runs 'rounds=2' --out-dir g", dir);
    INFO(r.err);
    REQUIRE(r.code == 0);
    const fs::path g = dir.path / "g";
    check_figure(g, "grad_norm");
    CHECK(have_content({g / "grad_norm.png"}));
    CHECK_FALSE(fs::exists(g / "consensus.png"));
    CHECK(blocks(g / "grad_norm.dat") == 2);
    const std::string gp = slurp(g / "grad_norm.gp");
    CHECK(gp.find("random-ring  (mean of 2 runs)") != std::string::npos);
    CHECK(gp.find("filledcurves") != std::string::npos);  // the min/max band
  }
  SECTION("bytes grouped: the mean of the runs that sent the same bytes, as the legend says") {
    // Per value of t, ring and random-ring send the same bytes: one mean curve per group.
    REQUIRE(run_cli("plot r.h5 --kind bytes --group-by rounds --out-dir b", dir).code == 0);
    const fs::path b = dir.path / "b";
    check_figure(b, "bytes");
    CHECK(have_content({b / "bytes.png"}));
    CHECK(blocks(b / "bytes.dat") == 2);
    CHECK(slurp(b / "bytes.gp").find("t=2  (mean of 4 runs)") != std::string::npos);
    // Per topology, t = 1 and t = 2 send different bytes: two mean curves per group, said so.
    REQUIRE(run_cli("plot r.h5 --kind bytes --group-by topology --out-dir bt", dir).code == 0);
    CHECK(blocks(dir.path / "bt" / "bytes.dat") == 4);
    CHECK(slurp(dir.path / "bt" / "bytes.gp").find("ring  (4 runs in 2 lines, each the mean of runs that sent equal bytes)") !=
          std::string::npos);
  }
  SECTION("legends outside the data, coinciding curves dashed and named") {
    REQUIRE(run_cli("plot r.h5 --kind grad --group-by topology --out-dir c", dir).code == 0);
    const std::string gp = slurp(dir.path / "c" / "grad_norm.gp");
    CHECK(gp.find("set key below") != std::string::npos);
    CHECK(gp.find("set key top") == std::string::npos);
    // On this near-linear problem z̄ does not depend on W: the two means lie on each other.
    CHECK(gp.find("[coincides with random-ring]") != std::string::npos);
    CHECK(gp.find("dt (14,14)") != std::string::npos);
  }
}

TEST_CASE("dposg plot: titles name only the options that apply to the runs", "[plot][cli]") {
  TempDir dir;
  REQUIRE(run_cli("run --problem gan-mog8 --workers 2 --iters 2 --log-every 1 --gan-width 8 --quiet --out g.h5", dir).code == 0);
  REQUIRE(run_cli("plot g.h5 --kind grad --out-dir p", dir).code == 0);
  const std::string gan = slurp(dir.path / "p" / "grad_norm.gp");
  CHECK(gan.find("width 8") != std::string::npos);
  CHECK(gan.find("σ=") == std::string::npos);   // a GAN draws its data: --noise does not apply
  CHECK(gan.find("β1=") == std::string::npos);  // osg: no Adam moments
  REQUIRE(run_cli("run --step-rule oadam --iters 20 --quiet --out o.h5", dir).code == 0);
  REQUIRE(run_cli("plot o.h5 --kind grad --out-dir q", dir).code == 0);
  const std::string oadam = slurp(dir.path / "q" / "grad_norm.gp");
  CHECK(oadam.find("β1=0.5") != std::string::npos);
  CHECK(oadam.find("σ=0.1") != std::string::npos);
  CHECK(oadam.find("width 128") == std::string::npos);  // the GAN options are not the star's
}

TEST_CASE("dposg plot draws the table dposg verify writes under /verify", "[plot][cli]") {
  TempDir dir;
  make_results(dir);
  {
    // The layout `dposg verify` writes: /verify/<check>/<row> with the row as attributes.
    auto file = ResultsFile::open(dir / "r.h5");
    const char* status[] = {"PASS", "FAIL", "info"};
    for (int k = 0; k < 6; ++k) {
      char row[16];
      std::snprintf(row, sizeof row, "row%03d", k);
      file->write_record("verify", "theorem1", row,
                         {{"claim", std::string("(1/N) sum E||g||^2 <= bound, M = ") + std::to_string(4 << k) +
                                        " (95% upper)"},
                          {"measured", 1e-3 * (k + 1)},
                          {"relation", std::string(k == 5 ? "info" : "<=")},
                          {"expected", 2e-2 * (k + 1)},
                          {"margin", 0.05},
                          {"margin_kind", std::string("measured/bound")},
                          {"status", std::string(status[k % 3])},
                          {"note", std::string()}});
    }
  }
  const auto r = run_cli("plot r.h5 --kind verify --out-dir v", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const fs::path v = dir.path / "v";
  check_figure(v, "verify-theorem1");
  CHECK(have_content({v / "verify-theorem1.png"}));
  const std::string gp = slurp(v / "verify-theorem1.gp");
  CHECK(gp.find("M = 64 (95% upper)  [FAIL]") != std::string::npos);
  CHECK(gp.find("'measured, PASS'") != std::string::npos);
}

TEST_CASE("dposg plot draws a GAN's samples over the data and any logged metric", "[plot][cli]") {
  TempDir dir;
  const auto run = run_cli(
      "run --problem gan-mog8 --gan-width 16 --gan-depth 1 --workers 2 --step-rule oadam --lr 1e-3 --iters 40 "
      "--init problem --log-every 10 --eval-batch 8 --run-name g --out g.h5 --quiet",
      dir);
  INFO(run.err);
  REQUIRE(run.code == 0);
  const auto r = run_cli("plot g.h5 --kind samples --out-dir s", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  check_figure(dir.path / "s", "samples-g");
  // Two blocks of 2,500 points: the generator's, then the data's; every data point near the ring.
  CHECK(blocks(dir.path / "s" / "samples-g.dat") == 2);
  std::ifstream dat(dir.path / "s" / "samples-g.dat");
  std::string line;
  int block = -1, points = 0, near_ring = 0;
  while (std::getline(dat, line)) {
    if (line.rfind("# block ", 0) == 0) ++block;
    if (line.empty() || line[0] == '#' || block != 1) continue;
    std::istringstream in(line);
    double x = 0, y = 0;
    in >> x >> y;
    ++points;
    near_ring += std::abs(std::hypot(x, y) - 1.0) < 0.06;  // std 0.01 per coordinate: 6 std
  }
  CHECK(points == 2500);
  CHECK(near_ring == 2500);
  const auto m = run_cli("plot g.h5 --kind metric --metric high_quality_fraction --out-dir m", dir);
  INFO(m.err);
  REQUIRE(m.code == 0);
  check_figure(dir.path / "m", "metric-high_quality_fraction");
  CHECK(have_content({dir.path / "s" / "samples-g.png", dir.path / "m" / "metric-high_quality_fraction.png"}));
}

TEST_CASE("gan-fashion: an image GAN on Fashion-MNIST through the same command; its sample grid as a PNG", "[plot][cli]") {
  if (!fs::is_directory("/usr/share/datasets/fashion-mnist")) {
    WARN("SKIPPED: dataset-fashion-mnist not installed");
    return;
  }
  TempDir dir;
  // A fresh cache: the classifier is trained once, stored, and reused by the second run.
  const std::string env = "env DPOSG_CACHE_DIR='" + (dir / "cache") + "' ";
  auto run = [&](const std::string& args) {
    const std::string cmd = "cd '" + dir.path.string() + "' && " + env + DPOSG_CLI + " " + args + " >out.txt 2>err.txt";
    const int status = std::system(cmd.c_str());
    INFO(slurp(dir / "err.txt"));
    return WEXITSTATUS(status);
  };
  REQUIRE(run("run --problem gan-fashion --gan-width 128 --gan-latent 16 --workers 4 --rounds 1 --step-rule oadam "
              "--lr 2e-4 --beta2 0.999 --iters 300 --batch 32 --init problem --log-every 100 --eval-batch 8 "
              "--run-name f --out f.h5") == 0);
  CHECK(fs::exists(dir / "cache/fashion-classifier-14px.h5"));
  {
    auto reader = ResultsReader::open(dir / "f.h5");
    const auto fd = reader->metric("f", "fd_classifier");
    const auto classes = reader->metric("f", "classes_covered");
    REQUIRE(fd.size() == 4);
    // 300 steps from random weights move the samples towards the data in the classifier's features.
    CHECK(fd.back() < 0.9 * fd.front());
    CHECK(classes.back() >= 1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(run("run --problem gan-fashion --gan-width 8 --workers 1 --topology single --iters 1 --log-every 1 "
              "--eval-batch 8 --run-name g --out f.h5") == 0);
  // Reusing the cached classifier, the second start is much cheaper than training it.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
  const auto r = run_cli("plot f.h5 --kind samples --runs '^f$' --out-dir s", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  check_figure(dir.path / "s", "samples-f");
  // The .dat holds the 8 x 8 grid of 14 x 14 images with 1-pixel gaps: 8 * 15 - 1 = 119 rows.
  std::ifstream dat(dir.path / "s" / "samples-f.dat");
  std::string line;
  int rows = 0;
  while (std::getline(dat, line))
    if (!line.empty() && line[0] != '#') ++rows;
  CHECK(rows == 119);
  CHECK(have_content({dir.path / "s" / "samples-f.png"}));
}

TEST_CASE("dposg plot --kind bytes: one worker's uplink on x, any metric on y", "[plot][cli]") {
  TempDir dir;
  // DQGAN, d = 10, top-k with k = 2: a message is 2 (64 + 4) bits = 17 bytes, one per iteration.
  // DPOSG on a ring with t = 2: a worker sends its d doubles to 2 neighbours per round, 320 bytes
  // per iteration.
  REQUIRE(run_cli("run --algorithm dqgan --topology complete --problem star --dim 10 --workers 4 --compressor top-k"
                  " --compress-k 2 --iters 20 --log-every 10 --quiet --out d.h5 --run-name q", dir).code == 0);
  REQUIRE(run_cli("run --problem star --dim 10 --workers 4 --iters 20 --log-every 10 --quiet --out d.h5 --run-name g",
                  dir).code == 0);
  const auto r = run_cli("plot d.h5 --kind bytes --bytes uplink --metric consensus_error --out-dir p", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  check_figure(dir.path / "p", "bytes-uplink-consensus_error");
  const std::string dat = slurp(dir.path / "p" / "bytes-uplink-consensus_error.dat");
  CHECK(dat.find("\n170 0\n340 0\n") != std::string::npos);  // DQGAN: 10 and 20 iterations x 17 bytes
  CHECK(dat.find("\n3200 ") != std::string::npos);            // the ring: 10 x 320 bytes
  CHECK(dat.find("\n6400 ") != std::string::npos);
}

// Parses a .dat block by block: each block's rows of numbers.
std::vector<std::vector<std::vector<double>>> dat_blocks(const fs::path& dat) {
  std::vector<std::vector<std::vector<double>>> out;
  std::ifstream in(dat);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# block ", 0) == 0) out.emplace_back();
    if (line.empty() || line[0] == '#' || out.empty()) continue;
    std::istringstream row(line);
    std::vector<double> v;
    for (double x; row >> x;) v.push_back(x);
    out.back().push_back(v);
  }
  return out;
}

TEST_CASE("dposg plot --band --x epochs: the paper's Fig. 2 band over the workers, against epochs", "[plot][cli]") {
  TempDir dir;
  // Three runs written by hand, so that every number drawn is known: two seeds on the ring, one
  // on the complete graph; 16 workers x 16 samples over 60,000 training images.
  {
    auto file = ResultsFile::open((dir.path / "f.h5").string());
    struct Spec {
      std::string name, topology;
      std::int64_t seed;
      std::vector<double> is, lo, hi;
    };
    const std::vector<Spec> specs = {
        {"ring-s1", "ring", 1, {1.0, 1.5, 2.0}, {0.9, 1.25, 1.75}, {1.1, 1.75, 2.25}},
        {"ring-s2", "ring", 2, {1.2, 1.7, 2.4}, {1.0, 1.5, 2.5}, {1.3, 1.8, 2.6}},
        {"complete-s1", "complete", 1, {1.0, 2.0, 3.0}, {0.5, 1.5, 2.5}, {1.5, 2.5, 3.5}}};
    for (const auto& sp : specs) {
      auto w = file->create_run(sp.name);
      for (const auto& [k, v] : std::vector<std::pair<std::string, AttrValue>>{
               {"problem", std::string("gan-fashion")}, {"topology", sp.topology}, {"workers", std::int64_t{16}},
               {"batch", std::int64_t{16}}, {"eval_workers", std::int64_t{4}}, {"seed", sp.seed}})
        w->set_attr(k, v);
      w->problem_group().scalar("train_images", 60000);
      for (std::size_t i = 0; i < 3; ++i) {
        MetricsRow row;
        row.iteration = static_cast<std::int64_t>(i) * 375;
        for (const auto& [n, v] : std::vector<std::pair<std::string, double>>{
                 {"grad_norm_sq", 1.0}, {"consensus_error", 0.1}, {"bytes_busiest", 8.0 * static_cast<double>(i)},
                 {"is_classifier", sp.is[i]}, {"is_classifier_min", sp.lo[i]}, {"is_classifier_max", sp.hi[i]}})
          row.set(n, v);
        w->append(row);
      }
      w->set_status("finished");
    }
  }
  const auto r = run_cli("plot f.h5 --kind metric --metric is_classifier --band --x epochs --group-by topology --out-dir p",
                         dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  check_figure(dir.path / "p", "metric-is_classifier-band-epochs");
  CHECK(have_content({dir.path / "p" / "metric-is_classifier-band-epochs.png"}));
  const auto b = dat_blocks(dir.path / "p" / "metric-is_classifier-band-epochs.dat");
  REQUIRE(b.size() == 2);  // complete, ring (alphabetical)
  // 375 iterations x 256 samples = 96,000 = 1.6 epochs. Ring: the mean of the two seeds, the band
  // from the lower of their minima to the higher of their maxima.
  const std::vector<std::vector<double>> complete = {{0, 1.0, 0.5, 1.5}, {1.6, 2.0, 1.5, 2.5}, {3.2, 3.0, 2.5, 3.5}};
  const std::vector<std::vector<double>> ring = {{0, 1.1, 0.9, 1.3}, {1.6, 1.6, 1.25, 1.8}, {3.2, 2.2, 1.75, 2.6}};
  for (std::size_t g = 0; g < 2; ++g) {
    const auto& want = g == 0 ? complete : ring;
    REQUIRE(b[g].size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      REQUIRE(b[g][i].size() == 4);
      for (std::size_t j = 0; j < 4; ++j) CHECK(b[g][i][j] == Approx(want[i][j]).margin(1e-12));
    }
  }
  const std::string gp = slurp(dir.path / "p" / "metric-is_classifier-band-epochs.gp");
  CHECK(gp.find("filledcurves") != std::string::npos);
  CHECK(gp.find("4 workers") != std::string::npos);
  // Without the band series, or along epochs for a problem without a training set: one line each.
  {
    auto file = ResultsFile::open((dir.path / "s.h5").string());
    auto w = file->create_run("star");
    w->set_attr("problem", std::string("star"));
    MetricsRow row;
    row.set("grad_norm_sq", 1.0);
    row.set("consensus_error", 0.5);
    row.set("bytes_busiest", 0.0);
    w->append(row);
    w->set_status("finished");
  }
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"plot s.h5 --kind metric --metric grad_norm_sq --band", "--band"},
           {"plot s.h5 --kind grad --x epochs", "--x"},
           {"plot f.h5 --kind grad --band", "--band"},
           {"plot f.h5 --kind bytes --x epochs", "--x"},
           {"plot f.h5 --kind grad --x steps", "--x"}}) {
    INFO(args);
    const auto e = run_cli(args + " --out-dir bad", dir);
    CHECK(e.code == 2);
    CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
    CHECK(e.err.find(needle) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "bad"));
  }
}

TEST_CASE("dposg plot: bad input and a missing gnuplot give exit code 2 and one line", "[plot][cli]") {
  TempDir dir;
  make_results(dir);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"plot", "FILE"},
      {"plot missing.h5", "missing.h5"},
      {"plot r.h5 --kind pie", "--kind"},
      {"plot r.h5 --runs '('", "--runs"},
      {"plot r.h5 --runs nosuchrun", "--runs"},
      {"plot r.h5 --group-by colour", "--group-by"},
      {"plot r.h5 --kind metric", "--metric"},
      {"plot r.h5 --kind metric --metric no_such_metric", "no_such_metric"},
      {"plot r.h5 --kind grad --metric consensus_error", "--metric"},
      {"plot r.h5 --kind bytes --bytes server", "--bytes"},
      {"plot r.h5 --kind grad --bytes uplink", "--bytes"},
  };
  for (const auto& [args, needle] : cases) {
    INFO(args);
    const auto r = run_cli(args + " --out-dir bad", dir);
    CHECK(r.code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "bad"));
  }
  const std::string cmd = "cd '" + dir.path.string() + "' && env PATH=/nonexistent " + DPOSG_CLI +
                          " plot r.h5 --out-dir bad >/dev/null 2>err.txt";
  const int status = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(status) == 2);
  const std::string err = slurp(dir / "err.txt");
  CHECK(err.find("gnuplot not found") != std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(dir / "bad"));
}
