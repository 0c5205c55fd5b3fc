// ctest-label: integration
// Issue #5's "done when": a GAN trained through the same engine as every other problem
// (build_experiment + run_experiment with the ExperimentConfig the CLI builds) learns the 8-Gaussian
// ring with DP-OAdam on a ring of 8 workers, one gossip round per iteration.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <string>

#include "app/experiment.hpp"

namespace {

// Keeps the first logged row (iteration 0).
struct FirstRow : dposg::Observer {
  dposg::MetricsRow row;
  bool seen = false;
  void on_log(const dposg::MetricsRow& r) override {
    if (!seen) row = r;
    seen = true;
  }
};

// The CLI equivalent:
//   dposg run --problem gan-mog8 --gan-loss ns --gan-width 64 --gan-depth 2 --gan-latent 2
//     --gan-activation relu --workers 8 --topology ring --rounds 1 --step-rule oadam --beta1 0.8
//     --beta2 0.999 --lr 1e-4 --lr-v 5e-4 --iters 20000 --batch 64 --seed 2 --init problem
//     --log-every 20000 --eval-batch 64
// Tuned on seeds 1..6, which all pass (7-8 modes, high-quality fraction 0.72-0.90; seed 2: 8 modes,
// 0.895). The paper's Adam moments (0.5, 0.9) cover all 8 modes too but blur them (0.63-0.78 over
// seeds 1..7); beta2 = 0.999 and beta1 = 0.8 sharpen the modes, lr_v = 5 lr keeps the discriminator
// ahead. About 35 s on 2 cores.
dposg::ExperimentConfig ring_gan_config() {
  dposg::ExperimentConfig c;
  c.problem.name = "gan-mog8";
  c.problem.gan_loss = "ns";
  c.problem.gan_width = 64;
  c.problem.gan_depth = 2;
  c.problem.gan_latent = 2;
  c.problem.gan_activation = "relu";
  c.workers = 8;
  c.topology = "ring";
  c.rounds = 1;
  c.step_rule = "oadam";
  c.beta1 = 0.8;
  c.beta2 = 0.999;
  c.lr = "1e-4";    // generator (u)
  c.lr_v = "5e-4";  // discriminator (v)
  c.iters = 20000;
  c.batch = 64;
  c.seed = 2;
  c.init = "problem";
  c.log_every = c.iters;  // metrics at 0 and at the end only
  c.eval_batch = 64;
  // One OpenMP thread: under ctest -j2 two threads per test oversubscribe the 2 cores (135 s for
  // this test in the suite, ~35 s alone); the results do not depend on the thread count.
  c.threads = 1;
  return c;
}

}  // namespace

TEST_CASE("gan training: DP-OAdam on the 8-Gaussian ring covers >= 7 modes with >= 70% high-quality samples",
          "[gan][integration]") {
  const dposg::ExperimentConfig c = ring_gan_config();
  dposg::Experiment e = dposg::build_experiment(c);
  // All workers start at the problem's initialisation.
  CHECK((e.Z0.colwise() - e.Z0.col(0)).norm() == 0.0);
  CHECK(e.Z0.col(0).norm() > 1.0);

  const auto start = std::chrono::steady_clock::now();
  FirstRow first;
  const dposg::RunOutcome out = dposg::run_experiment(e, nullptr, {&first});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  REQUIRE(out.status == dposg::RunStatus::finished);
  REQUIRE(out.iterations_done == c.iters);
  const auto& row = out.last;
  INFO("modes_covered " << row.get("modes_covered") << ", high_quality_fraction " << row.get("high_quality_fraction")
                        << ", mmd " << row.get("mmd") << ", loss_g " << row.get("loss_g") << ", loss_d "
                        << row.get("loss_d") << ", consensus_error " << row.get("consensus_error") << ", " << seconds
                        << " s, initial mmd " << first.row.get("mmd"));
  CHECK(row.get("modes_covered") >= 7);
  CHECK(row.get("high_quality_fraction") >= 0.70);
  // The generator moved towards the data: MMD^2 at least halved from the start (~0.14). Uneven mode
  // weights keep it well above 0 at this length of run.
  REQUIRE(first.seen);
  CHECK(first.row.get("mmd") > 0.05);
  CHECK(row.get("mmd") < 0.5 * first.row.get("mmd"));
  // One gossip round per iteration keeps the workers close together.
  CHECK(row.get("consensus_error") < 1e-2);
  CHECK(std::isfinite(row.get("grad_norm_sq")));
}
