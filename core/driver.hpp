#pragma once
// The one driver: N iterations of  X <- X W^t (Mixer), then the StepRule's local update, with
// metrics every log_every iterations handed to observers (Recorder, progress display). The same
// driver runs synthetic problems and GANs: it knows nothing about either.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/checkpoint.hpp"
#include "core/metrics.hpp"
#include "core/mixer.hpp"
#include "core/problem.hpp"
#include "core/step_rule.hpp"

namespace dposg {

// interrupted: stopped by SIGTERM or SIGINT after a last checkpoint (`dposg resume` continues it).
enum class RunStatus { running, finished, diverged, failed, interrupted };
const char* to_string(RunStatus s);

struct DriverOptions {
  int rounds = 2;               // t, gossip rounds per iteration
  std::int64_t iters = 1000;    // N
  Index batch = 1;              // m, minibatch per worker
  std::int64_t log_every = 10;
  std::uint64_t seed = 0;
  // Samples per worker for the large-batch estimate of g(z̄) where the problem has no exact operator.
  Index eval_batch = 4096;
  // > 0: Problem::worker_metrics of K workers spread over the ring (worker floor(k M / K), k < K),
  // reported as <name>_min / <name>_max at every logged iteration.
  Index eval_workers = 0;
  // false: Algorithm 1, X_k = rule(X_{k-1} W^t). true: the overlapped variant of the paper's
  // implementation (Sec. 5.1), whose averaging does not wait for the gradient nor the gradient for
  // the averaging: X_k = X_{k-1} W^t + (rule(X_{k-1}) - X_{k-1}), the rule's step taken at the
  // un-averaged local point while the Mixer averages (Mixer::mix_while). For OSG:
  //   Z_k = X_{k-1} - eta g(Z_{k-1}),  X_k = X_{k-1} W^t - eta g(Z_k)
  // (D-PSGD's form x_{k+1} = W x_k - eta g(x_k), applied to DPOSG). Theorem 1 does not cover it.
  bool overlap = false;
  // Checkpoints (core/checkpoint.hpp), handed to `checkpoints` (null: none): every
  // checkpoint_every iterations (0: not by count), after checkpoint_seconds of wall time since the
  // last one (0: not by time), and at the first iteration after a stop was requested (SIGTERM,
  // SIGINT), which ends the run `interrupted`. Without a sink a stop request is not looked at.
  CheckpointSink* checkpoints = nullptr;
  std::int64_t checkpoint_every = 0;
  double checkpoint_seconds = 0.0;
  // The state of a checkpoint to continue from (null: start at iteration 0). Iteration k's state
  // continues with iteration k + 1, and the rows logged up to k are not logged again.
  const StateArchive* resume_from = nullptr;
};

struct RunOutcome {
  RunStatus status = RunStatus::running;
  std::int64_t iterations_done = 0;
  MetricsRow last;
  Vector z_bar;  // empty when a distributed run failed (no collective call after a failure)
  std::vector<std::pair<std::string, Matrix>> final_outputs;  // Problem::final_outputs at z_bar
  std::string message;  // why it diverged, failed or was interrupted
  int stop_signal = 0;  // interrupted: the signal
};

// Where the worker columns live. The simulator holds all M of them in one matrix (this default);
// a distributed backend (core/mpi_backend.hpp) holds a contiguous block [first, first + local) per
// process and adds up partial sums across processes here, so the driver and the metrics are the
// same code for both.
class WorkerPartition {
 public:
  virtual ~WorkerPartition() = default;
  // Global index of this process's first column.
  virtual Index first_worker() const { return 0; }
  // M, given the number of columns held here.
  virtual Index total_workers(Index local) const { return local; }
  // True when other processes hold columns: after a failure here no collective call is made (the
  // others may be elsewhere or gone), so the run ends without z̄.
  virtual bool distributed() const { return false; }
  // v <- the element-wise sum of v over all processes (each gets the same result). Collective: every
  // process calls it at the same points.
  virtual void sum(double* /*v*/, Index /*n*/) const {}
};

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_log(const MetricsRow&) {}
  virtual void on_finish(const RunOutcome&) {}
};

// The workers' streams and the call count of an oracle under oracle/ (oracle/calls, and
// oracle/rng/<i> for worker i = first_worker + local column): the keys of every engine's
// checkpoint, wherever its streams live (ProblemOracle, the resident engine's device arrays).
void save_oracle_state(StateArchive& a, std::int64_t calls, const WorkerRngs& rngs, Index first_worker);
// The call count; the streams are restored into `rngs`.
std::int64_t load_oracle_state(const StateArchive& a, WorkerRngs& rngs, Index first_worker);

// Draws g(z; xi) for every column from the workers' own streams, counting calls.
class ProblemOracle final : public Oracle {
 public:
  ProblemOracle(const Problem& p, Index batch, std::uint64_t seed, Index workers, Index first_worker = 0)
      : problem_(p), batch_(batch), first_worker_(first_worker), rngs_(seed, workers, first_worker) {}
  void operator()(const Matrix& Z, Matrix& G) override {
    ++calls_;
    problem_.sample(Z, batch_, rngs_, G);
  }
  std::int64_t calls() const override { return calls_; }
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a) const override { save_oracle_state(a, calls_, rngs_, first_worker_); }
  void load_state(const StateArchive& a) override { calls_ = load_oracle_state(a, rngs_, first_worker_); }
  // Both points draw from copies of the same stream state: a problem's samples do not depend on
  // the point they are taken at, so A and B see the same samples.
  void same_samples(const Matrix& A, const Matrix& B, Matrix& GA, Matrix& GB) override {
    calls_ += 2;
    WorkerRngs copy = rngs_;
    problem_.sample(A, batch_, rngs_, GA);
    problem_.sample(B, batch_, copy, GB);
  }
  void with_batch(const Matrix& Z, Index batch, Matrix& G) override {
    ++calls_;
    problem_.sample(Z, batch, rngs_, G);
  }

 private:
  const Problem& problem_;
  Index batch_;
  Index first_worker_;
  WorkerRngs rngs_;
  std::int64_t calls_ = 0;
};

// Where the workers' iterates live between iterations and what one iteration does to them. The
// default (run_driver's, when given none) keeps Z and X as host matrices and runs the Mixer, the
// StepRule and the problem's oracle on them: every backend but one. A resident engine
// (gan/cuda/resident_engine.hpp) keeps them on a GPU, runs the same mixing and step there, and copies
// them to the host only when the driver reads z() or x() (logging and divergence checks).
class IterationEngine {
 public:
  virtual ~IterationEngine() = default;
  // Z = X = Z0, then the rule's init (OSG's first operator call).
  virtual void init(const Matrix& Z0) = 0;
  // Iteration k >= 1: mixing, then the step.
  virtual void iterate(std::int64_t k) = 0;
  // This process's columns of Z and X on the host (valid until the next call).
  virtual const Matrix& z() = 0;
  virtual const Matrix& x() = 0;
  virtual std::int64_t oracle_calls() const = 0;
  // Seconds spent communicating so far (the Mixer's calls); an engine that cannot tell them apart
  // from its computation says 0.
  virtual double comm_seconds() const { return 0.0; }
  // Checkpoints: everything iterate() depends on (iterates, the rule's and mixer's state, the
  // streams), saved after an iteration and restored after init. An engine that does not override
  // these cannot be checkpointed.
  virtual bool checkpointable() const { return false; }
  virtual void save_state(StateArchive&) const {}
  virtual void load_state(const StateArchive&) {}
};

// Which arithmetic a checkpoint's state came from, under engine/arithmetic: "host" (the host
// engine's Eigen, and the resident engine's CPU twin, which is the same code) or "device" (the
// resident engine's device arrays: a GPU's kernels, with their own rounding). A run continues bit
// for bit only on the arithmetic it was checkpointed on, so require_arithmetic refuses another's
// in one line (CheckpointError); a checkpoint without the key is the host engine's.
void put_arithmetic(StateArchive& a, const std::string& arithmetic);
void require_arithmetic(const StateArchive& a, const std::string& arithmetic);

// Metrics of DESIGN.md §3 for the worker matrix Z (everything but bytes and wall time). With a
// distributed partition Z holds this process's columns and the sums over workers are reduced.
struct MetricsEvaluator {
  const Problem& problem;
  Index eval_batch = 4096;
  std::uint64_t seed = 0;
  const WorkerPartition* partition = nullptr;  // null: Z holds every worker
  Index eval_workers = 0;                      // DriverOptions::eval_workers
  // True when grad_norm_sq is exact; false when it is a large-batch estimate.
  bool exact() const { return problem.has_exact(); }
  void evaluate(const Matrix& Z, std::int64_t iteration, MetricsRow& row) const;
};

// Z0: the workers' starting points, all M of them, or this process's block under `partition`.
// `engine`: where the iterates live (null: host matrices through mixer, rule and the problem).
RunOutcome run_driver(const Problem& problem, const Mixer& mixer, StepRule& rule, const DriverOptions& opts,
                      const Matrix& Z0, const std::vector<Observer*>& observers,
                      const WorkerPartition* partition = nullptr, IterationEngine* engine = nullptr);

}  // namespace dposg
