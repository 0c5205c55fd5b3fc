// ctest-label: integration
// --engine resident (gan/cuda/resident_engine.hpp) against the host engine: the resident engine's
// iteration (ArrayEngine, core/array_ops.hpp) over its CPU twin's arrays (--device cpu-float) must give
// the run the host engine gives (CpuMixer, core/step_rule.cpp) on the same float operator, for every
// step rule and --overlap. The GPU device is checked against this twin in tests/test_gan_cuda.cpp, and
// its arrays against the rules' loops in tests/test_array_backends_cuda.cpp. The twin's checkpoints are
// the host engine's: either engine continues the other's.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cli_harness.hpp"
#include "core/error.hpp"
#include "app/experiment.hpp"
#include "core/recorder.hpp"
#include "kept_checkpoints.hpp"
#include "run_attrs.hpp"

using namespace dposg;

namespace {

struct Trace final : Observer {
  std::vector<MetricsRow> rows;
  void on_log(const MetricsRow& r) override { rows.push_back(r); }
};

ExperimentConfig gan_config(const std::string& topology, Index workers, const std::string& rule, const std::string& loss) {
  ExperimentConfig c;
  c.problem.name = "gan-mog8";
  c.problem.gan_loss = loss;
  c.problem.gan_width = 32;
  c.problem.device = "cpu-float";
  c.workers = workers;
  c.topology = topology;
  c.rounds = 2;
  c.step_rule = rule;
  c.lr = "1e-3";
  c.iters = 30;
  c.batch = 16;
  c.eval_batch = 128;
  c.seed = 3;
  c.init = "random";
  c.init_spread = 0.3;  // workers start apart: the mixing has work to do
  c.log_every = 10;
  return c;
}

struct Outcome {
  RunOutcome out;
  Trace trace;
};

Outcome run(ExperimentConfig c, const std::string& engine) {
  c.engine = engine;
  Experiment e = build_experiment(c);
  CHECK(static_cast<bool>(e.engine) == (engine == "resident"));
  Outcome o;
  o.out = run_experiment(e, nullptr, {&o.trace});
  return o;
}

}  // namespace

TEST_CASE("resident engine: the host engine's run, row by row, for every topology, rule and loss", "[resident]") {
  struct Case {
    std::string topology;
    Index workers;
    std::string rule, loss;
    bool overlap = false;
  };
  const std::vector<Case> cases{{"ring", 4, "oadam", "ns"},
                                {"random-ring", 4, "osg", "wgan-clip"},
                                {"complete", 4, "oadam", "wgan-gp"},
                                {"torus", 8, "osg", "ns"},
                                {"single", 1, "oadam", "ns"},
                                {"ring", 4, "extragradient", "ns"},
                                {"random-ring", 4, "gda", "wgan-clip"},
                                {"ring", 4, "osg", "ns", true},
                                {"random-ring", 4, "oadam", "wgan-gp", true},
                                {"ring", 4, "extragradient", "ns", true}};
  for (const auto& k : cases) {
    SECTION(k.topology + " " + k.rule + " " + k.loss + (k.overlap ? " overlap" : "")) {
      ExperimentConfig c = gan_config(k.topology, k.workers, k.rule, k.loss);
      c.overlap = k.overlap;
      const Outcome host = run(c, "host"), resident = run(c, "resident");
      REQUIRE(host.out.status == RunStatus::finished);
      REQUIRE(resident.out.status == RunStatus::finished);
      REQUIRE(host.trace.rows.size() == resident.trace.rows.size());
      if (k.workers > 1) CHECK(host.trace.rows.front().get("consensus_error") > 1e-3);
      for (std::size_t i = 0; i < host.trace.rows.size(); ++i)
        for (const auto& [name, a] : host.trace.rows[i].values) {
          if (name.ends_with("_time_s") || std::isnan(a)) continue;
          const double b = resident.trace.rows[i].get(name);
          INFO(name << " row " << i << ": host " << a << ", resident " << b);
          CHECK(std::abs(a - b) <= 1e-12 * std::abs(a) + 1e-300);
        }
      CHECK((host.out.z_bar - resident.out.z_bar).norm() <= 1e-12 * host.out.z_bar.norm());
      // It moved.
      CHECK(host.trace.rows.back().get("loss_d") != host.trace.rows.front().get("loss_d"));
    }
  }
}

TEST_CASE("resident engine: where it does not run, --engine resident is one error naming --engine", "[resident]") {
  auto refused = [](ExperimentConfig c, const std::string& says) {
    c.engine = "resident";
    try {
      build_experiment(c);
      FAIL("accepted: " << says);
    } catch (const InputError& e) {
      const std::string what = e.what();
      CHECK(what.rfind("--engine:", 0) == 0);
      CHECK(what.find(says) != std::string::npos);
    }
  };
  const ExperimentConfig c = gan_config("ring", 4, "osg", "ns");
  ExperimentConfig cpu = c;
  cpu.problem.device = "cpu";
  refused(cpu, "--device cuda");
  ExperimentConfig dqgan = c;
  dqgan.algorithm = "dqgan";
  dqgan.topology = "complete";
  refused(dqgan, "--algorithm dposg");
  ExperimentConfig star = c;
  star.problem = ProblemOptions{};
  star.problem.name = "star";
  refused(star, "GAN problems");
  ExperimentConfig choco = c;
  choco.compressor = "sign";
  choco.gossip_step = 0.5;
  refused(choco, "exact gossip");
  ExperimentConfig bogus = c;
  bogus.engine = "gpu";
  CHECK_THROWS_WITH(build_experiment(bogus), Catch::Contains("--engine: expected 'auto', 'host' or 'resident'"));
  // auto keeps cpu-float on the host engine (resident is for --device cuda unless asked for).
  ExperimentConfig automatic = c;
  automatic.engine = "auto";
  CHECK_FALSE(build_experiment(automatic).engine);
}

TEST_CASE("resident engine: reachable from dposg run, recorded as the attribute engine", "[resident]") {
  dposg::test::TempDir dir;
  const std::string common = "run --problem gan-mog8 --gan-width 16 --workers 2 --iters 4 --log-every 2 --batch 8"
                             " --eval-batch 32 --quiet";
  const auto r = dposg::test::run_cli(common + " --out r.h5 --device cpu-float --engine resident --run-name res", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto h = dposg::test::run_cli(common + " --out r.h5 --device cpu-float --run-name host", dir);
  REQUIRE(h.code == 0);
  auto f = ResultsReader::open(dir / "r.h5");
  CHECK(dposg::test::attr_text(f->summary("res"), "engine") == "resident");
  CHECK(dposg::test::attr_text(f->summary("host"), "engine") == "host");
  f.reset();
  const auto bad = dposg::test::run_cli(common + " --device cpu --engine resident --run-name bad --out bad.h5", dir);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--engine: 'resident' needs --device cuda") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.h5"));
}

TEST_CASE("resident engine: the CPU twin's checkpoint is the host engine's, and each engine continues the other's bit "
          "for bit", "[resident][checkpoint]") {
  ExperimentConfig c = gan_config("random-ring", 4, "oadam", "ns");
  // Small: each logged row costs the problem's quality metrics (2500 generator samples).
  c.problem.gan_width = 8;
  c.iters = 12;
  c.log_every = 6;
  c.eval_batch = 32;
  c.threads = 1;  // on a loaded machine OpenMP's spinning workers make these small runs ten times slower
  using dposg::test::KeptCheckpoints;
  using dposg::test::LoggedRows;
  auto run_with = [&](const std::string& engine, KeptCheckpoints* kept, const StateArchive* from,
                      LoggedRows& rows) {
    c.engine = engine;
    Experiment e = build_experiment(c);
    REQUIRE(checkpoints_unsupported(e).empty());
    e.driver.checkpoints = kept;
    e.driver.checkpoint_every = 5;  // between logged rows: the continuation owes nothing to a logging read
    e.driver.resume_from = from;
    return run_experiment(e, nullptr, {&rows});
  };
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"resident", "host"}, {"host", "resident"}}) {
    SECTION("written by " + from + ", continued by " + to) {
      LoggedRows whole, rows, resumed;
      const RunOutcome alone = run_with(to, nullptr, nullptr, whole);
      KeptCheckpoints kept;
      REQUIRE(run_with(from, &kept, nullptr, rows).status == RunStatus::finished);
      REQUIRE(kept.at.count(5));
      const StateArchive& state = kept.at.at(5);
      CHECK(state.text("engine/arithmetic") == "host");
      const RunOutcome continued = run_with(to, nullptr, &state, resumed);
      INFO(continued.message);
      REQUIRE(continued.status == RunStatus::finished);
      dposg::test::require_rows_after(5, whole.rows, resumed.rows);
      CHECK(dposg::test::same_bits(continued.z_bar, alone.z_bar));
    }
  }
}
