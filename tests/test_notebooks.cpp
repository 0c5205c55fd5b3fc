// ctest-label: integration
// Every notebook in notebooks/ runs headless, without a cell error, against a small results file
// made by the CLI (a tiny sweep) — plus a GAN-like run and a /verify table, and without them, so
// that the skip paths run too. Needs /usr/bin/python3 with nbclient, nbformat, ipykernel, h5py,
// numpy, pandas and matplotlib (scripts/install-deps.sh installs them); skipped with a warning
// otherwise.
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>

#include "cli_harness.hpp"
#include "core/recorder.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::slurp;
using dposg::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kNotebooks = std::string(DPOSG_SOURCE_DIR) + "/notebooks/";

bool have_jupyter() {
  return std::system("/usr/bin/python3 -c 'import nbclient, nbformat, ipykernel, h5py, numpy, pandas, matplotlib' "
                     ">/dev/null 2>&1") == 0;
}

// results.h5: a tiny sweep. rich.h5: the same plus a GAN-like run (the metrics and final samples a
// GAN problem records) and a /verify table as `dposg verify` writes it.
void make_results(const TempDir& dir) {
  const auto r = run_cli(
      "sweep --grid topology=ring,random-ring,complete --grid rounds=1,2 --seeds 2 --workers 8 --iters 150 "
      "--log-every 2 --init random --init-spread 1 --out results.h5 --quiet",
      dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  fs::copy_file(dir / "results.h5", dir / "rich.h5");
  auto file = ResultsFile::open(dir / "rich.h5");
  {
    auto w = file->create_run("gan-fake");
    w->set_attr("problem", std::string("gan-ring8"));
    w->set_attr("topology", std::string("ring"));
    w->set_attr("workers", std::int64_t{4});
    w->set_attr("rounds", std::int64_t{1});
    w->set_attr("seed", std::int64_t{0});
    w->set_attr("iters", std::int64_t{100});
    w->set_attr("rho_t", 0.5);
    w->set_attr("grad_norm_exact", std::int64_t{0});
    for (int k = 0; k <= 100; k += 10) {
      MetricsRow row;
      row.iteration = k;
      row.set("grad_norm_sq", 1.0 / (1 + k));
      row.set("consensus_error", 1e-3 / (1 + k));
      row.set("loss_g", 0.7 - 0.001 * k);
      row.set("loss_d", 1.4 + 0.001 * k);
      row.set("modes_covered", std::min(8, k / 10));
      row.set("high_quality_fraction", k / 100.0);
      row.set("mmd", 0.1 / (1 + k));
      w->append(row);
    }
    Matrix samples(2, 400);
    for (Index j = 0; j < samples.cols(); ++j) {
      const double a = 2 * 3.14159265358979 * static_cast<double>(j % 8) / 8;
      samples(0, j) = std::cos(a) + 0.01 * static_cast<double>(j % 7);
      samples(1, j) = std::sin(a) - 0.01 * static_cast<double>(j % 5);
    }
    w->write_final("samples", samples);
    w->write_final("z_bar", Vector(Vector::Zero(6)));
    w->set_status("finished");
  }
  const char* status[] = {"PASS", "PASS", "FAIL", "info"};
  for (int k = 0; k < 4; ++k)
    file->write_record("verify", "theorem1", "row00" + std::to_string(k),
                       {{"claim", std::string("(1/N) sum_k E||g(z_bar_k)||^2 <= bound, M = ") + std::to_string(4 << k)},
                        {"measured", 0.01 * (k + 1)},
                        {"relation", std::string(k == 3 ? "info" : "<=")},
                        {"expected", 0.5 * (k + 1)},
                        {"margin", 0.02},
                        {"margin_kind", std::string("measured/bound")},
                        {"status", std::string(status[k])},
                        {"note", std::string()}});
}

struct Run {
  int code = -1;
  std::string out, err;
};

Run execute(const TempDir& dir, const std::string& results, const std::string& notebook) {
  // Kernel, Jupyter and matplotlib state under the test's folder; no bytecode in the source tree.
  const std::string env = "HOME='" + dir.path.string() + "' JUPYTER_RUNTIME_DIR='" + (dir / "jupyter") +
                          "' MPLCONFIGDIR='" + (dir / "mpl") + "' IPYTHONDIR='" + (dir / "ipython") +
                          "' PYTHONDONTWRITEBYTECODE=1 PYDEVD_DISABLE_FILE_VALIDATION=1 ";
  const std::string cmd = "cd '" + dir.path.string() + "' && " + env + "/usr/bin/python3 -Xfrozen_modules=off '" +
                          DPOSG_SOURCE_DIR + "/tests/run_notebooks.py' '" + (dir / results) + "' '" + kNotebooks +
                          notebook + "' >nb-out.txt 2>nb-err.txt";
  const int status = std::system(cmd.c_str());
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "nb-out.txt");
  r.err = slurp(dir / "nb-err.txt");
  return r;
}

void check_runs(const TempDir& dir, const std::string& results, const std::string& notebook,
                const std::string& expect_in_output = "") {
  const Run r = execute(dir, results, notebook);
  INFO(notebook << " against " << results << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
  CHECK(r.code == 0);
  CHECK(r.out.find(notebook + ": ok") != std::string::npos);
  if (!expect_in_output.empty()) CHECK(r.out.find(expect_in_output) != std::string::npos);
}

}  // namespace

TEST_CASE("notebooks are committed without outputs", "[notebooks]") {
  int found = 0;
  for (const auto& entry : fs::directory_iterator(kNotebooks)) {
    if (entry.path().extension() != ".ipynb") continue;
    ++found;
    const std::string text = slurp(entry.path());
    INFO(entry.path());
    CHECK_FALSE(std::regex_search(text, std::regex(R"("execution_count":\s*[0-9])")));
    CHECK_FALSE(std::regex_search(text, std::regex(R"("outputs":\s*\[\s*\{)")));
  }
  CHECK(found == 4);
}

TEST_CASE("notebook 01_convergence runs headless", "[notebooks]") {
  if (!have_jupyter()) {
    WARN("SKIPPED: /usr/bin/python3 lacks nbclient/nbformat/ipykernel/h5py/pandas/matplotlib (scripts/install-deps.sh)");
    return;
  }
  TempDir dir;
  make_results(dir);
  check_runs(dir, "rich.h5", "01_convergence.ipynb", "13 runs");
}

TEST_CASE("notebook 02_consensus runs headless", "[notebooks]") {
  if (!have_jupyter()) {
    WARN("SKIPPED: /usr/bin/python3 lacks nbclient/nbformat/ipykernel/h5py/pandas/matplotlib (scripts/install-deps.sh)");
    return;
  }
  TempDir dir;
  make_results(dir);
  check_runs(dir, "rich.h5", "02_consensus.ipynb", "runs with a consensus error and rho_t");
}

TEST_CASE("notebook 03_theorem1 runs headless, with and without /verify", "[notebooks]") {
  if (!have_jupyter()) {
    WARN("SKIPPED: /usr/bin/python3 lacks nbclient/nbformat/ipykernel/h5py/pandas/matplotlib (scripts/install-deps.sh)");
    return;
  }
  TempDir dir;
  make_results(dir);
  check_runs(dir, "results.h5", "03_theorem1.ipynb", "no verify results in");
  const Run rich = execute(dir, "rich.h5", "03_theorem1.ipynb");
  INFO(rich.out << rich.err);
  CHECK(rich.code == 0);
  CHECK(rich.out.find("no verify results") == std::string::npos);
  CHECK(rich.out.find("no theorem1 rows") == std::string::npos);
}

TEST_CASE("notebook 04_gan runs headless, and skips cleanly without GAN runs", "[notebooks]") {
  if (!have_jupyter()) {
    WARN("SKIPPED: /usr/bin/python3 lacks nbclient/nbformat/ipykernel/h5py/pandas/matplotlib (scripts/install-deps.sh)");
    return;
  }
  TempDir dir;
  make_results(dir);
  check_runs(dir, "results.h5", "04_gan.ipynb", "no GAN runs in");
  check_runs(dir, "rich.h5", "04_gan.ipynb", "1 GAN run(s): gan-fake");
}
