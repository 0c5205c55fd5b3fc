// bench_gan: DPOSG-OAdam iterations per second of the MLP GAN through the real engine
// (build_experiment + run_experiment: mixing, the optimistic Adam step, the batched operator),
// for comparison with bench/gan_torch.py, the same training step written in PyTorch eager.
//
//   bench_gan [--workers M] [--iters N] [--width W] [--depth D] [--batch m] [--threads T] [--device cpu|cuda]
//             [--arch dcgan [--latent L]]   (--arch first: it sets its own defaults)
//
// --arch dcgan: the WGAN-GP DCGAN on 28 x 28 Fashion-MNIST (gan/conv_net.hpp; width 16, latent 64
// unless given), the peer of bench/dcgan_torch.py.
//
// Timing: a run of N iterations minus a run of 0 iterations (the difference removes the set-up),
// each without the time the driver spent evaluating metrics (eval_time_s), best of 3. Prints one line
// `steps_per_s <value>` and the configuration. M = 1 runs on the single topology, M > 1 on a ring
// with one gossip round (DP-OAdam).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "core/error.hpp"
#include "app/experiment.hpp"

using namespace dposg;

namespace {

double seconds_for(const ExperimentConfig& base, std::int64_t iters) {
  ExperimentConfig c = base;
  c.iters = iters;
  c.log_every = iters > 0 ? iters : 1;
  Experiment e = build_experiment(c);
  const auto start = std::chrono::steady_clock::now();
  const RunOutcome out = run_experiment(e, nullptr);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out.status != RunStatus::finished) throw std::runtime_error("run did not finish: " + out.message);
  // The N-iteration run evaluates the metrics twice (iterations 0 and N), the 0-iteration run once:
  // without this the difference would hold one evaluation, which for dcgan (a 512-sample loss batch,
  // the conv classifier on the generator's samples) costs more than many iterations.
  return s - out.last.get("eval_time_s");
}

}  // namespace

int main(int argc, char** argv) {
  ExperimentConfig c;
  c.problem.name = "gan-mog8";
  c.problem.gan_loss = "ns";
  c.problem.gan_width = 128;
  c.problem.gan_depth = 2;
  c.problem.gan_latent = 2;
  c.workers = 1;
  c.rounds = 1;
  c.step_rule = "oadam";
  c.lr = "1e-4";
  c.lr_v = "5e-4";
  c.beta1 = 0.5;
  c.beta2 = 0.9;
  c.batch = 64;
  c.init = "problem";
  c.eval_batch = 8;
  std::int64_t iters = 500;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw InputError(a + ": missing value");
        return argv[++i];
      };
      if (a == "--workers") c.workers = std::stol(next());
      else if (a == "--iters") iters = std::stol(next());
      else if (a == "--width") c.problem.gan_width = std::stol(next());
      else if (a == "--depth") c.problem.gan_depth = std::stol(next());
      else if (a == "--batch") c.batch = std::stol(next());
      else if (a == "--engine") c.engine = next();
      else if (a == "--threads") c.threads = std::stoi(next());
      else if (a == "--device") c.problem.device = next();
      else if (a == "--latent") c.problem.gan_latent = std::stol(next());
      else if (a == "--arch") {
        c.problem.gan_arch = next();
        if (c.problem.gan_arch == "dcgan") {
          c.problem.name = "gan-fashion";
          c.problem.gan_downscale = 1;
          c.problem.gan_loss = "wgan-gp";
          c.problem.gan_activation = "leaky-relu";
          c.problem.gan_width = 16;
          c.problem.gan_latent = 64;
          c.lr = "2e-4";
          c.lr_v = "";
          iters = 10;
        }
      }
      else throw InputError("unknown option " + a);
    }
    c.topology = c.workers == 1 ? "single" : "ring";
    double best = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      const double t0 = seconds_for(c, 0);
      const double tn = seconds_for(c, iters);
      best = std::min(best, (tn - t0) / static_cast<double>(iters));
    }
    if (c.problem.gan_arch == "dcgan")
      std::printf("bench_gan: gan-fashion dcgan wgan-gp, width %ld, latent %ld, M = %ld (%s), m = %ld, oadam, %ld iterations\n",
                  static_cast<long>(c.problem.gan_width), static_cast<long>(c.problem.gan_latent),
                  static_cast<long>(c.workers), c.topology.c_str(), static_cast<long>(c.batch), static_cast<long>(iters));
    else
    std::printf("bench_gan: gan-mog8 ns, G %ld->%ldx%ld->2, D 2->%ldx%ld->1, M = %ld (%s), m = %ld, oadam, %ld iterations\n",
                static_cast<long>(c.problem.gan_latent), static_cast<long>(c.problem.gan_width),
                static_cast<long>(c.problem.gan_depth), static_cast<long>(c.problem.gan_width),
                static_cast<long>(c.problem.gan_depth), static_cast<long>(c.workers), c.topology.c_str(),
                static_cast<long>(c.batch), static_cast<long>(iters));
    std::printf("steps_per_s %.2f\n", 1.0 / best);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_gan: " << e.what() << "\n";
    return 2;
  }
}
