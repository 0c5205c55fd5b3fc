// ctest-label: integration
// Per-problem defaults (issue #19): a problem's catalog entry sets its own defaults of `dposg run`
// options, --help shows them, and an option the user gives (command line or config file) wins.
#include <catch2/catch.hpp>

#include <fstream>
#include <variant>

#include "app/experiment.hpp"
#include "cli_harness.hpp"
#include "core/recorder.hpp"
#include "run_attrs.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;
using dposg::test::attr_double;
using dposg::test::attr_text;

namespace {

RunSummary only_run(const std::string& path) {
  auto r = ResultsReader::open(path);
  REQUIRE(r->runs().size() == 1);
  return r->summary(r->runs().front());
}

}  // namespace

TEST_CASE("problem defaults: --help shows the problem's own defaults, the global ones otherwise", "[cli]") {
  TempDir dir;
  const auto gan = run_cli("run --problem gan-mog8 --help", dir);
  REQUIRE(gan.code == 0);
  CHECK(gan.out.find("Defaults of --problem gan-mog8") != std::string::npos);
  CHECK(gan.out.find("--lr arg (=1e-4)") != std::string::npos);
  CHECK(gan.out.find("--lr-v arg (=5e-4)") != std::string::npos);
  CHECK(gan.out.find("--gan-width arg (=64)") != std::string::npos);
  CHECK(gan.out.find("--batch arg (=64)") != std::string::npos);
  CHECK(gan.out.find("--iters arg (=20000)") != std::string::npos);
  CHECK(gan.out.find("--init arg (=auto)") != std::string::npos);
  const auto fashion = run_cli("run --problem gan-fashion --help", dir);
  CHECK(fashion.out.find("--gan-latent arg (=32)") != std::string::npos);
  CHECK(fashion.out.find("--iters arg (=2000)") != std::string::npos);
  const auto star = run_cli("run --help", dir);
  CHECK(star.out.find("Defaults of --problem") == std::string::npos);
  CHECK(star.out.find("--lr arg (=0.05)") != std::string::npos);
  CHECK(star.out.find("--gan-width arg (=128)") != std::string::npos);
  // From a config file too.
  std::ofstream(dir / "g.cfg") << "problem = gan-mog25\n";
  CHECK(run_cli("run --config g.cfg --help", dir).out.find("--lr arg (=5e-4)") != std::string::npos);
}

TEST_CASE("problem defaults: a GAN run takes its problem's defaults; the user's options win", "[cli]") {
  TempDir dir;
  std::ofstream(dir / "run.cfg") << "gan-width = 8\nbatch = 4\n";
  const auto r = run_cli(
      "run --problem gan-mog8 --workers 2 --iters 3 --log-every 1 --lr 2e-4 --config run.cfg --quiet --out r.h5", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const RunSummary s = only_run(dir / "r.h5");
  CHECK(attr_double(s, "lr") == Approx(0.0002));      // command line
  CHECK(attr_double(s, "gan_width") == Approx(8));    // config file
  CHECK(attr_double(s, "batch") == Approx(4));        // config file
  CHECK(attr_double(s, "iters") == Approx(3));
  CHECK(attr_double(s, "lr_v") == Approx(0.0005));    // the problem's
  CHECK(attr_double(s, "beta2") == Approx(0.999));    // the problem's
  CHECK(attr_double(s, "eval_batch") == Approx(64));  // the problem's
  CHECK(attr_text(s, "init") == "problem");   // auto, resolved
  const auto zero = run_cli("run --problem gan-mog8 --workers 2 --iters 1 --init zero --gan-width 8 --quiet --out z.h5", dir);
  REQUIRE(zero.code == 0);
  CHECK(attr_text(only_run(dir / "z.h5"), "init") == "zero");
  // --lr alone steps both players (--lr-v: "empty = --lr"), as before the problem had defaults.
  REQUIRE(run_cli("run --problem gan-mog8 --workers 2 --iters 1 --lr 1e-3 --gan-width 8 --quiet --out l.h5", dir).code == 0);
  CHECK(attr_double(only_run(dir / "l.h5"), "lr_v") == Approx(0.001));
}

TEST_CASE("problem defaults: the synthetic problems keep the global defaults and start at zero", "[cli]") {
  TempDir dir;
  REQUIRE(run_cli("run --iters 5 --quiet --out r.h5", dir).code == 0);
  const RunSummary s = only_run(dir / "r.h5");
  CHECK(attr_double(s, "lr") == Approx(0.05));
  CHECK(attr_double(s, "batch") == Approx(1));
  CHECK(attr_text(s, "init") == "zero");
  CHECK(attr_double(s, "log_every") == Approx(10));
}

TEST_CASE("problem defaults: each grid point of a sweep takes its own problem's defaults", "[cli][sweep]") {
  TempDir dir;
  const auto r = run_cli("sweep --grid problem=star,gan-mog8 --workers 2 --iters 2 --gan-width 8 --jobs 1 --quiet --out s.h5", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto reader = ResultsReader::open(dir / "s.h5");
  const RunSummary star = reader->summary("problem=star,seed=0");
  const RunSummary gan = reader->summary("problem=gan-mog8,seed=0");
  CHECK(attr_double(star, "lr") == Approx(0.05));
  CHECK(attr_text(star, "init") == "zero");
  CHECK(attr_double(gan, "lr") == Approx(0.0001));
  CHECK(attr_double(gan, "batch") == Approx(64));
  CHECK(attr_double(gan, "gan_width") == Approx(8));
  CHECK(attr_text(gan, "init") == "problem");
  CHECK(attr_double(gan, "lr_v") == Approx(0.0005));
  // The resume key records the start actually taken, as files written before --init auto do.
  CHECK(attr_text(star, "sweep_options").find("init=zero") != std::string::npos);
  // A second sweep resumes (nothing differs).
  CHECK(run_cli("sweep --grid problem=star,gan-mog8 --workers 2 --iters 2 --gan-width 8 --jobs 1 --quiet --out s.h5", dir).code == 0);
}

TEST_CASE("problem defaults: --init auto is zero for synthetic problems, the network initialisation for GANs",
          "[experiment]") {
  ExperimentConfig c;
  c.workers = 3;
  c.iters = 1;
  CHECK(c.init == "auto");
  CHECK(build_experiment(c).Z0.norm() == 0.0);
  c.problem.name = "gan-mog8";
  c.problem.gan_width = 8;
  const Experiment e = build_experiment(c);
  CHECK(e.config.init == "problem");
  // The same network start for every worker, compared with the problem's own initial point.
  ExperimentConfig p = c;
  p.init = "problem";
  const Experiment ep = build_experiment(p);
  CHECK(e.Z0.col(0).norm() > 0.1);
  CHECK((e.Z0 - ep.Z0).norm() == 0.0);
}
