#pragma once
// One experiment = one run of the driver with everything built from plain options. The CLI,
// sweeps, the verifier and the tests all start runs through here, so an option means the same
// thing everywhere.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/problem_catalog.hpp"
#include "core/compressor.hpp"
#include "core/driver.hpp"
#include "core/mixer.hpp"
#include "core/recorder.hpp"
#include "core/step_rule.hpp"
#include "core/theorem.hpp"

namespace dposg {

struct ExperimentConfig {
  ProblemOptions problem;
  Index workers = 8;
  std::string topology = "ring";
  std::string topology_file;
  int rounds = 2;
  std::string step_rule = "osg";
  std::string lr = "0.05";   // a number, or "theorem" (Theorem 1's eta_max)
  std::string lr_v;          // discriminator (v) step size; empty = same as lr
  double beta1 = 0.5, beta2 = 0.9, eps = 1e-8;
  std::int64_t iters = 1000;
  Index batch = 1;
  Index total_batch = 0;      // > 0: m = total_batch / workers (the paper holds m*M = 256 fixed)
  std::uint64_t seed = 0;
  std::string init = "zero";  // zero | random | problem (the problem's own random start, e.g. network weights)
  double init_spread = 0.0;   // per-worker spread of a random start (consensus matters from k = 0)
  std::int64_t log_every = 10;
  int threads = 0;            // 0 = OpenMP default
  Index eval_batch = 4096;    // samples per worker for g(z̄) where no exact operator exists
  int deviation_draws = 200;  // Monte-Carlo draws of E||W_t...W_1 - J|| for random mixing
  std::string run_name;       // empty = derived from the options
  // Communication (issue #7; core/compressor.hpp, core/dqgan.hpp, core/compressed_mixer.hpp).
  std::string algorithm = "dposg";  // dposg (gossip) | dqgan (parameter server, needs --topology complete)
  std::string compressor = "none";  // none | top-k | rand-k | sign | qsgd
  Index compress_k = 0;             // top-k, rand-k: k (or compress_ratio)
  double compress_ratio = 0.0;      // top-k, rand-k: k = ceil(ratio d)
  int qsgd_levels = 4;              // qsgd: s
  bool error_feedback = false;      // dqgan: per-worker error memory
  double gossip_step = 1.0;         // dposg with a compressor: CHOCO's consensus step size gamma
  // The paper's implementation (Sec. 5.1, after Lian et al.) rather than Algorithm 1: the local step
  // runs on the un-averaged X_{k-1} while the averaging is under way (DriverOptions::overlap).
  bool overlap = false;
  // auto | host | resident: where the iterates live between iterations (core/driver.hpp IterationEngine).
  // auto: resident for --device cuda where it runs (gan/cuda/resident_engine.hpp), host otherwise.
  std::string engine = "auto";
};

// Everything built and checked from a config before any output is touched.
struct Experiment {
  ExperimentConfig config;
  std::unique_ptr<Problem> problem;
  std::unique_ptr<Mixer> mixer;
  std::unique_ptr<StepRule> rule;
  std::shared_ptr<const Compressor> compressor;  // what workers send (none: uncompressed)
  DriverOptions driver;
  StepSize step;
  double rho_t = 0;  // rho^t, or the measured product deviation for random mixing
  TheoremQuantities theorem;
  Matrix Z0;
  std::string run_name;
  // The resident engine when the config asks for it (null: the host engine). distribute() (MPI)
  // drops it: ranks keep their iterates on the host.
  std::unique_ptr<IterationEngine> engine;
};

// Validates the config and builds every part; throws InputError naming the option.
Experiment build_experiment(const ExperimentConfig& config);
std::string default_run_name(const ExperimentConfig& config);

// Runs it, writing into `writer` when given (attributes, problem instance, metrics, final z̄,
// status). Extra observers (e.g. a progress display) get every logged row too. With a partition
// (a distributed run, core/mpi_backend.hpp), e.Z0 and e.mixer are this process's part.
RunOutcome run_experiment(Experiment& e, RunWriter* writer, const std::vector<Observer*>& extra = {},
                          const WorkerPartition* partition = nullptr);

// Writes every option and derived quantity of the run as attributes (DESIGN.md §4).
void write_run_attributes(const Experiment& e, RunWriter& w);

}  // namespace dposg
