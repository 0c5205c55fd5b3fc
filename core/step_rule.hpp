#pragma once
// StepRule: the local update of every worker after gossip (DESIGN.md §2). Rules hold their
// hyperparameters and per-run state; the driver owns the loop, the mixing and the metrics.
//
// Every rule sees X already mixed (X <- X_{k-1} W^t) and writes the new Z_k and X_k (under
// DriverOptions::overlap it sees X_{k-1} itself and the driver adds the averaging's change). Z is the
// point whose metrics are reported (for OSG the paper's z_k; for extragradient the extrapolated
// point; for GDA the iterate itself).
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace dposg {

class StateArchive;  // core/checkpoint.hpp

// A fresh stochastic operator for every column of Z, each call with new samples.
class Oracle {
 public:
  virtual ~Oracle() = default;
  virtual void operator()(const Matrix& Z, Matrix& G) = 0;
  virtual std::int64_t calls() const = 0;
  // The variance-reduced estimators (STORM, SPIDER: core/gradient_tracking.hpp) need the operator
  // at two points on one draw of samples, and a larger batch now and then. An oracle that cannot
  // give them says so when asked; the rules of one-call-per-point methods never ask.
  virtual void same_samples(const Matrix& A, const Matrix& B, Matrix& GA, Matrix& GB) {
    (void)A, (void)B, (void)GA, (void)GB;
    throw std::logic_error("this oracle cannot evaluate two points on the same samples");
  }
  virtual void with_batch(const Matrix& Z, Index batch, Matrix& G) {
    (void)Z, (void)batch, (void)G;
    throw std::logic_error("this oracle cannot change its batch");
  }
  // Checkpoints, as StepRule's: the streams' positions and the call count. An oracle that does not
  // override these cannot be checkpointed.
  virtual bool checkpointable() const { return false; }
  virtual void save_state(StateArchive&) const {}
  virtual void load_state(const StateArchive&) {}
};

// Step sizes: eta_u for the first dim_u rows (min player u), eta_v for the rest (max player v).
struct StepSize {
  double eta_u = 0.01;
  double eta_v = 0.01;
  Index dim_u = 0;
};

struct StepRuleOptions {
  std::string name = "osg";
  StepSize step;
  double beta1 = 0.5;  // oadam
  double beta2 = 0.9;  // oadam
  double eps = 1e-8;   // oadam
};

class StepRule {
 public:
  virtual ~StepRule() = default;
  virtual std::string name() const = 0;
  virtual int oracle_calls_per_iteration() const = 0;
  // Called once with Z = X = the initial point.
  virtual void init(Matrix& Z, Matrix& X, Oracle& oracle) = 0;
  // One iteration; X holds X_{k-1} W^t on entry (X_{k-1} under DriverOptions::overlap).
  virtual void step(Matrix& Z, Matrix& X, Oracle& oracle) = 0;
  // Bytes the busiest node sends per iteration for the rule's own communication (a parameter
  // server's; core/dqgan.hpp), on top of the mixer's gossip. Local rules send nothing.
  virtual double bytes_busiest_per_iteration(Index d, Index workers) const {
    (void)d;
    (void)workers;
    return 0.0;
  }
  // Bytes one worker sends per iteration where that differs from the busiest node's figure (a
  // parameter server's workers: their compressed uplink). Logged as bytes_uplink when given.
  virtual std::optional<double> worker_bytes_per_iteration() const { return std::nullopt; }
  // Cumulative bytes the busiest node has sent for the rule's own communication, for a rule whose
  // messages vary from iteration to iteration (a tracker that starts unmixed); nullopt: iterations x
  // bytes_busiest_per_iteration.
  virtual std::optional<double> bytes_busiest_sent() const { return std::nullopt; }
  // Seconds the rule has spent in its own communication so far (0: it has none).
  virtual double comm_seconds() const { return 0.0; }
  // Checkpoints (core/checkpoint.hpp): a rule that can be checkpointed says so, saves its per-run
  // state after an iteration and restores it after init on a run of the same options, so that the
  // run continues bit for bit. A rule that does not override these cannot be checkpointed.
  virtual bool checkpointable() const { return false; }
  virtual void save_state(StateArchive&) const {}
  virtual void load_state(const StateArchive&) {}
};

// A handle to a d x M worker array of an ArrayOps (core/array_ops.hpp).
using Array = int;
class ArrayOps;

// A step rule written once against ArrayOps, so that the host engine (through StepRule) and the
// resident engine (core/array_ops.hpp, ArrayEngine) run the same arithmetic. Its state (previous
// operator, Adam's moments and direction) lives in arrays it allocates in init.
class StepProgram {
 public:
  virtual ~StepProgram() = default;
  virtual std::string name() const = 0;
  virtual int oracle_calls_per_iteration() const = 0;
  // Z = X = the initial point.
  virtual void init(ArrayOps& a, Array Z, Array X) = 0;
  // X holds X_{k-1} W^t on entry (X_{k-1} under DriverOptions::overlap), as StepRule::step.
  virtual void step(ArrayOps& a, Array Z, Array X) = 0;
  // The state arrays by name, valid after init: what a test compares against the recurrence.
  virtual std::vector<std::pair<std::string, Array>> state() const = 0;
  // Its scalar state by name (Adam's step count), for checkpoints.
  virtual std::vector<std::pair<std::string, std::int64_t*>> counters() { return {}; }
};

// osg | oadam | extragradient | gda, validated (InputError naming the option).
std::unique_ptr<StepProgram> make_step_program(const StepRuleOptions& opts);
// The program of make_step_program on the caller's host matrices.
std::unique_ptr<StepRule> make_step_rule(const StepRuleOptions& opts);
std::vector<std::string> step_rule_names();

// Adam (Kingma & Ba) on n contiguous entries after its count-th gradient g:
//   m <- beta1 m + (1 - beta1) g,  v <- beta2 v + (1 - beta2) g^2,
//   dir = m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1^count), v_hat = v / (1 - beta2^count),
// in one pass over memory (L1-sized chunks), no temporaries. m and v start at zero. Shared by the
// OAdam workers and DQGAN's OAdam server (core/dqgan.cpp).
struct AdamParams {
  double beta1, beta2, eps;
};
void adam_update(const double* g, double* m, double* v, double* dir, Index n, std::int64_t count, const AdamParams& p);

// out = base - eta * dir, with eta_u on the u rows and eta_v on the v rows.
void apply_step(const Matrix& base, const StepSize& step, const Matrix& dir, Matrix& out);

}  // namespace dposg
