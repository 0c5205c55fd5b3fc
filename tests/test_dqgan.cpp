// ctest-label: integration
// DQGAN (core/dqgan.hpp) and CHOCO gossip (core/compressed_mixer.hpp) against independent loops,
// byte accounting, the compression check's fail-on-purpose, and bad input from the CLI.
#include <catch2/catch.hpp>

#include <H5Cpp.h>

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "cli_harness.hpp"
#include "core/compressed_mixer.hpp"
#include "core/dqgan.hpp"
#include "app/experiment.hpp"
#include "core/recorder.hpp"
#include "theory_checks/verify.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

struct Rows final : Observer {
  std::vector<MetricsRow> rows;
  void on_log(const MetricsRow& r) override { rows.push_back(r); }
};

ExperimentConfig dqgan_config() {
  ExperimentConfig c;
  c.problem.name = "star";
  c.problem.dim = 10;
  c.problem.noise = 0.3;
  c.workers = 4;
  c.topology = "complete";
  c.algorithm = "dqgan";
  c.lr = "0.05";
  c.lr_v = "0.03";
  c.batch = 2;
  c.iters = 200;
  c.log_every = 1;
  c.seed = 3;
  return c;
}

// Keeps the k entries of largest magnitude (ties: lower index), written here from the definition.
Vector hand_top_k(const Vector& x, Index k) {
  std::vector<Index> idx(static_cast<std::size_t>(x.size()));
  std::iota(idx.begin(), idx.end(), Index{0});
  std::stable_sort(idx.begin(), idx.end(), [&](Index a, Index b) { return std::abs(x[a]) > std::abs(x[b]); });
  Vector y = Vector::Zero(x.size());
  for (Index q = 0; q < k; ++q) y[idx[static_cast<std::size_t>(q)]] = x[idx[static_cast<std::size_t>(q)]];
  return y;
}

// Centralized optimistic gradient on the averaged operator, z_{k+1} = z_k - eta (2 ĝ_k - ĝ_{k-1}),
// drawing worker i's operator from the same stream as the engine; `top_k` > 0 compresses each
// worker's operator (plus its error memory) with top-k and error feedback. Returns ||g(z_k)||^2
// for k = 0..N and the final z. With `adam` the server's direction is Adam's (Daskalakis et al.
// 2018): a_k = m̂_k / (sqrt(v̂_k) + eps), z_{k+1} = z_k - eta (2 a_k - a_{k-1}).
std::pair<std::vector<double>, Vector> plain_og(const ExperimentConfig& c, Index top_k, bool adam = false) {
  ProblemOptions po = c.problem;
  po.seed = c.seed;
  po.noise_normals = resolved_noise_normals(c);
  auto p = make_problem(po);
  const Index d = p->dim(), M = c.workers, du = p->dim_u();
  WorkerRngs rngs(c.seed, M);
  Vector z = Vector::Zero(d), g_prev, m = Vector::Zero(d), v = Vector::Zero(d);
  Matrix G, g0, memory = Matrix::Zero(d, M);
  std::vector<double> out;
  auto record = [&] {
    p->exact(Matrix(z), g0);
    out.push_back(g0.squaredNorm());
  };
  record();
  for (std::int64_t k = 1; k <= c.iters; ++k) {
    Matrix Zm = z.replicate(1, M);
    p->sample(Zm, c.batch, rngs, G);
    if (top_k > 0) {
      for (Index i = 0; i < M; ++i) {
        const Vector q = G.col(i) + memory.col(i);
        G.col(i) = hand_top_k(q, top_k);
        memory.col(i) = q - G.col(i);
      }
    }
    Vector g_hat = G.rowwise().mean();
    if (adam) {
      for (Index r = 0; r < d; ++r) {
        m[r] = c.beta1 * m[r] + (1 - c.beta1) * g_hat[r];
        v[r] = c.beta2 * v[r] + (1 - c.beta2) * g_hat[r] * g_hat[r];
        const double m_hat = m[r] / (1 - std::pow(c.beta1, static_cast<double>(k)));
        const double v_hat = v[r] / (1 - std::pow(c.beta2, static_cast<double>(k)));
        g_hat[r] = m_hat / (std::sqrt(v_hat) + c.eps);
      }
    }
    if (k == 1) g_prev = g_hat;
    for (Index r = 0; r < d; ++r) z[r] -= (r < du ? 0.05 : 0.03) * (2 * g_hat[r] - g_prev[r]);
    g_prev = g_hat;
    record();
  }
  return {out, z};
}

double max_rel_diff(const std::vector<MetricsRow>& rows, const std::vector<double>& ref) {
  if (rows.size() != ref.size()) return INFINITY;
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::abs(rows[i].get("grad_norm_sq") - ref[i]) / std::max(ref[i], 1e-300));
  return worst;
}

// Runs c through the engine and checks every logged ||g(z̄_k)||^2 and the final z̄ against the loop.
Vector check_against_loop(const ExperimentConfig& c, Index top_k, bool adam) {
  Experiment e = build_experiment(c);
  Rows obs;
  const RunOutcome out = run_experiment(e, nullptr, {&obs});
  REQUIRE(out.status == RunStatus::finished);
  const auto [ref, z] = plain_og(c, top_k, adam);
  CHECK(max_rel_diff(obs.rows, ref) <= 1e-12);
  CHECK((out.z_bar - z).norm() <= 1e-12 * z.norm());
  return z;
}

}  // namespace

TEST_CASE("dqgan without compression is centralized optimistic gradient on the averaged operator", "[dqgan]") {
  const ExperimentConfig c = dqgan_config();
  Experiment e = build_experiment(c);
  Rows obs;
  const RunOutcome out = run_experiment(e, nullptr, {&obs});
  REQUIRE(out.status == RunStatus::finished);
  const auto [ref, z] = plain_og(c, 0);
  CHECK(max_rel_diff(obs.rows, ref) <= 1e-12);
  CHECK((out.z_bar - z).norm() <= 1e-12 * z.norm());
  // All workers hold the same point.
  for (const auto& r : obs.rows) CHECK(r.get("consensus_error") == 0.0);
}

TEST_CASE("dqgan with top-k and error feedback matches a hand-written loop", "[dqgan]") {
  ExperimentConfig c = dqgan_config();
  c.compressor = "top-k";
  c.compress_k = 3;
  c.error_feedback = true;
  check_against_loop(c, 3, false);
}

TEST_CASE("dqgan with --step-rule oadam is optimistic Adam on the server, with compression and EF", "[dqgan]") {
  ExperimentConfig c = dqgan_config();
  c.step_rule = "oadam";
  c.beta1 = 0.7;
  c.beta2 = 0.95;
  c.eps = 1e-6;
  c.compressor = "top-k";
  c.compress_k = 3;
  c.error_feedback = true;
  const Vector z = check_against_loop(c, 3, true);
  // Not the OMD run: Adam's direction changed the path.
  const auto [omd, z_omd] = plain_og(c, 3, false);
  CHECK((z_omd - z).norm() > 1e-3 * z.norm());
}

TEST_CASE("dqgan with one worker and no compression is OSG", "[dqgan]") {
  ExperimentConfig c = dqgan_config();
  c.workers = 1;
  c.topology = "single";
  Experiment dq = build_experiment(c);
  c.algorithm = "dposg";
  Experiment osg = build_experiment(c);
  Rows a, b;
  run_experiment(dq, nullptr, {&a});
  run_experiment(osg, nullptr, {&b});
  std::vector<double> ref;
  for (const auto& r : b.rows) ref.push_back(r.get("grad_norm_sq"));
  // The same recursion written two ways (z - eta(2g - g') against x - eta g twice): rounding only.
  CHECK(max_rel_diff(a.rows, ref) <= 1e-9);
}

TEST_CASE("dqgan counts the server's broadcast as the busiest node's bytes", "[dqgan]") {
  ExperimentConfig c = dqgan_config();
  c.compressor = "top-k";
  c.compress_ratio = 0.2;
  c.error_feedback = true;
  Experiment e = build_experiment(c);
  Rows obs;
  run_experiment(e, nullptr, {&obs});
  const double d = 10, M = 4;
  // Uplink: k = 2 values of 64 bits + 2 indices of ceil(log2 10) = 4 bits = 17 bytes; downlink:
  // d doubles to each of M workers = 320 bytes. The server is the busiest node.
  CHECK(dqgan_uplink_bytes(*e.compressor) == 17.0);
  CHECK(obs.rows.back().get("bytes_busiest") == c.iters * d * M * 8);
  CHECK(obs.rows.back().get("bytes_uplink") == c.iters * 17.0);
}

TEST_CASE("CHOCO gossip without compression and gamma = 1 is ordinary gossip", "[dqgan][choco]") {
  const Index d = 37, M = 8;
  for (const std::string kind : {"ring", "random-ring", "torus", "complete"}) {
    INFO(kind);
    CompressorOptions none;
    const CompressedGossipMixer choco(MixingSchedule(kind, M, 5), make_compressor(none, d), 1.0, 5);
    const CpuMixer plain(MixingSchedule(kind, M, 5));
    Rng rng(2);
    Matrix X(d, M);
    for (Index i = 0; i < M; ++i) fill_normal(rng, 1.0, X.col(i));
    Matrix Y = X;
    for (std::int64_t k = 1; k <= 6; ++k) {
      choco.mix(X, 3, k);
      plain.mix(Y, kind == "complete" ? 1 : 3, k);
      CHECK((X - Y).norm() <= 1e-12 * Y.norm());
      // A local step between gossip calls, the same for both.
      Matrix step(d, M);
      for (Index i = 0; i < M; ++i) fill_normal(rng, 0.1, step.col(i));
      X += step;
      Y += step;
    }
  }
}

TEST_CASE("CHOCO gossip with a compressor keeps the average and reaches consensus", "[dqgan][choco]") {
  const Index d = 20, M = 8;
  CompressorOptions o;
  o.name = "top-k";
  o.k = 5;
  std::shared_ptr<const Compressor> c = make_compressor(o, d);
  const CompressedGossipMixer choco(MixingSchedule("ring", M, 1), c, 0.2, 1);
  Rng rng(9);
  Matrix X(d, M);
  for (Index i = 0; i < M; ++i) fill_normal(rng, 1.0, X.col(i));
  const Vector mean0 = X.rowwise().mean();
  const double spread0 = (X.colwise() - mean0).squaredNorm();
  for (std::int64_t k = 1; k <= 300; ++k) choco.mix(X, 1, k);
  CHECK((Vector(X.rowwise().mean()) - mean0).norm() <= 1e-12 * mean0.norm());
  CHECK((X.colwise() - mean0).squaredNorm() <= 1e-6 * spread0);
  // bytes: a ring node sends its k = 5 (value, 5-bit index) pairs to 2 neighbours per round.
  CHECK(choco.bytes_busiest_per_iteration(d, 3) == 3 * 2 * 5 * (64 + 5) / 8.0);
}

TEST_CASE("dposg with a compressor runs CHOCO gossip and counts compressed bytes", "[dqgan][choco]") {
  ExperimentConfig c;
  c.problem.dim = 20;
  c.workers = 8;
  c.topology = "ring";
  c.rounds = 2;
  c.iters = 100;
  c.compressor = "sign";
  c.gossip_step = 0.3;
  Experiment e = build_experiment(c);
  Rows obs;
  const RunOutcome out = run_experiment(e, nullptr, {&obs});
  REQUIRE(out.status == RunStatus::finished);
  // sign: 20 bits + a 64-bit scale = 84 bits per message, 2 neighbours, 2 rounds.
  CHECK(obs.rows.back().get("bytes_busiest") == 100 * 2 * 2 * 84 / 8.0);
  CHECK(obs.rows.back().get("grad_norm_sq") < obs.rows.front().get("grad_norm_sq"));
}

TEST_CASE("the compression check passes, and fails when the error-feedback runs go without it", "[dqgan][verify]") {
  auto run = [](bool inject) {
    verify::Options o;
    o.only = {"compression"};
    o.inject.compression_without_error_feedback = inject;
    return verify::run_checks(o);
  };
  auto failed = [](const std::vector<verify::Row>& rows, const std::string& part) {
    for (const auto& r : rows)
      if (r.status == verify::Status::fail && r.claim.find(part) != std::string::npos) return true;
    return false;
  };
  const auto ok = run(false);
  for (const auto& r : ok) CHECK(r.status != verify::Status::fail);
  const auto broken = run(true);
  CHECK(failed(broken, "top-k (ratio 0.25) with error feedback"));
  CHECK(failed(broken, "sign with error feedback"));
}

TEST_CASE("dposg run --algorithm dqgan records its communication options", "[dqgan][cli]") {
  TempDir dir;
  const auto r = run_cli(
      "run --algorithm dqgan --topology complete --compressor top-k --compress-ratio 0.1 --error-feedback "
      "--iters 50 --run-name dq --out r.h5 --quiet",
      dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto reader = ResultsReader::open(dir / "r.h5");
  const auto s = reader->summary("dq");
  auto attr = [&](const std::string& name) -> AttrValue {
    for (const auto& [k, v] : s.attrs)
      if (k == name) return v;
    FAIL("no attribute " << name);
    return {};
  };
  CHECK(std::get<std::string>(attr("algorithm")) == "dqgan");
  CHECK(std::get<std::string>(attr("compressor")) == "top-k");
  CHECK(std::get<std::int64_t>(attr("compress_k")) == 2);  // ceil(0.1 * 20)
  CHECK(std::get<double>(attr("compress_ratio")) == 0.1);
  CHECK(std::get<std::int64_t>(attr("error_feedback")) == 1);
  CHECK(std::get<double>(attr("compressor_delta")) == Approx(0.1));
  CHECK(std::get<double>(attr("bytes_uplink_per_iteration")) == 2 * (64 + 5) / 8.0);
  CHECK(std::get<double>(attr("bytes_per_iteration_busiest")) == 20 * 8 * 8);
  CHECK(reader->metric("dq", "bytes_busiest").back() == 50 * 20 * 8 * 8);
}

TEST_CASE("bad communication options: one line naming the option, exit code 2, no file", "[dqgan][cli]") {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--compressor zip", "--compressor"},
      {"--compressor top-k", "--compress-k"},
      {"--compressor top-k --compress-k 21", "--compress-k"},
      {"--compressor rand-k --compress-ratio 1.5", "--compress-ratio"},
      {"--compressor top-k --compress-ratio -0.2", "--compress-ratio"},
      {"--compressor top-k --compress-k 2 --compress-ratio 0.5", "--compress-k"},
      {"--compressor sign --compress-k 3", "--compress-k"},
      {"--compressor qsgd --qsgd-levels 0", "--qsgd-levels"},
      {"--error-feedback", "--error-feedback"},
      {"--compressor top-k --compress-k 3 --error-feedback", "--error-feedback"},  // dposg: CHOCO has no EF
      {"--algorithm dqgan", "--topology"},                                          // ring: not a parameter server
      {"--algorithm dqgan --topology complete --step-rule extragradient", "--step-rule"},
      {"--algorithm admm", "--algorithm"},
      {"--compressor sign --gossip-step 1.5", "--gossip-step"},
      {"--gossip-step 0.5", "--gossip-step"},
      {"--compressor sign --workers 1 --topology single", "--compressor"},
  };
  for (const auto& [args, needle] : cases) {
    INFO(args);
    const auto r = run_cli("run " + args + " --iters 10 --out out.h5", dir);
    CHECK(r.code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "out.h5"));
  }
}
