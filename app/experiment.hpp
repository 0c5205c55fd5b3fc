#pragma once
// One experiment = one run of the driver with everything built from plain options. The CLI,
// sweeps, the verifier and the tests all start runs through here, so an option means the same
// thing everywhere.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "app/problem_catalog.hpp"
#include "core/compressor.hpp"
#include "core/driver.hpp"
#include "core/mixer.hpp"
#include "core/mpi_backend.hpp"
#include "core/recorder.hpp"
#include "core/step_rule.hpp"
#include "core/theorem.hpp"

namespace dposg {

// The config in typed groups, one per part it builds; ExperimentConfig is all of them (its fields
// are spelled flat, as the options are: c.workers, c.step_rule, ...).

// The gossip network: M workers, W and t.
struct NetworkConfig {
  Index workers = 8;
  std::string topology = "ring";
  std::string topology_file;
  double edge_prob = 0.0;     // erdos-renyi's p; 0: 2 ln(M)/M (core/graphs.hpp)
  std::string topology_v;     // the v player's graph (core/player_split_mixer.hpp); empty: --topology
  int rounds = 2;
  int deviation_draws = 200;  // Monte-Carlo draws of E||W_t...W_1 - J|| for random mixing
};

// The local update (core/step_rule.hpp).
struct StepConfig {
  std::string step_rule = "osg";
  std::string lr = "0.05";   // a number, or "theorem" (Theorem 1's eta_max)
  std::string lr_v;          // discriminator (v) step size; empty = same as lr
  double beta1 = 0.5, beta2 = 0.9, eps = 1e-8;
};

// What the driver runs and records: length, minibatch, start, logging.
struct RunConfig {
  std::int64_t iters = 1000;
  Index batch = 1;
  Index total_batch = 0;      // > 0: m = total_batch / workers (the paper holds m*M = 256 fixed)
  std::uint64_t seed = 0;
  // auto (the problem's natural start, natural_init) | zero | random | problem (the problem's own
  // random start, e.g. network weights)
  std::string init = "auto";
  double init_spread = 0.0;   // per-worker spread of a random start (consensus matters from k = 0)
  std::int64_t log_every = 10;
  int threads = 0;            // 0 = OpenMP default
  Index eval_batch = 4096;    // samples per worker for g(z̄) where no exact operator exists
  Index eval_workers = 0;     // > 0: per-worker metrics (GANs: is_classifier_min/max) of this many workers
  std::string metrics;        // --metrics: the metrics the run's file gets, "a,b,c"; empty = every one
  std::string run_name;       // empty = derived from the options
};

// Communication (issue #7; core/compressor.hpp, core/dqgan.hpp, core/compressed_mixer.hpp).
struct CommunicationConfig {
  // dposg (gossip) | dqgan (parameter server, needs --topology complete) | the baselines: gt-gda,
  // dm-hsgd, dgda-vr (core/gradient_tracking.hpp), dseg, local-sgda (core/local_steps_mixer.hpp)
  std::string algorithm = "dposg";
  std::string compressor = "none";  // none | top-k | rand-k | sign | qsgd
  Index compress_k = 0;             // top-k, rand-k: k (or compress_ratio)
  double compress_ratio = 0.0;      // top-k, rand-k: k = ceil(ratio d)
  int qsgd_levels = 4;              // qsgd: s
  bool error_feedback = false;      // dqgan: per-worker error memory
  double gossip_step = 1.0;         // dposg with a compressor: CHOCO's consensus step size gamma
  // The paper's implementation (Sec. 5.1, after Lian et al.) rather than Algorithm 1: the local step
  // runs on the un-averaged X_{k-1} while the averaging is under way (DriverOptions::overlap).
  bool overlap = false;
  // The baselines (issue #18): dposg, dseg and local-sgda gossip every local_steps iterations;
  // dm-hsgd's STORM weight, the large batch of dm-hsgd's and dgda-vr's estimators, dgda-vr's period
  // (defaults: the DGDA-VR reference code's betax, mega_batch, frequency).
  std::int64_t local_steps = 1;
  double momentum = 0.01;
  Index large_batch = 1000;
  std::int64_t vr_period = 32;
  bool compressed() const { return compressor != "none"; }
};

// Where the iterates live between iterations (core/driver.hpp IterationEngine).
struct EngineConfig {
  // auto | host | resident. auto: resident for --device cuda where it runs (gan/cuda/resident_engine.hpp),
  // host otherwise.
  std::string engine = "auto";
};

// From this many workers `--noise-normals auto` (the default of a run) draws ziggurat normals, below
// it std::normal_distribution's (issue #20). Below it every result this project published keeps its
// bits; from it std's mt19937_64 streams would hold 2.5 KB a worker (250 MB at 10^5 workers) and
// its ~15 ns normals would be most of an iteration, where ziggurat's keys are 40 B and 2 ns.
inline constexpr Index kZigguratNormalsFromWorkers = 100000;

struct ExperimentConfig : NetworkConfig, StepConfig, RunConfig, CommunicationConfig, EngineConfig {
  // The problem's choice and its family's options (app/problem_catalog.hpp); a run's normals are
  // chosen by its scale unless given (resolved_noise_normals).
  ProblemOptions problem = [] {
    ProblemOptions p;
    p.noise_normals = "auto";
    return p;
  }();
};

// The MPI ranks a run is distributed over (app/placement.hpp opens them); null where it runs in one
// process.
struct MpiTransport {
  const MpiSession* session = nullptr;
  NetworkEmulation net;
  std::shared_ptr<Exchange> exchange;  // MpiMixer's transport (null: MPI)
};

// Parts that replace what the config would build, applied once everything else is built and checked
// (the verifier's deliberate faults: theory_checks/). The theorem's quantities, rho and the start stay
// those of the config's own parts.
struct PartOverrides {
  // Wraps the built problem (e.g. a decorator that changes its noise); null: none.
  std::function<std::unique_ptr<Problem>(std::unique_ptr<Problem>)> problem;
  // Gossip with this schedule instead of the config's (exact gossip in one process only).
  std::optional<MixingSchedule> schedule;
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
  // --topology-v: the v player's rho and rho_t (rho_t above is then the larger of the two players').
  double rho_v = 0, rho_t_v = 0;
  TheoremQuantities theorem;
  Matrix Z0;
  std::string run_name;
  // The resident engine when the config asks for it (null: the host engine). Never under MPI: ranks
  // keep their iterates on the host.
  std::unique_ptr<IterationEngine> engine;
  // Under MPI, this rank's block of workers (e.Z0 and e.mixer are its part); null in one process.
  std::unique_ptr<WorkerPartition> partition;
  // The metrics written to the file (app/metric_selection.hpp); empty: every one.
  std::vector<std::string> metrics;
};

// Why Theorem 1 says nothing about a run of this config on a problem with these constants, or ""
// when it covers it: the theorem is about Algorithm 1 (exact gossip, the optimistic step, no
// overlap) under Assumption 1 with known L, sigma and G. `dposg run` and notebooks/dposg_results.py
// (theorem1_not_applicable) apply the same rule.
std::string theorem1_not_applicable(const ExperimentConfig& c, const ProblemConstants& k);

// The start a run takes: c.init, with auto replaced by the problem's natural start. What the `init`
// attribute records and what a sweep compares on resume (so files written before auto existed match).
std::string resolved_init(const ExperimentConfig& c);

// The normals a run draws: c.problem.noise_normals, with auto replaced by ziggurat for an
// additive-noise problem of at least kZigguratNormalsFromWorkers workers and by std otherwise.
// What the `noise_normals` attribute records and a sweep compares on resume. InputError for a
// value other than auto, std or ziggurat.
std::string resolved_noise_normals(const ExperimentConfig& c);

// Validates the config and builds every part once; throws InputError naming the option. With a
// transport, the parts are this rank's (InputError when M is not a multiple of the ranks).
Experiment build_experiment(const ExperimentConfig& config, const PartOverrides& overrides = {},
                            const MpiTransport* transport = nullptr);

// Every --algorithm choice, and the step rule a baseline takes (gda, extragradient; "" for dposg, dqgan).
std::vector<std::string> algorithm_names();
std::string baseline_step_rule(const std::string& algorithm);

// The one mixer of a run's communication: exact gossip (in this process, or between MPI ranks over
// the transport's exchange), CHOCO's compressed gossip, or DQGAN's parameter server.
std::unique_ptr<Mixer> make_mixer(MixingSchedule schedule, const CommunicationConfig& c,
                                  std::shared_ptr<const Compressor> compressor, std::uint64_t seed,
                                  const MpiTransport* transport);

// The writer of one run as an observer: every logged row, then final/ and the status. With `lock`,
// every call into the file holds it (a sweep's runs share one file from several threads). A sweep's
// runs write final/z_bar even when it is empty (write_empty_z_bar), as they always have.
class RecorderObserver final : public Observer {
 public:
  explicit RecorderObserver(RunWriter& w, std::mutex* lock = nullptr, bool write_empty_z_bar = false)
      : w_(w), lock_(lock), write_empty_z_bar_(write_empty_z_bar) {}
  void on_log(const MetricsRow& row) override;
  void on_finish(const RunOutcome& out) override;

 private:
  RunWriter& w_;
  std::mutex* lock_;
  bool write_empty_z_bar_;
};

// What a run writes before its first iteration: the run attributes, the problem instance, a flush.
void write_run_start(const Experiment& e, RunWriter& w);
std::string default_run_name(const ExperimentConfig& config);

// Runs it, writing into `writer` when given (attributes, problem instance, metrics, final z̄,
// status). Extra observers (e.g. a progress display) get every logged row too. With a partition
// (a distributed run; default e.partition), e.Z0 and e.mixer are this process's part.
RunOutcome run_experiment(Experiment& e, RunWriter* writer, const std::vector<Observer*>& extra = {},
                          const WorkerPartition* partition = nullptr);

// Writes every option and derived quantity of the run as attributes (DESIGN.md §4).
void write_run_attributes(const Experiment& e, RunWriter& w);

// Why a run of `e` cannot be checkpointed ("" when it can): what --checkpoint-every is refused
// for, and the runs a sweep does not checkpoint.
std::string checkpoints_unsupported(const Experiment& e);

}  // namespace dposg
