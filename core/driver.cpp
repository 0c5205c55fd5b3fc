#include "core/driver.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <exception>
#include <string>
#include <unordered_set>

namespace dposg {

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::running: return "running";
    case RunStatus::finished: return "finished";
    case RunStatus::diverged: return "diverged";
    case RunStatus::failed: return "failed";
    case RunStatus::interrupted: return "interrupted";
  }
  return "failed";
}

namespace {

const WorkerPartition kWholeMatrix;

// The worker average z̄ of all M workers, from this process's columns.
Vector worker_mean(const Matrix& Z, const WorkerPartition& part) {
  Vector z_bar = Z.rowwise().sum();
  part.sum(z_bar.data(), z_bar.size());
  return z_bar / static_cast<double>(part.total_workers(Z.cols()));
}

}  // namespace

void MetricsEvaluator::evaluate(const Matrix& Z, std::int64_t iteration, MetricsRow& row) const {
  const WorkerPartition& part = partition ? *partition : kWholeMatrix;
  const Index M = part.total_workers(Z.cols());
  const Index first = part.first_worker();
  const Vector z_bar = worker_mean(Z, part);
  Matrix zbar_col = z_bar;
  Matrix g_bar, g_workers;
  if (problem.has_exact()) {
    problem.exact(zbar_col, g_bar);
    problem.exact(Z, g_workers);
  } else {
    // Large-batch estimate from a stream of its own, so evaluation never perturbs the run. g(z̄)
    // draws from worker 0's evaluation stream before worker 0's own column does; a process that
    // does not hold worker 0 draws it from a copy, so every process gets the same g(z̄).
    const std::uint64_t eval_seed = derive_seed(seed, StreamPurpose::evaluation, static_cast<std::uint64_t>(iteration));
    WorkerRngs eval_rngs(eval_seed, Z.cols(), first);
    if (first == 0) {
      problem.sample(zbar_col, eval_batch, eval_rngs, g_bar);
    } else {
      WorkerRngs worker0(eval_seed, 1, 0);
      problem.sample(zbar_col, eval_batch, worker0, g_bar);
    }
    problem.sample(Z, eval_batch, eval_rngs, g_workers);
  }
  const Vector gb = g_bar.col(0);
  const Index d = gb.size();
  // Sums over workers: sum_i g(z^i), sum_i ||z^i - z̄||^2, sum_i ||g(z^i) - g(z̄)||.
  Vector sums(d + 2);
  sums.head(d) = g_workers.rowwise().sum();
  sums[d] = (Z.colwise() - z_bar).squaredNorm();
  sums[d + 1] = (g_workers.colwise() - gb).colwise().norm().sum();
  part.sum(sums.data(), sums.size());
  const double m = static_cast<double>(M);
  row.iteration = iteration;
  row.set("grad_norm_sq", gb.squaredNorm());
  row.set("consensus_error", sums[d] / m);
  // Lemma 3's mu_k = (1/M) sum_i ||g(z^i) - g(z̄)||.
  row.set("grad_dispersion", sums[d + 1] / m);
  // Lemma 1's ||(1/M) g(Z_k) 1 - g(z̄_k)||^2.
  row.set("grad_avg_gap_sq", (sums.head(d) / m - gb).squaredNorm());
  const auto x_star = problem.constants().x_star;
  row.set("dist_to_solution", x_star ? (z_bar - *x_star).norm() : std::nan(""));
  row.set("z_bar_norm", z_bar.norm());
  Rng extra_rng = make_rng(seed, StreamPurpose::evaluation, static_cast<std::uint64_t>(iteration) ^ 0xE7);
  problem.extra_metrics(z_bar, extra_rng, row);
  const auto names = problem.worker_metric_names();
  if (eval_workers > 0 && !names.empty()) {
    // Each process scores the picked workers it holds into their slots; the sum over processes
    // gathers all of them. Worker i's stream depends on i alone, not on who holds it.
    const Index K = std::min(eval_workers, M), n = static_cast<Index>(names.size());
    Vector slots = Vector::Zero(K * n);
    for (Index k = 0; k < K; ++k) {
      const Index i = k * M / K;
      if (i < first || i >= first + Z.cols()) continue;
      Rng rng = make_rng(seed, StreamPurpose::evaluation, (static_cast<std::uint64_t>(iteration) << 20) ^ (0xB0 + static_cast<std::uint64_t>(i)));
      slots.segment(k * n, n) = problem.worker_metrics(Z.col(i - first), rng);
    }
    part.sum(slots.data(), slots.size());
    for (Index m = 0; m < n; ++m) {
      const auto values = Eigen::Map<const Vector, 0, Eigen::InnerStride<>>(slots.data() + m, K, Eigen::InnerStride<>(n));
      row.set(names[static_cast<std::size_t>(m)] + "_min", values.minCoeff());
      row.set(names[static_cast<std::size_t>(m)] + "_max", values.maxCoeff());
    }
  }
}

void save_oracle_state(StateArchive& a, std::int64_t calls, const WorkerRngs& rngs, Index first_worker) {
  a.put_integer("oracle/calls", calls);
  a.put_integer("oracle/key_rounds", static_cast<std::int64_t>(rngs.key_rounds()));
  for (Index i = 0; i < rngs.size(); ++i) a.put_rng("oracle/rng/" + std::to_string(first_worker + i), rngs[i]);
}

std::int64_t load_oracle_state(const StateArchive& a, WorkerRngs& rngs, Index first_worker) {
  for (Index i = 0; i < rngs.size(); ++i) a.get_rng("oracle/rng/" + std::to_string(first_worker + i), rngs[i]);
  // Absent from checkpoints written before the counter-based keys: no round had been drawn.
  rngs.set_key_rounds(a.has("oracle/key_rounds") ? static_cast<std::uint64_t>(a.integer("oracle/key_rounds")) : 0);
  return a.integer("oracle/calls");
}

namespace {

const char* arithmetic_of(const std::string& arithmetic) {
  return arithmetic == "device" ? "the resident engine on a GPU" : "the host engine (or the resident engine's CPU twin)";
}

}  // namespace

void put_arithmetic(StateArchive& a, const std::string& arithmetic) { a.put_text("engine/arithmetic", arithmetic); }

void require_arithmetic(const StateArchive& a, const std::string& arithmetic) {
  const std::string was = a.has("engine/arithmetic") ? a.text("engine/arithmetic") : "host";
  if (was == arithmetic) return;
  throw CheckpointError(std::string("checkpoint: written by ") + arithmetic_of(was) + ", continued by " +
                        arithmetic_of(arithmetic) + "; a run continues bit for bit only on the arithmetic it "
                        "started on: resume it with the options it was started with");
}

namespace {

// The iterates as host matrices, through the Mixer, the StepRule and the problem's oracle.
class HostEngine final : public IterationEngine {
 public:
  HostEngine(const Problem& problem, const Mixer& mixer, StepRule& rule, const DriverOptions& opts, Index first_worker,
             Index local_workers)
      : mixer_(mixer),
        rule_(rule),
        opts_(opts),
        oracle_(problem, opts.batch, opts.seed, local_workers, first_worker) {}
  void init(const Matrix& Z0) override {
    Z_ = Z0;
    X_ = Z0;
    rule_.init(Z_, X_, oracle_);
  }
  void iterate(std::int64_t k) override {
    if (opts_.overlap) {
      X_local_ = X_;
      X_prev_ = X_;
      // The overlapped step runs inside mix_while: its time counts as communication here.
      const auto start = std::chrono::steady_clock::now();
      mixer_.mix_while(X_, opts_.rounds, k, [&] { rule_.step(Z_, X_local_, oracle_); });
      comm_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      X_ += X_local_ - X_prev_;
    } else {
      const auto start = std::chrono::steady_clock::now();
      mixer_.mix(X_, opts_.rounds, k);
      comm_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rule_.step(Z_, X_, oracle_);
    }
  }
  double comm_seconds() const override { return comm_ + rule_.comm_seconds(); }
  const Matrix& z() override { return Z_; }
  const Matrix& x() override { return X_; }
  std::int64_t oracle_calls() const override { return oracle_.calls(); }
  // X_local_ and X_prev_ are copies of X_ made in every overlapped iteration.
  bool checkpointable() const override { return rule_.checkpointable() && mixer_.checkpointable(); }
  void save_state(StateArchive& a) const override {
    put_arithmetic(a, "host");
    a.put("engine/z", Z_);
    a.put("engine/x", X_);
    a.put_real("engine/comm_s", comm_);
    oracle_.save_state(a);
    rule_.save_state(a);
    mixer_.save_state(a, "mixer/");
  }
  void load_state(const StateArchive& a) override {
    require_arithmetic(a, "host");
    a.restore("engine/z", Z_);
    a.restore("engine/x", X_);
    comm_ = a.real("engine/comm_s");
    oracle_.load_state(a);
    rule_.load_state(a);
    mixer_.load_state(a, "mixer/");
  }

 private:
  const Mixer& mixer_;
  StepRule& rule_;
  const DriverOptions& opts_;
  // Columns are workers first_worker ..., so each draws from its own stream wherever it lives.
  ProblemOracle oracle_;
  Matrix Z_, X_;
  Matrix X_local_, X_prev_;  // overlap: X_{k-1} stepped locally, and X_{k-1} itself
  double comm_ = 0.0;
};

class StopWatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

RunOutcome run_driver(const Problem& problem, const Mixer& mixer, StepRule& rule, const DriverOptions& opts,
                      const Matrix& Z0, const std::vector<Observer*>& observers,
                      const WorkerPartition* partition, IterationEngine* given_engine) {
  const StopWatch clock;
  RunOutcome out;
  const WorkerPartition& part = partition ? *partition : kWholeMatrix;
  const Index d = Z0.rows();
  const Index M = part.total_workers(Z0.cols());
  const MetricsEvaluator evaluator{problem, opts.eval_batch, opts.seed, &part, opts.eval_workers};
  // The mixer's and the rule's busiest nodes are added: exact when only one of them communicates
  // (every combination build_experiment makes), an upper bound otherwise. A mixer that counts
  // what it sends itself (a distributed one) reports its own cumulative figure.
  const double mixer_bytes_per_iter = mixer.bytes_busiest_per_iteration(d, opts.rounds);
  const double rule_bytes_per_iter = rule.bytes_busiest_per_iteration(d, M);
  HostEngine host(problem, mixer, rule, opts, part.first_worker(), Z0.cols());
  IterationEngine& engine = given_engine ? *given_engine : host;

  double eval_seconds = 0.0;  // spent in evaluate(), so that timings can leave it out
  double wall_before = 0.0;   // a resumed run's wall time before its checkpoint
  auto wall = [&] { return wall_before + clock.seconds(); };
  // A logged metric that is Inf, or NaN after it was finite, is divergence (as NaN/Inf iterates
  // are): NaN alone is how a metric says "not available" (dist_to_solution without a known
  // solution), so NaN from the first row on is not. Returns the metric's name, "" if none.
  std::unordered_set<std::string> finite_before;
  auto non_finite_metric = [&](const MetricsRow& row) -> std::string {
    std::string bad;
    for (const auto& [name, v] : row.values) {
      if (std::isfinite(v)) finite_before.insert(name);
      else if (bad.empty() && (std::isinf(v) || finite_before.count(name))) bad = name;
    }
    // Every process must take the same decision (the next collective call would otherwise hang).
    double flag = bad.empty() ? 0.0 : 1.0;
    part.sum(&flag, 1);
    return flag == 0.0 ? std::string() : bad.empty() ? std::string("(on another process)") : bad;
  };
  std::string diverged_metric;
  auto log_row = [&](std::int64_t k) {
    MetricsRow row;
    const double eval_start = wall();
    evaluator.evaluate(engine.z(), k, row);
    eval_seconds += wall() - eval_start;
    const double iterations = static_cast<double>(k);
    row.set("bytes_busiest", mixer.bytes_busiest_sent().value_or(mixer_bytes_per_iter * iterations) +
                                 rule.bytes_busiest_sent().value_or(rule_bytes_per_iter * iterations));
    if (const auto up = rule.worker_bytes_per_iteration()) row.set("bytes_uplink", *up * iterations);
    row.set("oracle_calls", static_cast<double>(engine.oracle_calls()));
    row.set("wall_time_s", wall());
    row.set("eval_time_s", eval_seconds);
    // DGDA-VR's split: time in the exchange (MPI) or the mixer (simulator), and the rest of the
    // iterations' time, evaluations left out.
    const double comm = engine.comm_seconds();
    row.set("comm_time_s", comm);
    row.set("compute_time_s", row.get("wall_time_s") - eval_seconds - comm);
    out.last = row;
    for (auto* o : observers) o->on_log(row);
    diverged_metric = non_finite_metric(row);
    return diverged_metric.empty();
  };
  auto metric_diverged = [&](std::int64_t k) {
    out.status = RunStatus::diverged;
    out.message = "NaN or Inf in the metric " + diverged_metric + " at iteration " + std::to_string(k);
  };
  // Every process must take the same decision (the next collective call would otherwise hang).
  auto finite = [&]() {
    double bad = (engine.z().allFinite() && engine.x().allFinite()) ? 0.0 : 1.0;
    part.sum(&bad, 1);
    return bad == 0.0;
  };

  // Checkpoints: the driver's own state beside the engine's. Every process takes the same decision
  // (a checkpoint or a stop on one rank alone would leave the others in a collective call).
  CheckpointSink* const sink = opts.checkpoints;
  double last_checkpoint = 0.0;
  auto save_checkpoint = [&](std::int64_t k) {
    StateArchive a;
    a.put_integer("driver/iteration", k);
    a.put_real("driver/wall_time_s", wall());
    a.put_real("driver/eval_time_s", eval_seconds);
    std::string finite;
    for (const auto& name : finite_before) finite += name + "\n";
    a.put_text("driver/finite_metrics", finite);
    engine.save_state(a);
    sink->save(k, a);
    last_checkpoint = clock.seconds();
  };
  // 0: go on; 1: a checkpoint; 2: a checkpoint and stop.
  auto checkpoint_due = [&](std::int64_t k) {
    if (!sink || k == opts.iters) return 0;
    double flags[2] = {stop_signal() != 0 ? 1.0 : 0.0,
                       (opts.checkpoint_every > 0 && k % opts.checkpoint_every == 0) ||
                               (opts.checkpoint_seconds > 0 && clock.seconds() - last_checkpoint >= opts.checkpoint_seconds)
                           ? 1.0
                           : 0.0};
    if (part.distributed()) part.sum(flags, 2);
    return flags[0] > 0 ? 2 : flags[1] > 0 ? 1 : 0;
  };

  try {
    if (sink && !engine.checkpointable())
      throw std::logic_error("checkpoints were asked of a run whose engine, rule or mixer cannot be checkpointed");
    engine.init(Z0);
    std::int64_t k0 = 0;
    if (opts.resume_from) {
      const StateArchive& from = *opts.resume_from;
      engine.load_state(from);
      k0 = from.integer("driver/iteration");
      wall_before = from.real("driver/wall_time_s");
      eval_seconds = from.real("driver/eval_time_s");
      const std::string& finite = from.text("driver/finite_metrics");
      for (std::size_t at = 0, end; (end = finite.find('\n', at)) != std::string::npos; at = end + 1)
        finite_before.insert(finite.substr(at, end - at));
      out.iterations_done = k0;
    } else if (!log_row(0)) {
      metric_diverged(0);
    }
    for (std::int64_t k = k0 + 1; k <= opts.iters && out.status == RunStatus::running; ++k) {
      engine.iterate(k);
      out.iterations_done = k;
      const bool log_now = (k % opts.log_every == 0) || k == opts.iters;
      if ((log_now || k % 64 == 0) && !finite()) {
        out.status = RunStatus::diverged;
        out.message = "NaN or Inf in the iterates at iteration " + std::to_string(k);
        break;
      }
      if (log_now && !log_row(k)) {
        metric_diverged(k);
        break;
      }
      if (const int due = checkpoint_due(k)) {
        save_checkpoint(k);
        if (due == 2) {
          out.status = RunStatus::interrupted;
          out.stop_signal = stop_signal();
          out.message = std::string("interrupted by ") + (out.stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
                        " at iteration " + std::to_string(k) + " (checkpoint written; dposg resume continues it)";
        }
      }
    }
    if (out.status == RunStatus::running) out.status = RunStatus::finished;
  } catch (const std::exception& e) {
    out.status = RunStatus::failed;
    out.message = e.what();
  }
  if (out.status != RunStatus::failed || !part.distributed()) {
    try {
      out.z_bar = worker_mean(engine.z(), part);
    } catch (const std::exception& e) {
      out.status = RunStatus::failed;
      out.message = e.what();
    }
  }
  if (out.z_bar.size() > 0 && out.z_bar.allFinite()) {
    try {
      Rng final_rng = make_rng(opts.seed, StreamPurpose::evaluation, 0xF17A1ULL);
      problem.final_outputs(out.z_bar, final_rng, out.final_outputs);
    } catch (const std::exception& e) {
      out.final_outputs.clear();
      if (out.message.empty()) out.message = std::string("final outputs: ") + e.what();
    }
  }
  for (auto* o : observers) o->on_finish(out);
  return out;
}

}  // namespace dposg
