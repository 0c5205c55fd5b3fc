#pragma once
// The step rules (core/step_rule.cpp, StepProgram) and the mixing over one ArrayOps backend against
// plain loops of their recurrences written here (Ceres's dense_cholesky_test: one check, instantiated
// per backend; llm.c's adamw check: the optimizer state is compared, not only the iterates). Shared by
// test_array_backends (host double, host float twin) and test_array_backends_cuda (the GPU).
//
// Both sides evaluate the same operator, a tiny GAN's g on minibatches drawn from the workers' own
// streams (seed, worker): the loop through Problem::sample, the backend through its own path (the
// oracle on the host, the staged minibatches and the device's operator on the GPU).
#include <omp.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "cli_harness.hpp"
#include "core/array_ops.hpp"
#include "core/mixer.hpp"
#include "core/problem.hpp"
#include "core/rng.hpp"
#include "core/step_rule.hpp"
#include "gan/cuda/resident_engine.hpp"
#include "gan_test_support.hpp"
#include "kept_checkpoints.hpp"

namespace dposg::test {

// Backends: where the operator runs, the arrays, and the largest relative column error allowed against
// the loop (0: bit for bit).
// The arrays every backend but a test's own device runs on.
struct ResidentArrays {
  static std::unique_ptr<ArrayOps> arrays(const Problem& p, const MixingSchedule& s, const DriverOptions& o) {
    return gan::cuda::make_resident_arrays(p, s, o);
  }
};

struct HostDouble : ResidentArrays {
  static constexpr const char* device = "cpu";
  static constexpr double tol = 0.0;
  // CpuMixer sums each x_i over the nonzero W_ij (the complete W: the row mean, summed, then / M), the
  // loop as sum_j W_ij x_j: the same terms, a few roundings apart.
  static constexpr double tol_mix = 1e-15;
};
// The resident engine's CPU twin (--device cpu-float): the host arrays with the float operator.
struct HostFloatTwin : ResidentArrays {
  static constexpr const char* device = "cpu-float";
  static constexpr double tol = 0.0;
  static constexpr double tol_mix = 1e-15;
};
// The GPU's arrays (DeviceArrays over CudaResidentDevice). The step and Adam kernels may contract
// base - eta dir into a fused multiply-add (nvcc's default), so Z differs from the loop's by an ulp of
// double; rounded to float for the operator that can move an entry of float(z) by one float ulp,
// and G by float rounding (~1e-7 of a column). Over the few iterations here that stays below the
// 1e-4 the suite allows the float operator itself (gan/README.md); Adam's direction and moments are
// ratios and squares of G, so the same bound holds for them column by column.
struct Cuda : ResidentArrays {
  static constexpr const char* device = "cuda";
  static constexpr double tol = 1e-4;
  // cuBLAS Dgemm adds the M terms in its own order, with fused multiply-adds.
  static constexpr double tol_mix = 1e-14;
};

inline std::unique_ptr<gan::GanProblem> tiny_gan(const std::string& device) {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_width = 8;
  o.gan_depth = 1;
  o.gan_latent = 2;
  o.device = device;
  return make_gan(o);
}

// max_i ||A_i - B_i|| / ||B_i||, exactly 0 where the columns are equal.
inline double column_error(const Matrix& A, const Matrix& B) {
  REQUIRE(A.rows() == B.rows());
  REQUIRE(A.cols() == B.cols());
  double worst = 0.0;
  for (Index i = 0; i < B.cols(); ++i) {
    const double diff = (A.col(i) - B.col(i)).norm();
    if (diff == 0.0) continue;
    worst = std::max(worst, diff / std::max(B.col(i).norm(), 1e-300));
  }
  return worst;
}

inline void check_close(const std::string& what, const Matrix& got, const Matrix& want, double tol) {
  const double err = column_error(got, want);
  INFO(what << ": relative column error " << err << " (allowed " << tol << ")");
  if (tol == 0.0) {
    CHECK(got == want);
  } else {
    CHECK(err <= tol);
  }
}

// The recurrences of core/step_rule.hpp written out: Algorithm 1 (osg), optimistic Adam, extragradient
// and GDA, on d x M matrices, element by element.
struct Recurrence {
  const Problem& problem;
  StepRuleOptions rule;
  Index batch;
  WorkerRngs rngs;
  std::map<std::string, Matrix> state;
  std::int64_t count = 0;

  Recurrence(const Problem& p, StepRuleOptions r, Index b, std::uint64_t seed, Index M)
      : problem(p), rule(std::move(r)), batch(b), rngs(seed, M, 0) {}

  Matrix op(const Matrix& Z) {
    Matrix G;
    problem.sample(Z, batch, rngs, G);
    return G;
  }
  Matrix stepped(const Matrix& base, const Matrix& dir) const {
    Matrix out(base.rows(), base.cols());
    for (Index i = 0; i < base.cols(); ++i)
      for (Index r = 0; r < base.rows(); ++r)
        out(r, i) = base(r, i) - (r < rule.step.dim_u ? rule.step.eta_u : rule.step.eta_v) * dir(r, i);
    return out;
  }
  // Kingma & Ba, bias-corrected, count = how many gradients so far.
  void adam(const Matrix& g) {
    ++count;
    Matrix& m = state["m"];
    Matrix& v = state["v"];
    Matrix& dir = state["dir_prev"];
    const double c1 = 1.0 - std::pow(rule.beta1, static_cast<double>(count));
    const double c2 = 1.0 - std::pow(rule.beta2, static_cast<double>(count));
    for (Index k = 0; k < g.size(); ++k) {
      m(k) = rule.beta1 * m(k) + (1.0 - rule.beta1) * g(k);
      v(k) = rule.beta2 * v(k) + (1.0 - rule.beta2) * (g(k) * g(k));
      dir(k) = (m(k) / c1) / (std::sqrt(v(k) / c2) + rule.eps);
    }
    state["g"] = g;
  }
  void init(const Matrix& Z) {
    if (rule.name == "osg") state["g_prev"] = op(Z);
    if (rule.name == "oadam") {
      state["m"] = state["v"] = state["dir_prev"] = Matrix::Zero(Z.rows(), Z.cols());
      adam(op(Z));
    }
  }
  void step(Matrix& Z, Matrix& X) {
    if (rule.name == "osg") {
      Z = stepped(X, state["g_prev"]);
      state["g_prev"] = op(Z);
      X = stepped(X, state["g_prev"]);
    } else if (rule.name == "oadam") {
      Z = stepped(X, state["dir_prev"]);
      adam(op(Z));
      X = stepped(X, state["dir_prev"]);
    } else if (rule.name == "extragradient") {
      const Matrix g_x = op(X);
      Z = stepped(X, g_x);
      state["g"] = op(Z);
      X = stepped(X, state["g"]);
    } else if (rule.name == "gda") {
      state["g"] = op(X);
      X = stepped(X, state["g"]);
      Z = X;
    } else {
      FAIL("no recurrence for " << rule.name);
    }
  }
};

// A few iterations of `rule` (no mixing: check_mixing covers it) on backend B's arrays, against the
// loop: Z, X and every state array the rule names, after init and after each iteration.
template <class B>
void check_rule(const std::string& name) {
  const auto problem = tiny_gan(B::device);
  const Index M = 3, batch = 8;
  const std::uint64_t seed = 11;
  StepRuleOptions rule;
  rule.name = name;
  rule.step = {0.05, 0.02, problem->dim_u()};  // eta_u != eta_v: the row split is checked
  rule.beta1 = 0.5;
  rule.beta2 = 0.9;
  rule.eps = 1e-8;
  DriverOptions opts;
  opts.batch = batch;
  opts.seed = seed;
  const MixingSchedule schedule("ring", M, seed);
  auto ops = B::arrays(*problem, schedule, opts);
  auto program = make_step_program(rule);
  REQUIRE(program->name() == name);

  Matrix Z = worker_points(*problem, M, 5), X = Z;
  const Array z = ops->allocate(), x = ops->allocate();
  ops->assign(z, Z);
  ops->assign(x, X);
  program->init(*ops, z, x);
  Recurrence loop(*problem, rule, batch, seed, M);
  loop.init(Z);

  auto compare = [&](int k) {
    Matrix buffer;
    INFO(B::device << " " << name << " after iteration " << k);
    check_close("Z", ops->read(z, buffer), Z, B::tol);
    check_close("X", ops->read(x, buffer), X, B::tol);
    for (const auto& [what, a] : program->state()) {
      if (!loop.state.count(what)) continue;  // allocated before its first value (extragradient's g at init)
      check_close(what, ops->read(a, buffer), loop.state.at(what), B::tol);
    }
  };
  compare(0);
  const int iters = 4;
  for (int k = 1; k <= iters; ++k) {
    program->step(*ops, z, x);
    loop.step(Z, X);
    compare(k);
  }
  // Every state array the rule keeps has its counterpart in the loop.
  for (const auto& [what, a] : program->state()) CHECK(loop.state.count(what) == 1);
  CHECK(ops->evaluations() == 1 * (name == "osg" || name == "oadam") + iters * program->oracle_calls_per_iteration());
  CHECK((Z - worker_points(*problem, M, 5)).norm() > 0.0);  // it moved
}

// X <- X W_{k,1} ... W_{k,t} on backend B's arrays against x_i = sum_j W_ij x_j with W built here
// (ring, complete: by hand; random-ring: the schedule's draw of each round, multiplied here).
template <class B>
void check_mixing(const std::string& topology, Index M = 5) {
  const auto problem = tiny_gan(B::device);
  const int rounds = 3;
  DriverOptions opts;
  opts.batch = 4;
  opts.seed = 2;
  const MixingSchedule schedule(topology, M, 9);
  auto ops = B::arrays(*problem, schedule, opts);
  Matrix X = worker_points(*problem, M, 3);
  const Array x = ops->allocate();
  ops->assign(x, X);

  auto dense_W = [&](std::int64_t k, int r) {
    Matrix W = Matrix::Zero(M, M);
    if (topology == "ring") {
      for (Index i = 0; i < M; ++i)
        for (Index j : {i, (i + 1) % M, (i + M - 1) % M}) W(i, j) = 1.0 / 3.0;
    } else if (topology == "complete") {
      W.setConstant(1.0 / static_cast<double>(M));
    } else {
      W = schedule.at(k, r).dense();
    }
    return W;
  };
  for (std::int64_t k = 1; k <= 3; ++k) {
    ops->mix(x, rounds, k);
    const int applied = topology == "complete" ? 1 : rounds;  // W = 11^T/M: one round is exact consensus
    for (int r = 0; r < applied; ++r) {
      const Matrix W = dense_W(k, r);
      Matrix Y = Matrix::Zero(X.rows(), M);
      for (Index i = 0; i < M; ++i)
        for (Index j = 0; j < M; ++j)
          if (W(i, j) != 0.0)
            for (Index row = 0; row < X.rows(); ++row) Y(row, i) += W(i, j) * X(row, j);
      X = Y;
    }
    Matrix buffer;
    INFO(B::device << " " << topology << " M = " << M << " iteration " << k);
    check_close("X", ops->read(x, buffer), X, B::tol_mix);
  }
}

// A small run of the driver on backend B's arrays (ArrayEngine), or with device = false on the host
// engine: the same problem, rule, schedule and start.
template <class B>
struct EngineRun {
  std::unique_ptr<gan::GanProblem> problem = tiny_gan(B::device);
  StepRuleOptions rule;
  DriverOptions opts;
  MixingSchedule schedule;
  Matrix Z0;
  EngineRun(const std::string& rule_name, const std::string& topology, bool overlap)
      : schedule(topology, 4, 7), Z0(worker_points(*problem, 4, 5)) {
    rule.name = rule_name;
    rule.step = {0.05, 0.02, problem->dim_u()};
    opts.rounds = 2;
    opts.iters = 12;
    opts.batch = 8;
    opts.log_every = 6;  // each row costs the problem's quality metrics, 2500 samples each
    opts.seed = 5;
    opts.eval_batch = 32;
    opts.overlap = overlap;
  }
  RunOutcome run(const DriverOptions& o, LoggedRows& rows, bool device = true) const {
    const CpuMixer mixer(schedule);
    auto host_rule = make_step_rule(rule);
    std::unique_ptr<IterationEngine> engine;
    if (device) engine = std::make_unique<ArrayEngine>(B::arrays(*problem, schedule, o), make_step_program(rule), o.rounds, o.overlap);
    // One thread: on a loaded machine OpenMP's spinning workers make these small runs ten times slower.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    RunOutcome out = run_driver(*problem, mixer, *host_rule, o, Z0, {&rows}, nullptr, engine.get());
    omp_set_num_threads(threads);
    return out;
  }
  // The checkpoints of the run left to finish, every `every` iterations.
  KeptCheckpoints checkpointed(std::int64_t every, bool device = true) const {
    KeptCheckpoints kept;
    DriverOptions o = opts;
    o.checkpoints = &kept;
    o.checkpoint_every = every;
    LoggedRows rows;
    REQUIRE(run(o, rows, device).status == RunStatus::finished);
    return kept;
  }
};

// Checkpointed after iteration 5 and continued by a fresh engine on fresh arrays (a fresh device):
// the rows after 5 and z̄ of the run left alone, bit for bit.
template <class B>
void check_resume(const std::string& rule, const std::string& topology, bool overlap) {
  const EngineRun<B> r(rule, topology, overlap);
  LoggedRows whole;
  const RunOutcome alone = r.run(r.opts, whole);
  REQUIRE(alone.status == RunStatus::finished);
  // k = 5 falls between logged rows (0, 6, 12): the continuation owes nothing to a logging read.
  const auto kept = r.checkpointed(5);
  REQUIRE(kept.at.count(5));
  // Through the file, as dposg resume reads it.
  TempDir dir;
  kept.at.at(5).write_file(dir / "r.ckpt");
  const StateArchive state = StateArchive::read_file(dir / "r.ckpt");
  CHECK(state.text("engine/arithmetic") == "device");
  if (rule != "extragradient") CHECK(state.integer("oracle/calls") == 1 + 5);  // init's call, then one per iteration
  DriverOptions o = r.opts;
  o.resume_from = &state;
  LoggedRows resumed;
  const RunOutcome continued = r.run(o, resumed);
  INFO(continued.message);
  REQUIRE(continued.status == RunStatus::finished);
  CHECK(continued.iterations_done == r.opts.iters);
  require_rows_after(5, whole.rows, resumed.rows);
  CHECK(same_bits(continued.z_bar, alone.z_bar));
  // It moved after the checkpoint: the comparison is of something.
  CHECK((alone.z_bar - state.matrix("engine/z").rowwise().mean()).norm() > 0.0);
}

// Device backend B's checkpoint is refused by the host engine, and the host engine's by B's, each
// with one line naming both.
template <class B>
void check_arithmetic_refused() {
  EngineRun<B> r("oadam", "ring", false);
  r.opts.iters = 6;  // checkpointed at 5
  auto refused = [&](const StateArchive& state, bool device, const std::string& says) {
    DriverOptions o = r.opts;
    o.resume_from = &state;
    LoggedRows rows;
    const RunOutcome out = r.run(o, rows, device);
    CHECK(out.status == RunStatus::failed);
    CHECK(out.message.find(says) != std::string::npos);
    CHECK(out.message.find("resume it with the options it was started with") != std::string::npos);
    CHECK(out.message.find('\n') == std::string::npos);
    CHECK(rows.rows.empty());
  };
  refused(r.checkpointed(5, true).at.at(5), false,
          "written by the resident engine on a GPU, continued by the host engine");
  refused(r.checkpointed(5, false).at.at(5), true, "continued by the resident engine on a GPU");
}

}  // namespace dposg::test
