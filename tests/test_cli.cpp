// ctest-label: integration
#include <catch2/catch.hpp>

#include <H5Cpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <regex>
#include <thread>

#include "cli_harness.hpp"
#include "w_file.hpp"
#include "core/recorder.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

std::string attr_string(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) {
      if (auto p = std::get_if<std::string>(&v)) return *p;
      if (auto p = std::get_if<std::int64_t>(&v)) return std::to_string(*p);
      if (auto p = std::get_if<double>(&v)) return std::to_string(*p);
    }
  return "<absent>";
}

double attr_double(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) {
      if (auto p = std::get_if<double>(&v)) return *p;
      if (auto p = std::get_if<std::int64_t>(&v)) return static_cast<double>(*p);
    }
  return std::nan("");
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

void write_W(const std::string& path, const Matrix& W) { test::write_dense_w_file(path, W); }

}  // namespace

TEST_CASE("dposg run writes every metric of DESIGN.md §3 and the run's attributes", "[cli]") {
  TempDir dir;
  const auto r = run_cli("run --problem star --workers 16 --topology ring --rounds 3 --iters 2000 --out r.h5", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());  // not a terminal: no progress output
  auto reader = ResultsReader::open(dir / "r.h5");
  REQUIRE(reader->runs().size() == 1);
  const auto run = reader->runs()[0];
  const RunSummary s = reader->summary(run);
  CHECK(s.status == "finished");
  for (const std::string m : {"iteration", "grad_norm_sq", "consensus_error", "grad_dispersion", "dist_to_solution",
                              "bytes_busiest", "wall_time_s"}) {
    INFO(m);
    CHECK(std::find(s.metric_names.begin(), s.metric_names.end(), m) != s.metric_names.end());
  }
  CHECK(s.rows == 2000 / 10 + 1);
  const auto it = reader->iterations(run);
  CHECK(it.front() == 0);
  CHECK(it.back() == 2000);
  // rho of a 16-ring by Remark 2, computed here.
  CHECK(attr_double(s, "rho") == Approx(1.0 / 3 + 2.0 / 3 * std::cos(2 * std::numbers::pi / 16)).epsilon(1e-10));
  CHECK(attr_string(s, "topology") == "ring");
  CHECK(attr_double(s, "workers") == 16);
  CHECK(attr_double(s, "rounds") == 3);
  // Bytes on the busiest node: 2 neighbours x d doubles x t rounds per iteration.
  const auto bytes = reader->metric(run, "bytes_busiest");
  CHECK(bytes.back() == Approx(2000.0 * 3 * 2 * attr_double(s, "dim") * 8));
  // The method makes progress on the default nonconvex-nonconcave problem.
  const auto g = reader->metric(run, "grad_norm_sq");
  CHECK(g.back() < 0.1 * g.front());
  CHECK(r.out.find("finished") != std::string::npos);
}

TEST_CASE("dposg run trains a GAN through the same command, with its metrics, attributes and samples", "[cli]") {
  TempDir dir;
  const auto r = run_cli(
      "run --problem gan-mog8 --gan-width 16 --gan-depth 1 --gan-loss wgan-gp --workers 4 --topology random-ring "
      "--rounds 1 --step-rule oadam --lr 1e-4 --iters 20 --total-batch 32 --init problem --log-every 10 "
      "--eval-batch 16 --out g.h5",
      dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("modes_covered") != std::string::npos);
  CHECK(r.out.find("Theorem 1: not applicable (the problem's L, sigma or G is unknown)") != std::string::npos);
  const std::string run = ResultsReader::open(dir / "g.h5")->runs().at(0);
  {
    auto reader = ResultsReader::open(dir / "g.h5");
    const RunSummary s = reader->summary(run);
    CHECK(s.status == "finished");
    CHECK(attr_string(s, "gan_loss") == "wgan-gp");
    CHECK(attr_double(s, "gan_width") == 16);
    CHECK(attr_double(s, "batch") == 8);  // 32 / 4 workers
    CHECK(attr_double(s, "total_batch") == 32);
    for (const std::string m : {"loss_g", "loss_d", "modes_covered", "high_quality_fraction", "mmd"}) {
      INFO(m);
      CHECK(std::find(s.metric_names.begin(), s.metric_names.end(), m) != s.metric_names.end());
    }
    // d of the two MLPs, counted here: G 2->16->2, D 2->16->1.
    CHECK(attr_double(s, "dim") == (2 * 16 + 16 + 16 * 2 + 2) + (2 * 16 + 16 + 16 + 1));
  }
  // Generator samples at z̄ and data samples for plots, 2 x 2500 each.
  H5::H5File f(dir / "g.h5", H5F_ACC_RDONLY);
  for (const std::string name : {"samples", "real"}) {
    auto ds = f.openDataSet("/runs/" + run + "/final/" + name);
    hsize_t dims[2];
    REQUIRE(ds.getSpace().getSimpleExtentDims(dims) == 2);
    CHECK(dims[0] == 2);
    CHECK(dims[1] == 2500);
  }
}

TEST_CASE("dposg run with no options is the README's main job", "[cli]") {
  TempDir dir;
  const auto r = run_cli("run", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  {
    // Readers are closed before the CLI writes again: HDF5 shares one cached view per process.
    auto reader = ResultsReader::open(dir / "dposg-run.h5");
    const RunSummary s = reader->summary(reader->runs()[0]);
    CHECK(attr_string(s, "problem") == "star");
    CHECK(attr_double(s, "workers") == 8);
    CHECK(attr_string(s, "topology") == "ring");
    CHECK(attr_double(s, "rounds") == 2);
  }
  // Running it again appends a second run instead of failing or replacing the first.
  REQUIRE(run_cli("run --quiet", dir).code == 0);
  CHECK(ResultsReader::open(dir / "dposg-run.h5")->runs().size() == 2);
}

TEST_CASE("dposg topology prints rho with the closed form beside it", "[cli]") {
  TempDir dir;
  const auto r = run_cli("topology --topology ring --workers 16", dir);
  REQUIRE(r.code == 0);
  const double expected = 1.0 / 3 + 2.0 / 3 * std::cos(2 * std::numbers::pi / 16);
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex(R"(rho = max\(\|lambda_2\|, \|lambda_M\|\) = ([0-9.]+))")));
  CHECK(std::stod(m[1]) == Approx(expected).epsilon(1e-10));
  REQUIRE(std::regex_search(r.out, m, std::regex(R"(Remark 2: 1/3 \+ 2/3 cos\(2 pi/M\) = ([0-9.]+))")));
  CHECK(std::stod(m[1]) == Approx(expected).epsilon(1e-10));
}

TEST_CASE("config files take the same keys as the command line", "[cli]") {
  TempDir dir;
  {
    std::ofstream cfg(dir / "run.cfg");
    cfg << "# a comment\nproblem = bilinear\nworkers = 4\ntopology = torus\nrounds = 1\niters = 50\nlr = 0.05\n"
           "run-name = from-config\n";
  }
  REQUIRE(run_cli("run --config run.cfg --out c.h5 --quiet", dir).code == 0);
  REQUIRE(run_cli("run --problem bilinear --workers 4 --topology torus --rounds 1 --iters 50 --lr 0.05 "
                  "--run-name from-cli --out c.h5 --quiet",
                  dir)
              .code == 0);
  {
    auto reader = ResultsReader::open(dir / "c.h5");
    CHECK(reader->metric("from-config", "grad_norm_sq") == reader->metric("from-cli", "grad_norm_sq"));
  }
  // The command line wins over the file.
  REQUIRE(run_cli("run --config run.cfg --iters 20 --run-name override --out c.h5 --quiet", dir).code == 0);
  CHECK(ResultsReader::open(dir / "c.h5")->iterations("override").back() == 20);
}

TEST_CASE("dposg run --help lists every option with its default", "[cli]") {
  TempDir dir;
  const auto r = run_cli("run --help", dir);
  REQUIRE(r.code == 0);
  for (const std::string opt : {"--problem", "--dim", "--problem-file", "--workers", "--topology", "--topology-file",
                                "--rounds", "--step-rule", "--lr", "--iters", "--batch", "--noise", "--seed", "--init",
                                "--log-every", "--out", "--run-name", "--config", "--threads", "--backend",
                                "--net-latency", "--net-bandwidth", "--coupling-matrix", "--device", "--algorithm",
                                "--compressor", "--error-feedback", "--overlap", "--engine", "--exchange"}) {
    INFO(opt);
    CHECK(r.out.find(opt) != std::string::npos);
  }
  CHECK(r.out.find("--workers arg (=8)") != std::string::npos);
  CHECK(r.out.find("--rounds arg (=2)") != std::string::npos);
  CHECK(r.out.find("--engine arg (=auto)") != std::string::npos);
}

TEST_CASE("bad input: one line on stderr naming the option, exit code 2, no output file", "[cli]") {
  TempDir dir;
  {
    std::ofstream bad(dir / "bad.cfg");
    bad << "workers = 4\nthis line is not key value\n";
    std::ofstream unknown(dir / "unknown.cfg");
    unknown << "wrokers = 4\n";
  }
  Matrix W = Matrix::Constant(4, 4, 0.25);
  W(0, 0) = 0.5;  // row 0 sums to 1.25
  write_W(dir / "notds.h5", W);
  Matrix asym = Matrix::Constant(3, 3, 1.0 / 3);
  asym(0, 1) = 0.5;
  asym(0, 2) = 1.0 / 6;
  write_W(dir / "asym.h5", asym);
  write_W(dir / "identity.h5", Matrix::Identity(4, 4));

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--net-latency 0.001", "--net-latency: network emulation applies to --backend mpi"},
      {"--backend mpi --net-bandwidth nan", "--net-bandwidth"},
      {"--problem nosuch", "--problem"},
      {"--workers 0", "--workers"},
      {"--workers abc", "--workers"},
      {"--rounds -1", "--rounds"},
      {"--lr 0", "--lr"},
      {"--lr -0.1", "--lr"},
      {"--lr fast", "--lr"},
      {"--batch 0", "--batch"},
      {"--iters -5", "--iters"},
      {"--dim 7", "--dim"},
      {"--noise -1", "--noise"},
      {"--topology hypercube", "--topology"},
      {"--topology file --workers 4 --topology-file notds.h5", "doubly stochastic"},
      {"--topology file --workers 3 --topology-file asym.h5", "symmetric"},
      {"--topology file --workers 4 --topology-file identity.h5", "rho"},
      {"--topology file --workers 4 --topology-file missing.h5", "--topology-file"},
      {"--topology file --workers 5 --topology-file notds.h5", "--topology-file"},
      {"--problem quadratic-file --problem-file missing.h5", "--problem-file"},
      {"--config bad.cfg", "--config"},
      {"--config unknown.cfg", "wrokers"},
      {"--config missing.cfg", "--config"},
      {"--no-such-option 3", "no-such-option"},
      {"--step-rule adam", "--step-rule"},
      {"--init-spread 0.5", "--init-spread"},
      {"--log-every 0", "--log-every"},
      {"--total-batch 100 --workers 8", "--total-batch"},
      {"--problem gan-mog8 --gan-loss least-squares", "--gan-loss"},
      {"--problem gan-mog8 --gan-width 0", "--gan-width"},
      {"--problem gan-mog8 --gan-activation elu", "--gan-activation"},
      {"--problem gan-mog8 --lr theorem", "--lr"},
  };
  for (const auto& [args, needle] : cases) {
    INFO(args);
    const auto r = run_cli("run " + args + " --iters 10 --out out.h5", dir);
    CHECK(r.code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "out.h5"));
  }
  SECTION("an unwritable output path") {
    const auto r = run_cli("run --iters 10 --out /nonexistent-dir/x.h5", dir);
    CHECK(r.code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find("--out") != std::string::npos);
  }
  SECTION("an output file that is not HDF5 is left untouched") {
    { std::ofstream(dir / "notes.h5") << "my notes"; }
    const auto r = run_cli("run --iters 10 --out notes.h5", dir);
    CHECK(r.code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(dposg::test::slurp(dir / "notes.h5") == "my notes");
  }
  SECTION("a user-chosen run name that exists is refused; results already written stay") {
    REQUIRE(run_cli("run --iters 10 --run-name keep --out keep.h5 --quiet", dir).code == 0);
    const auto before = ResultsReader::open(dir / "keep.h5")->metric("keep", "grad_norm_sq");
    const auto r = run_cli("run --iters 20 --run-name keep --out keep.h5", dir);
    CHECK(r.code == 2);
    CHECK(r.err.find("--run-name") != std::string::npos);
    CHECK(ResultsReader::open(dir / "keep.h5")->metric("keep", "grad_norm_sq") == before);
    REQUIRE(run_cli("run --iters 20 --run-name keep --overwrite --out keep.h5 --quiet", dir).code == 0);
    CHECK(ResultsReader::open(dir / "keep.h5")->iterations("keep").back() == 20);
  }
}

TEST_CASE("a diverging run is recorded as diverged with the metrics up to that point, exit code 1", "[cli]") {
  TempDir dir;
  const auto r = run_cli("run --problem bilinear --step-rule gda --lr 50 --iters 5000 --log-every 1 --out d.h5", dir);
  CHECK(r.code == 1);
  auto reader = ResultsReader::open(dir / "d.h5");
  const auto run = reader->runs()[0];
  CHECK(reader->summary(run).status == "diverged");
  const auto g = reader->metric(run, "grad_norm_sq");
  REQUIRE(g.size() > 2);
  CHECK(g.size() < 5001);
  CHECK(std::isfinite(g.front()));
}

TEST_CASE("the step size option 'theorem' runs at Theorem 1's eta_max", "[cli]") {
  TempDir dir;
  REQUIRE(run_cli("run --lr theorem --iters 20 --out t.h5 --quiet", dir).code == 0);
  auto reader = ResultsReader::open(dir / "t.h5");
  const RunSummary s = reader->summary(reader->runs()[0]);
  CHECK(attr_double(s, "lr") == attr_double(s, "eta_max"));
  CHECK(attr_double(s, "eta_max") > 0);
  CHECK(attr_double(s, "eta_max") <= 1.0 / (6 * std::sqrt(2.0) * attr_double(s, "L")));
}

TEST_CASE("a run killed with SIGKILL leaves a readable file with the run marked running", "[cli]") {
  TempDir dir;
  const std::string path = dir / "k.h5";
  REQUIRE(run_cli("run --iters 30 --run-name done --out k.h5 --quiet", dir).code == 0);
  const auto done_before = ResultsReader::open(path)->metric("done", "grad_norm_sq");
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (chdir(dir.path.c_str()) != 0) _exit(99);
    execl(DPOSG_CLI, DPOSG_CLI, "run", "--dim", "200", "--workers", "16", "--iters", "100000000", "--log-every", "1",
          "--run-name", "killed", "--out", "k.h5", "--quiet", static_cast<char*>(nullptr));
    _exit(98);
  }
  // Kill it once the run has rows on disk (slow builds, e.g. sanitizers, take a while to start).
  auto has_rows = [&] {
    try {
      return ResultsReader::open(path)->summary("killed").rows > 0;
    } catch (const std::exception&) {
      return false;  // not created yet, or caught mid-write: look again
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!has_rows() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  auto reader = ResultsReader::open(path);
  CHECK(reader->summary("killed").status == "running");
  CHECK(reader->summary("killed").rows > 0);
  CHECK(reader->metric("done", "grad_norm_sq") == done_before);
  CHECK(reader->summary("done").status == "finished");
}
