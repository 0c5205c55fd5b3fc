// ctest-label: integration
// The baselines of issue #18 (gt-gda, dm-hsgd, dgda-vr: core/gradient_tracking.hpp; dseg, local-sgda and
// DPOSG with local steps: core/local_steps_mixer.hpp) against plain loops of their recurrences written
// here with a dense W^t, their single-machine special cases, their byte counts, every topology through
// the CLI, and the refusal of options that do not apply.
#include <catch2/catch.hpp>

#include <cmath>

#include "app/experiment.hpp"
#include "cli_harness.hpp"
#include "w_file.hpp"
#include "core/driver.hpp"
#include "core/gradient_tracking.hpp"
#include "core/local_steps_mixer.hpp"
#include "linear_problem.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

constexpr double kEtaU = 0.05, kEtaV = 0.03;
constexpr std::uint64_t kSeed = 7;
constexpr Index kBatch = 2;

// The ring of M > 2 workers, 1/3 to itself and each neighbour, raised to t, written from the definition.
Matrix ring_w(Index M, int t) {
  Matrix W = Matrix::Zero(M, M);
  for (Index i = 0; i < M; ++i) {
    W(i, i) += 1.0 / 3;
    W(i, (i + 1) % M) += 1.0 / 3;
    W(i, (i + M - 1) % M) += 1.0 / 3;
  }
  Matrix P = Matrix::Identity(M, M);
  for (int r = 0; r < t; ++r) P = P * W;
  return P;
}

// z - eta g with eta_u on the u rows, eta_v on the v rows.
Matrix descend(const Matrix& z, const Matrix& g, Index du) {
  Matrix out = z;
  out.topRows(du) -= kEtaU * g.topRows(du);
  out.bottomRows(z.rows() - du) -= kEtaV * g.bottomRows(z.rows() - du);
  return out;
}

Matrix spread_start(Index d, Index M) {
  Rng rng = make_rng(11, StreamPurpose::init);
  Matrix Z0(d, M);
  std::normal_distribution<double> nd;
  for (Index i = 0; i < Z0.size(); ++i) Z0.data()[i] = nd(rng);
  return Z0;
}

// g(Z) for every column on `batch` samples, worker i from rngs[i]: what the engine's oracle draws.
Matrix draw(const Problem& p, const Matrix& Z, Index batch, WorkerRngs& rngs) {
  Matrix G;
  p.sample(Z, batch, rngs, G);
  return G;
}

GradientTrackingOptions tracking(const std::string& name, int rounds, const Problem& p) {
  GradientTrackingOptions o;
  o.algorithm = name;
  o.step = StepSize{kEtaU, kEtaV, p.dim_u()};
  o.rounds = rounds;
  o.momentum = 0.3;
  o.large_batch = 16;
  o.period = 4;
  return o;
}

// Runs a rule for N iterations the way the host engine does: the driver's mixer, then the step.
Matrix run_rule(StepRule& rule, const Mixer& driver_mixer, const Problem& p, const Matrix& Z0, int rounds, int N) {
  ProblemOracle oracle(p, kBatch, kSeed, Z0.cols());
  Matrix Z = Z0, X = Z0;
  rule.init(Z, X, oracle);
  for (int k = 1; k <= N; ++k) {
    driver_mixer.mix(X, rounds, k);
    rule.step(Z, X, oracle);
  }
  return X;
}

// The tracking recurrences of core/gradient_tracking.hpp, in the reference code's order.
Matrix tracking_loop(const GradientTrackingOptions& o, const Problem& p, const Matrix& Z0, const Matrix& Wt, int N) {
  WorkerRngs rngs(kSeed, Z0.cols());
  const Index du = p.dim_u();
  Matrix z = Z0;
  Matrix v = draw(p, z, o.algorithm == "gt-gda" ? kBatch : o.large_batch, rngs);
  Matrix y = v;
  for (int k = 1; k <= N; ++k) {
    const Matrix z_old = z;
    z = descend(z_old * Wt, y, du);
    Matrix v_new;
    if (o.algorithm == "gt-gda") {
      v_new = draw(p, z, kBatch, rngs);
    } else if (o.algorithm == "dgda-vr" && k % o.period == 0) {
      v_new = draw(p, z, o.large_batch, rngs);
    } else {
      WorkerRngs same = rngs;
      const Matrix g = draw(p, z, kBatch, rngs);
      const Matrix g_old = draw(p, z_old, kBatch, same);
      v_new = o.algorithm == "dm-hsgd" ? Matrix(g + (1 - o.momentum) * (v - g_old)) : Matrix(v + g - g_old);
    }
    y = (y + v_new - v) * Wt;
    v = v_new;
  }
  return z;
}

double max_diff(const Matrix& a, const Matrix& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("gradient tracking: gt-gda, dm-hsgd and dgda-vr equal their recurrences on a ring", "[baselines]") {
  const auto p = dposg::test::bilinear_test_problem(3, 0.5, 2);
  const Index M = 5;
  const Matrix Z0 = spread_start(p.dim(), M);
  for (int rounds : {1, 2}) {
    for (const auto& name : gradient_tracking_names()) {
      INFO(name << " t = " << rounds);
      const auto o = tracking(name, rounds, p);
      auto exchange = std::make_shared<CpuMixer>(MixingSchedule("ring", M, 0));
      auto rule = make_gradient_tracking_rule(o, exchange);
      const SilentMixer silent(exchange->schedule());
      const Matrix engine = run_rule(*rule, silent, p, Z0, rounds, 30);
      const Matrix loop = tracking_loop(o, p, Z0, ring_w(M, rounds), 30);
      CHECK(max_diff(engine, loop) < 1e-10);
      CHECK(engine.cwiseAbs().maxCoeff() > 1e-3);
    }
  }
}

TEST_CASE("gradient tracking: M = 1 is the single-machine method", "[baselines]") {
  const auto p = dposg::test::bilinear_test_problem(3, 0.5, 4);
  const Matrix Z0 = spread_start(p.dim(), 1);
  auto single = std::make_shared<CpuMixer>(MixingSchedule("single", 1, 0));
  const SilentMixer silent(single->schedule());
  const int N = 25;
  // SGDA on one machine: z <- z - eta g(z; xi).
  auto sgda = [&](Index first_batch, Index batch) {
    WorkerRngs rngs(kSeed, 1);
    Matrix z = Z0;
    Matrix g = draw(p, z, first_batch, rngs);
    for (int k = 1; k <= N; ++k) {
      z = descend(z, g, p.dim_u());
      g = draw(p, z, batch, rngs);
    }
    return z;
  };
  auto o = tracking("gt-gda", 1, p);
  CHECK(max_diff(run_rule(*make_gradient_tracking_rule(o, single), silent, p, Z0, 1, N), sgda(kBatch, kBatch)) < 1e-10);
  // STORM with beta = 1 keeps no memory: SGDA after the large first batch.
  o = tracking("dm-hsgd", 1, p);
  o.momentum = 1.0;
  CHECK(max_diff(run_rule(*make_gradient_tracking_rule(o, single), silent, p, Z0, 1, N), sgda(o.large_batch, kBatch)) <
        1e-10);
  // SPIDER refreshed every iteration: large-batch SGDA.
  o = tracking("dgda-vr", 1, p);
  o.period = 1;
  CHECK(max_diff(run_rule(*make_gradient_tracking_rule(o, single), silent, p, Z0, 1, N),
                 sgda(o.large_batch, o.large_batch)) < 1e-10);
  // Noise-free SPIDER is exact: v_k = g(z_k), so dgda-vr is GDA whatever q.
  const auto exact = dposg::test::bilinear_test_problem(3, 0.0, 4);
  o = tracking("dgda-vr", 1, exact);
  WorkerRngs rngs(kSeed, 1);
  Matrix z = Z0;
  for (int k = 1; k <= N; ++k) z = descend(z, draw(exact, z, 1, rngs), exact.dim_u());
  CHECK(max_diff(run_rule(*make_gradient_tracking_rule(o, single), silent, exact, Z0, 1, N), z) < 1e-10);
}

TEST_CASE("gradient tracking: bytes_busiest counts the iterate and the tracker", "[baselines]") {
  const auto p = dposg::test::bilinear_test_problem(3, 0.5, 2);
  const Index M = 6, d = p.dim();
  const int rounds = 2, N = 9;
  auto exchange = std::make_shared<CpuMixer>(MixingSchedule("ring", M, 0));
  auto rule = make_gradient_tracking_rule(tracking("gt-gda", rounds, p), exchange);
  SilentMixer silent(exchange->schedule());
  struct Rows final : Observer {
    std::vector<MetricsRow> rows;
    void on_log(const MetricsRow& r) override { rows.push_back(r); }
  } rows;
  DriverOptions opts;
  opts.rounds = rounds;
  opts.iters = N;
  opts.batch = kBatch;
  opts.log_every = 1;
  run_driver(p, silent, *rule, opts, spread_start(d, M), {&rows});
  REQUIRE(rows.rows.size() == N + 1);
  // Per round each node sends its vector to 2 ring neighbours: d doubles on the first iteration
  // (y_0 is not mixed), 2d afterwards.
  const double per_d = 2.0 * rounds * 8.0 * static_cast<double>(d);
  CHECK(rows.rows.back().get("bytes_busiest") == Approx(per_d + 2 * per_d * (N - 1)));
  CHECK(rows.rows[1].get("bytes_busiest") == Approx(per_d));
}

TEST_CASE("local steps: local-sgda, dseg and dposg gossip every H iterations", "[baselines]") {
  const auto p = dposg::test::bilinear_test_problem(3, 0.5, 3);
  const Index M = 4;
  const int rounds = 2, N = 20;
  const Matrix Z0 = spread_start(p.dim(), M);
  const Matrix Wt = ring_w(M, rounds);
  const Index du = p.dim_u();
  for (std::int64_t H : {1, 3}) {
    for (std::string rule_name : {"gda", "extragradient", "osg"}) {
      INFO(rule_name << " H = " << H);
      StepRuleOptions so;
      so.name = rule_name;
      so.step = StepSize{kEtaU, kEtaV, du};
      auto rule = make_step_rule(so);
      LocalStepsMixer mixer(std::make_unique<CpuMixer>(MixingSchedule("ring", M, 0)), H);
      const Matrix engine = run_rule(*rule, mixer, p, Z0, rounds, N);
      WorkerRngs rngs(kSeed, M);
      Matrix x = Z0;
      Matrix g_prev = rule_name == "osg" ? draw(p, x, kBatch, rngs) : Matrix();
      for (int k = 1; k <= N; ++k) {
        if ((k - 1) % H == 0) x = x * Wt;
        if (rule_name == "gda") {
          x = descend(x, draw(p, x, kBatch, rngs), du);
        } else if (rule_name == "extragradient") {
          const Matrix half = descend(x, draw(p, x, kBatch, rngs), du);
          x = descend(x, draw(p, half, kBatch, rngs), du);
        } else {
          const Matrix z = descend(x, g_prev, du);
          g_prev = draw(p, z, kBatch, rngs);
          x = descend(x, g_prev, du);
        }
      }
      CHECK(max_diff(engine, x) < 1e-10);
    }
  }
}

TEST_CASE("local steps: one worker is the single-machine method whatever H", "[baselines]") {
  const auto p = dposg::test::bilinear_test_problem(2, 0.5, 5);
  const Matrix Z0 = spread_start(p.dim(), 1);
  StepRuleOptions so;
  so.name = "gda";
  so.step = StepSize{kEtaU, kEtaV, p.dim_u()};
  auto a = make_step_rule(so), b = make_step_rule(so);
  LocalStepsMixer local(std::make_unique<CpuMixer>(MixingSchedule("single", 1, 0)), 4);
  CpuMixer every(MixingSchedule("single", 1, 0));
  CHECK(max_diff(run_rule(*a, local, p, Z0, 1, 17), run_rule(*b, every, p, Z0, 1, 17)) == 0.0);
}

TEST_CASE("baselines: every algorithm runs on every topology from the CLI", "[baselines]") {
  TempDir dir;
  Matrix path = Matrix::Zero(6, 6);
  for (Index i = 0; i + 1 < 6; ++i) path(i, i + 1) = path(i + 1, i) = 1.0 / 3.0;
  for (Index i = 0; i < 6; ++i) path(i, i) = 1.0 - path.row(i).sum();
  test::write_dense_w_file(dir / "w.h5", path);
  for (const std::string algo : {"gt-gda", "dm-hsgd", "dgda-vr", "dseg", "local-sgda"}) {
    for (const auto& topo : topology_names()) {
      const std::string workers = topo == "single" ? "1" : "6";
      const std::string h = (algo == "dseg" || algo == "local-sgda") ? " --local-steps 2" : "";
      // file: a W that is not one of the built-in graphs (a path with Metropolis weights).
      const std::string file = topo == "file" ? " --topology-file " + dir / "w.h5" : "";
      INFO(algo << " on " << topo);
      const auto r = run_cli("run --problem bilinear --dim 6 --noise 0.1 --iters 20 --lr 0.02 --quiet --algorithm " +
                                 algo + h + " --workers " + workers + " --topology " + topo + file +
                                 " --out r.h5 --overwrite",
                             dir);
      CHECK(r.code == 0);
      CHECK(r.err.empty());
    }
  }
}

TEST_CASE("topology-v: every algorithm with a second graph for v; refusals name the option", "[baselines]") {
  TempDir dir;
  for (const std::string algo : {"dposg", "gt-gda", "local-sgda"}) {
    INFO(algo);
    const auto r = run_cli("run --problem bilinear --dim 6 --noise 0.1 --iters 20 --lr 0.02 --quiet --workers 6 "
                           "--topology ring --topology-v one-peer-exponential --algorithm " + algo +
                               " --out r.h5 --overwrite",
                           dir);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
  }
  for (const std::string bad : {"--topology-v file", "--topology-v hypercube", "--topology-v ring --compressor sign"}) {
    INFO(bad);
    const auto r = run_cli("run --problem bilinear --dim 6 --iters 2 --quiet --workers 6 " + bad + " --out r.h5 --overwrite",
                           dir);
    CHECK(r.code == 2);
    CHECK(r.err.find("--topology-v") != std::string::npos);
  }
}

TEST_CASE("baselines: options that do not apply are refused with exit 2", "[baselines]") {
  TempDir dir;
  const std::string base = "run --problem bilinear --dim 4 --iters 5 --quiet --out r.h5 ";
  auto refused = [&](const std::string& args, const std::string& option) {
    INFO(args);
    const auto r = run_cli(base + args, dir);
    CHECK(r.code == 2);
    CHECK(r.err.find(option) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') <= 1);
  };
  refused("--algorithm gt-gda --local-steps 2", "--local-steps");
  refused("--algorithm dqgan --topology complete --local-steps 2", "--local-steps");
  refused("--algorithm dposg --momentum 0.5", "--momentum");
  refused("--algorithm dgda-vr --momentum 0.5", "--momentum");
  refused("--algorithm gt-gda --large-batch 10", "--large-batch");
  refused("--algorithm dm-hsgd --vr-period 3", "--vr-period");
  refused("--algorithm dseg --step-rule oadam", "--step-rule");
  refused("--algorithm local-sgda --step-rule extragradient", "--step-rule");
  refused("--algorithm gt-gda --overlap", "--overlap");
  refused("--algorithm dm-hsgd --compressor top-k --compress-k 1", "--compressor");
  refused("--local-steps 0", "--local-steps");
  refused("--algorithm dposg --local-steps 2 --compressor top-k --compress-k 1", "--local-steps");
  refused("--algorithm nope", "--algorithm");
}

TEST_CASE("time split: comm_time_s is the mixer's (or the tracking rule's) time, compute_time_s the rest", "[baselines]") {
  TempDir dir;
  for (const std::string algo : {"dposg", "gt-gda"}) {
    INFO(algo);
    ExperimentConfig c;
    c.problem.name = "bilinear";
    c.problem.dim = 400;
    c.workers = 16;
    c.iters = 50;
    c.log_every = 10;
    c.algorithm = algo;
    Experiment e = build_experiment(c);
    struct Rows final : Observer {
      std::vector<MetricsRow> rows;
      void on_log(const MetricsRow& r) override { rows.push_back(r); }
    } rows;
    run_experiment(e, nullptr, {&rows});
    const MetricsRow& last = rows.rows.back();
    const double comm = last.get("comm_time_s"), compute = last.get("compute_time_s");
    CHECK(comm > 0.0);
    CHECK(compute > 0.0);
    CHECK(comm + compute + last.get("eval_time_s") == Approx(last.get("wall_time_s")).epsilon(1e-9));
    for (std::size_t i = 1; i < rows.rows.size(); ++i)
      CHECK(rows.rows[i].get("comm_time_s") >= rows.rows[i - 1].get("comm_time_s"));
  }
}
