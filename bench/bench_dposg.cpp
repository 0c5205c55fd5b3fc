// bench_dposg: gossip (CpuMixer), the OSG step and the full DPOSG iteration against the STREAM
// triad bandwidth measured by the same binary, in the same run, with the same OpenMP threads.
//
//   bench_dposg [google-benchmark flags]          the benchmarks; a summary table at the end
//   bench_dposg --simulate [--workers M] [--dim d] [--rounds t] [--iters N] [--topology T]
//                          [--max-bytes-per-param B]
//                                                  one run of the real driver (run_driver, metrics
//                                                  every --log-every iterations) with the bench
//                                                  game, then peak memory against the model
//
// The STREAM triad always runs first (whatever --benchmark_filter says), so that every ratio in
// the summary comes from the same process. Bytes models: bench_common.hpp.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_common.hpp"
#include "core/counter_normals.hpp"
#include "core/driver.hpp"
#include "core/mixer.hpp"
#include "core/step_rule.hpp"
#include "problems/star.hpp"

using namespace dposg;
using namespace dposg::bench;

namespace {

// ---------------------------------------------------------------------------------------------
// STREAM triad a[i] = b[i] + s * c[i], three arrays of 2^26 doubles (512 MiB each, 1.5 GiB in
// all): far beyond any last-level cache this runs on (the VM reports a 508 MiB L3 for the whole
// host; one CCD of it holds 32 MiB). Static OpenMP schedule, first touch by the same threads.
constexpr Index kTriadN = Index{1} << 26;

struct TriadArrays {
  double* a = nullptr;
  double* b = nullptr;
  double* c = nullptr;
  void allocate() {
    if (a) return;
    a = static_cast<double*>(std::aligned_alloc(64, kTriadN * sizeof(double)));
    b = static_cast<double*>(std::aligned_alloc(64, kTriadN * sizeof(double)));
    c = static_cast<double*>(std::aligned_alloc(64, kTriadN * sizeof(double)));
#pragma omp parallel for schedule(static)
    for (Index i = 0; i < kTriadN; ++i) {
      a[i] = 0.0;
      b[i] = 1.0;
      c[i] = 2.0;
    }
  }
  void release() {
    std::free(a);
    std::free(b);
    std::free(c);
    a = b = c = nullptr;
  }
};
TriadArrays& triad_arrays() {
  static TriadArrays t;
  return t;
}

void BM_stream_triad(benchmark::State& state) {
  TriadArrays& t = triad_arrays();
  t.allocate();
  double* __restrict a = t.a;
  const double* __restrict b = t.b;
  const double* __restrict c = t.c;
  const double s = 3.0;
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (Index i = 0; i < kTriadN; ++i) a[i] = b[i] + s * c[i];
    benchmark::DoNotOptimize(a);
    benchmark::ClobberMemory();
  }
  const double bytes = 3.0 * 8.0 * static_cast<double>(kTriadN);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["bytes_per_iter"] = bytes;
  state.counters["threads"] = omp_get_max_threads();
}

// ---------------------------------------------------------------------------------------------
// Cached state: one X for the mixer benchmarks and one (Z, X, rule) for the iteration benchmarks,
// kept while consecutive benchmarks share (d, M), so pages are faulted in once.

void fill(Matrix& X) {
  const Index d = X.rows(), M = X.cols();
  double* x = X.data();
  // Spread-out workers (consensus is not reached within a benchmark) with values near 1.
  for_each_flat_range(d, M, [&](Index col, Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) x[col * d + r] = 1.0 + 0.01 * static_cast<double>((r * 7 + col * 13) % 101);
  });
}

Matrix& mix_matrix(Index d, Index M) {
  static Matrix X;
  if (X.rows() != d || X.cols() != M) {
    X = Matrix();
    X.resize(d, M);
    fill(X);
  }
  return X;
}

const CpuMixer& mixer_for(const std::string& topology, Index M) {
  // Building a schedule computes W's spectrum (an M x M eigen-solve), so it is done once.
  static std::map<std::pair<std::string, Index>, std::unique_ptr<CpuMixer>> cache;
  auto& slot = cache[{topology, M}];
  if (!slot) slot = std::make_unique<CpuMixer>(MixingSchedule(topology, M, 12345));
  return *slot;
}

struct IterationState {
  Index d = 0, M = 0;
  std::unique_ptr<RotationGame> problem;
  std::unique_ptr<StepRule> rule;
  std::unique_ptr<ProblemOracle> oracle;
  Matrix Z, X;
  std::int64_t k = 0;
};

IterationState& iteration_state(Index d, Index M, const std::string& rule) {
  static IterationState s;
  static std::string s_rule;
  if (s.d != d || s.M != M || s_rule != rule) {
    s = IterationState();  // free the old shape before allocating the new one
    s.d = d;
    s.M = M;
    s_rule = rule;
    s.problem = std::make_unique<RotationGame>(d);
    StepRuleOptions so;
    so.name = rule;
    so.step = {0.05, 0.05, s.problem->dim_u()};
    s.rule = make_step_rule(so);
    s.oracle = std::make_unique<ProblemOracle>(*s.problem, 1, 7, M);
    s.Z.resize(d, M);
    fill(s.Z);
    s.X = s.Z;
    s.rule->init(s.Z, s.X, *s.oracle);
  }
  return s;
}

void set_bytes(benchmark::State& state, double bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * static_cast<double>(state.iterations())));
  state.counters["bytes_per_iter"] = bytes;
}

void BM_mix(benchmark::State& state, std::string topology, Index d, Index M, int t) {
  const CpuMixer& mixer = mixer_for(topology, M);
  Matrix& X = mix_matrix(d, M);
  std::int64_t k = 0;
  mixer.mix(X, t, ++k);  // a first call allocates (buffers, the drawn rounds' W): the steady state is timed
  for (auto _ : state) {
    mixer.mix(X, t, ++k);
    benchmark::ClobberMemory();
  }
  set_bytes(state, mix_bytes(d, M, t, mixer));
  if (const double g = gather_bytes(d, M, t, mixer); g > 0.0) state.counters["gather_bytes_per_iter"] = g;
}

// What a random-ring round can cost at best on this machine, the peer of BM_mix's random-ring
// rows as STREAM's triad is of the fixed graphs': t rounds of out_i = (x_i + x_l + x_r) / 3 over
// rings fixed in advance (no draws, no W rows: two neighbour indices a node), the neighbours'
// columns prefetched 16 nodes ahead, two buffers. Its bytes are random-ring's gather bytes, so the
// two rows' GB/s compare directly: random 160 B columns are latency-bound, not bandwidth-bound.
void BM_random_gather_ceiling(benchmark::State& state, Index d, Index M, int t) {
  std::vector<std::vector<Index>> left(static_cast<std::size_t>(t)), right(static_cast<std::size_t>(t));
  std::mt19937_64 g(11);
  std::vector<Index> perm(static_cast<std::size_t>(M));
  for (int r = 0; r < t; ++r) {
    std::iota(perm.begin(), perm.end(), Index{0});
    std::shuffle(perm.begin(), perm.end(), g);
    auto& L = left[static_cast<std::size_t>(r)];
    auto& R = right[static_cast<std::size_t>(r)];
    L.resize(static_cast<std::size_t>(M));
    R.resize(static_cast<std::size_t>(M));
    for (Index k = 0; k < M; ++k) {
      const auto at = [&](Index q) { return perm[static_cast<std::size_t>((q + M) % M)]; };
      L[static_cast<std::size_t>(at(k))] = at(k - 1);
      R[static_cast<std::size_t>(at(k))] = at(k + 1);
    }
  }
  Matrix& X = mix_matrix(d, M);
  Matrix Y(d, M);
  fill(Y);
  for (auto _ : state) {
    const double* in = X.data();
    double* out = Y.data();
    for (int r = 0; r < t; ++r) {
      const Index* L = left[static_cast<std::size_t>(r)].data();
      const Index* R = right[static_cast<std::size_t>(r)].data();
#pragma omp parallel for schedule(static)
      for (Index i = 0; i < M; ++i) {
        if (i + 16 < M) {
          const char* a = reinterpret_cast<const char*>(in + L[i + 16] * d);
          const char* b = reinterpret_cast<const char*>(in + R[i + 16] * d);
          for (Index c = 0; c < d * static_cast<Index>(sizeof(double)); c += 64) {
            __builtin_prefetch(a + c);
            __builtin_prefetch(b + c);
          }
        }
        const double *x = in + i * d, *l = in + L[i] * d, *rr = in + R[i] * d;
        double* o = out + i * d;
        for (Index k = 0; k < d; ++k) o[k] = (x[k] + l[k] + rr[k]) / 3.0;
      }
      in = out;
      out = out == Y.data() ? X.data() : Y.data();
    }
    benchmark::ClobberMemory();
  }
  set_bytes(state, gather_bytes(d, M, t, mixer_for("random-ring", M)));
}

void BM_step(benchmark::State& state, std::string rule, Index d, Index M) {
  IterationState& s = iteration_state(d, M, rule);
  for (auto _ : state) {
    s.rule->step(s.Z, s.X, *s.oracle);
    benchmark::ClobberMemory();
  }
  set_bytes(state, step_bytes(d, M));
}

// One iteration of the driver's loop: X <- X W^t, then the OSG update (metrics excluded).
void BM_iteration(benchmark::State& state, std::string topology, Index d, Index M, int t) {
  const CpuMixer& mixer = mixer_for(topology, M);
  IterationState& s = iteration_state(d, M, "osg");
  for (auto _ : state) {
    mixer.mix(s.X, t, ++s.k);
    s.rule->step(s.Z, s.X, *s.oracle);
    benchmark::ClobberMemory();
  }
  set_bytes(state, iteration_bytes(d, M, t, mixer));
  if (const double g = gather_bytes(d, M, t, mixer); g > 0.0)
    state.counters["gather_bytes_per_iter"] = g + step_bytes(d, M);
}

// The star game's stochastic operator on M workers (issue #20's problem): Z read, G written (2
// passes), A (d/2 x d/2, dense) applied per column, and d normals per column from each worker's
// own stream when noise > 0. The normals are not memory: counter ns_per_worker gives the cost per
// column in this run, and BM_normals the same draws alone (ns_per_normal).
void BM_star_oracle(benchmark::State& state, Index d, Index M, double noise, std::string normals) {
  problems::SyntheticOptions o;
  o.dim = d;
  o.noise = noise;
  o.noise_normals = normals;
  const problems::StarProblem problem(o);
  ProblemOracle oracle(problem, 1, 7, M);
  Matrix Z(d, M), G(d, M);
  fill(Z);
  fill(G);
  for (auto _ : state) {
    oracle(Z, G);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2.0 * 8.0 * static_cast<double>(d * M));
  state.counters["ns_per_worker"] =
      benchmark::Counter(static_cast<double>(M) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// d normals from each of M worker streams (std::normal_distribution over the workers' own
// mt19937_64 streams, as AdditiveNoiseProblem draws them), on all threads; nothing stored.
void BM_normals(benchmark::State& state, Index d, Index M) {
  WorkerRngs rngs(7, M);
  // Past its first 156 draws a stream holds std's full state (a run at d = 20 gets there in its
  // seventh iteration): the steady state of a long run.
#pragma omp parallel for schedule(static)
  for (Index i = 0; i < M; ++i) rngs[i].discard(LazyMt19937_64::shift_size + 1);
  double sink = 0.0;
  for (auto _ : state) {
#pragma omp parallel for schedule(static) reduction(+ : sink)
    for (Index i = 0; i < M; ++i) {
      std::normal_distribution<double> n(0.0, 0.1);
      for (Index k = 0; k < d; ++k) sink += n(rngs[i]);
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["ns_per_normal"] =
      benchmark::Counter(static_cast<double>(d * M) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The same d normals per worker by --noise-normals ziggurat: each worker's counter-based key of the
// round (WorkerRngs::key) seeds a SplitMix64 stream whose words the ziggurat turns into normals
// (core/counter_normals.hpp), eight workers at a time as AdditiveNoiseProblem::sample draws them
// (`kernel`: the AVX-512 kernel where there is one, or the scalar loop).
void BM_ziggurat_normals(benchmark::State& state, Index d, Index M, ZigguratKernel kernel) {
  WorkerRngs rngs(7, M);
  double sink = 0.0;
  for (auto _ : state) {
    const std::uint64_t round = rngs.begin_key_round();
#pragma omp parallel reduction(+ : sink)
    {
      std::vector<double> columns(static_cast<std::size_t>(8 * d), 0.0);
      std::uint64_t keys[8];
#pragma omp for schedule(static)
      for (Index g = 0; g < M / 8; ++g) {
        for (Index c = 0; c < 8; ++c) keys[c] = rngs.key(8 * g + c, round);
        add_ziggurat_normals_columns(keys, 8, 0.1, columns.data(), d, kernel);
        sink += columns[0];
      }
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["ns_per_normal"] =
      benchmark::Counter(static_cast<double>(d * M) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

struct Shape {
  Index d, M;
};
const std::vector<Shape> kShapes = {{10000, 8}, {10000, 64}, {10000, 1024}, {1000000, 8}, {1000000, 64}};
const std::vector<int> kRounds = {1, 4, 16};
const std::vector<std::string> kTopologies = {"ring", "torus", "exponential", "random-ring", "complete"};

std::string shape_name(Index d, Index M) {
  std::ostringstream s;
  s << "d:" << d << "/M:" << M;
  return s.str();
}

// Start-up of a schedule (issue #20): W, its spectrum and, for random-ring, E||W_2 W_1 - J|| (the
// quantities every run computes before its first iteration). No dense M x M matrix above M = 256.
void BM_schedule_startup(benchmark::State& state, std::string topology, Index M) {
  for (auto _ : state) {
    const MixingSchedule s(topology, M, static_cast<std::uint64_t>(state.iterations()));
    benchmark::DoNotOptimize(s.is_random() ? s.mean_product_deviation(2, 200) : std::pow(s.rho(), 2));
  }
}

void register_all() {
  benchmark::RegisterBenchmark("stream_triad", BM_stream_triad)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const std::string topo : {"ring", "torus", "exponential", "random-ring"})
    for (Index M : {1000, 10000, 100000, 1000000}) {
      benchmark::RegisterBenchmark(("startup/" + topo + "/M:" + std::to_string(M)).c_str(), BM_schedule_startup,
                                   topo, M)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
  // A million workers (issue #20): the iteration against its bytes model at t = 2, and the star
  // game's operator and its normals, the parts of `dposg run --problem star --workers 1000000`.
  {
    constexpr Index kBigM = 1000000, kBigD = 20;
    for (const std::string topo : {"ring", "torus", "exponential", "random-ring"}) {
      benchmark::RegisterBenchmark(("mix/" + topo + "/" + shape_name(kBigD, kBigM) + "/t:2").c_str(), BM_mix, topo,
                                   kBigD, kBigM, 2)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("iter/osg/" + topo + "/" + shape_name(kBigD, kBigM) + "/t:2").c_str(),
                                   BM_iteration, topo, kBigD, kBigM, 2)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("gather_ceiling/random-ring/" + shape_name(kBigD, kBigM) + "/t:2").c_str(),
                                 BM_random_gather_ceiling, kBigD, kBigM, 2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    for (const double noise : {0.0, 0.1})
      benchmark::RegisterBenchmark(
          ("oracle/star/" + shape_name(kBigD, kBigM) + "/noise:" + (noise > 0 ? "0.1" : "0")).c_str(), BM_star_oracle,
          kBigD, kBigM, noise, std::string("std"))
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("oracle/star/" + shape_name(kBigD, kBigM) + "/noise:0.1/ziggurat").c_str(),
                                 BM_star_oracle, kBigD, kBigM, 0.1, std::string("ziggurat"))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    for (const auto& [label, kernel] : {std::pair<std::string, ZigguratKernel>{"ziggurat", ZigguratKernel::best},
                                        {"ziggurat-scalar", ZigguratKernel::scalar}})
      benchmark::RegisterBenchmark(("normals/" + label + "/" + shape_name(kBigD, kBigM)).c_str(), BM_ziggurat_normals,
                                   kBigD, kBigM, kernel)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(16);
    // 16 calls: every stream twists its state once in 312 draws (~12 calls at d = 20).
    benchmark::RegisterBenchmark(("normals/" + shape_name(kBigD, kBigM)).c_str(), BM_normals, kBigD, kBigM)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(16);
  }
  // Shapes outermost, so that the cached matrices are built once per shape.
  for (const auto& [d, M] : kShapes) {
    for (const auto& topo : kTopologies)
      for (int t : kRounds) {
        const std::string name = "mix/" + topo + "/" + shape_name(d, M) + "/t:" + std::to_string(t);
        benchmark::RegisterBenchmark(name.c_str(), BM_mix, topo, d, M, t)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    benchmark::RegisterBenchmark(("step/osg/" + shape_name(d, M)).c_str(), BM_step, std::string("osg"), d, M)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    for (const auto& topo : kTopologies)
      for (int t : kRounds) {
        const std::string name = "iter/osg/" + topo + "/" + shape_name(d, M) + "/t:" + std::to_string(t);
        benchmark::RegisterBenchmark(name.c_str(), BM_iteration, topo, d, M, t)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    // OAdam's step for comparison (its bytes model is not OSG's; only the time is of interest).
    benchmark::RegisterBenchmark(("step/oadam/" + shape_name(d, M)).c_str(), BM_step, std::string("oadam"), d, M)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

// ---------------------------------------------------------------------------------------------
// Reporter: adds GB/s and the ratio to the STREAM triad of this run to every row, and keeps the
// rows for the summary table printed at the end.

struct Row {
  std::string name;
  double seconds = 0.0;  // per iteration
  double bytes = 0.0;    // per iteration, bytes model
  double gbs = 0.0;
  double ratio = 0.0;
  double gather_ratio = 0.0;  // by gather_bytes, where the mix takes whole columns
};

class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  bool ReportContext(const Context& context) override {
    if (context_done_) return true;
    context_done_ = true;
    return ConsoleReporter::ReportContext(context);
  }
  void ReportRuns(const std::vector<Run>& reports) override {
    std::vector<Run> out = reports;
    for (Run& r : out) {
      if (r.error_occurred) continue;
      // With --benchmark_repetitions the summary takes each benchmark's median.
      const bool aggregate = r.run_type == Run::RT_Aggregate;
      if (aggregate ? r.aggregate_name != "median" : r.repetitions > 1) continue;
      const double seconds = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      const auto it = r.counters.find("bytes_per_iter");
      if (it == r.counters.end() || !(seconds > 0.0)) continue;
      Row row;
      row.name = r.benchmark_name();
      if (const auto p = row.name.find("/real_time"); p != std::string::npos) row.name.erase(p, 10);
      if (aggregate) row.name.erase(row.name.size() - r.aggregate_name.size() - 1);
      row.seconds = seconds;
      row.bytes = it->second.value;
      row.gbs = row.bytes / seconds / 1e9;
      if (row.name.rfind("stream_triad", 0) == 0) triad_gbs_ = row.gbs;
      row.ratio = triad_gbs_ > 0.0 ? row.gbs / triad_gbs_ : 0.0;
      r.counters["GB/s"] = benchmark::Counter(row.gbs);
      if (row.ratio > 0.0) r.counters["triad_ratio"] = benchmark::Counter(row.ratio);
      r.counters.erase("bytes_per_iter");
      if (const auto g = r.counters.find("gather_bytes_per_iter"); g != r.counters.end()) {
        if (triad_gbs_ > 0.0) row.gather_ratio = g->second.value / seconds / 1e9 / triad_gbs_;
        r.counters.erase(g);
        if (row.gather_ratio > 0.0) r.counters["gather_ratio"] = benchmark::Counter(row.gather_ratio);
      }
      rows_.push_back(row);
    }
    ConsoleReporter::ReportRuns(out);
  }
  void Finalize() override {}

  double triad_gbs() const { return triad_gbs_; }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  bool context_done_ = false;
  double triad_gbs_ = 0.0;
  std::vector<Row> rows_;
};

// Markdown table: time per iteration, GB/s by the bytes model, ratio to the triad, and for
// benchmarks with a t, the time relative to the same benchmark at t = 1; for whole-column mixes, the
// ratio again by gather_bytes.
std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "n/a";
  char buf[64] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  if (!ok) return "n/a";
  std::string s(buf);
  return s.substr(0, s.find(' '));
}

void print_summary(const RatioReporter& rep, const std::string& load_start) {
  const std::regex t_re("/t:([0-9]+)$");
  std::map<std::string, double> t1_time;
  for (const Row& r : rep.rows()) {
    std::smatch m;
    if (std::regex_search(r.name, m, t_re) && m[1] == "1") t1_time[std::regex_replace(r.name, t_re, "")] = r.seconds;
  }
  std::printf("\n## Summary (ratios measured in this run; STREAM triad %.2f GB/s, %d OpenMP threads;\n"
              "## 1-minute load average %s at the start, %s at the end)\n\n",
              rep.triad_gbs(), omp_get_max_threads(), load_start.c_str(), load_average().c_str());
  std::printf("| benchmark | time/iter (ms) | GB/s (bytes model) | / triad | time / time(t=1) | / triad, every neighbour's column read |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rep.rows()) {
    std::smatch m;
    std::string rel = "";
    if (std::regex_search(r.name, m, t_re)) {
      const auto it = t1_time.find(std::regex_replace(r.name, t_re, ""));
      if (it != t1_time.end()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", r.seconds / it->second);
        rel = buf;
      }
    }
    char gather[32] = "";
    if (r.gather_ratio > 0.0) std::snprintf(gather, sizeof gather, "%.2f", r.gather_ratio);
    std::printf("| %s | %.3f | %.2f | %.2f | %s | %s |\n", r.name.c_str(), r.seconds * 1e3, r.gbs, r.ratio, rel.c_str(),
                gather);
  }
}

// ---------------------------------------------------------------------------------------------
// --simulate: the real driver (run_driver, as `dposg run` uses it, without the HDF5 recorder) on
// the bench game, then the process's peak resident memory against the model.

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int simulate(int argc, char** argv) {
  Index M = 1024, d = 10000;
  int t = 1;
  std::int64_t iters = 50, log_every = 10;
  std::string topology = "ring";
  double max_bytes_per_param = 0.0;  // > 0: exit 1 when the peak RSS growth per worker per parameter exceeds it
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + ": missing value");
      return argv[++i];
    };
    if (a == "--simulate") continue;
    if (a == "--workers") M = std::stol(next());
    else if (a == "--dim") d = std::stol(next());
    else if (a == "--rounds") t = std::stoi(next());
    else if (a == "--iters") iters = std::stol(next());
    else if (a == "--log-every") log_every = std::stol(next());
    else if (a == "--topology") topology = next();
    else if (a == "--max-bytes-per-param") max_bytes_per_param = std::stod(next());
    else {
      std::cerr << "bench_dposg --simulate: unknown option " << a << "\n";
      return 2;
    }
  }
  const long rss_start = peak_rss_kib();
  const RotationGame problem(d);
  CpuMixer mixer(MixingSchedule(topology, M, 1));
  StepRuleOptions so;
  so.step = {0.05, 0.05, problem.dim_u()};
  auto rule = make_step_rule(so);
  DriverOptions o;
  o.rounds = t;
  o.iters = iters;
  o.log_every = log_every;
  const Matrix Z0 = Matrix::Zero(problem.dim(), M);  // held by the caller for the run, as in `dposg run`
  const auto start = std::chrono::steady_clock::now();
  const RunOutcome out = run_driver(problem, mixer, *rule, o, Z0, {});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long rss_peak = peak_rss_kib();
  const double mat_mib = 8.0 * static_cast<double>(d * M) / (1024.0 * 1024.0);
  std::printf("simulate: %s, d = %ld, M = %ld, t = %d, %ld iterations (metrics every %ld), status %s\n",
              topology.c_str(), static_cast<long>(d), static_cast<long>(M), t, static_cast<long>(iters),
              static_cast<long>(log_every), to_string(out.status));
  std::printf("  wall %.3f s, %.3f ms per iteration (metrics included)\n", secs, secs / static_cast<double>(iters) * 1e3);
  std::printf("  grad_norm_sq at the end %.3e\n", out.last.get("grad_norm_sq"));
  std::printf("  one d x M matrix: %.1f MiB\n", mat_mib);
  std::printf("  model: Z0 (caller) + Z + X + G_prev = 4 matrices = %.1f MiB steady state (32 B per worker per\n"
              "         parameter), + 1 transient d x M matrix while metrics are evaluated (the workers'\n"
              "         exact operator) = %.1f MiB peak (40 B per worker per parameter), + mixer scratch\n"
              "         2 x 16384 doubles per thread\n",
              4 * mat_mib, 5 * mat_mib);
  std::printf("  peak RSS %.1f MiB (%.1f MiB before the run: program, libraries, thread stacks)\n",
              static_cast<double>(rss_peak) / 1024.0, static_cast<double>(rss_start) / 1024.0);
  std::printf("  peak RSS - start = %.1f MiB = %.2f bytes per worker per parameter\n",
              static_cast<double>(rss_peak - rss_start) / 1024.0,
              static_cast<double>(rss_peak - rss_start) * 1024.0 / static_cast<double>(d * M));
  const double per_param = static_cast<double>(rss_peak - rss_start) * 1024.0 / static_cast<double>(d * M);
  if (max_bytes_per_param > 0.0 && per_param > max_bytes_per_param) {
    std::printf("  FAIL: %.2f bytes per worker per parameter > --max-bytes-per-param %.2f\n", per_param,
                max_bytes_per_param);
    return 1;
  }
  return out.status == RunStatus::finished ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--simulate") == 0) {
      try {
        return simulate(argc, argv);
      } catch (const std::exception& e) {
        std::cerr << "bench_dposg --simulate: " << e.what() << "\n";
        return 2;
      }
    }

  // Default minimum time per benchmark 0.3 s (the whole default set in about 2 minutes on 2 cores);
  // --benchmark_min_time on the command line wins.
  std::vector<char*> args(argv, argv + argc);
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--benchmark_min_time", 20) == 0) has_min_time = true;
  static char min_time[] = "--benchmark_min_time=0.3";
  if (!has_min_time) args.insert(args.begin() + 1, min_time);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  register_all();
  const std::string load_start = load_average();
  RatioReporter reporter;
  std::string filter = benchmark::GetBenchmarkFilter();
  // Pass 1: the STREAM triad, always. Pass 2: the rest of what the filter selects.
  benchmark::RunSpecifiedBenchmarks(&reporter, "^stream_triad");
  triad_arrays().release();
  if (filter.empty() || filter == "." || filter == "all") filter = "^(mix|step|iter)/";
  if (filter.rfind("^stream_triad", 0) != 0) benchmark::RunSpecifiedBenchmarks(&reporter, filter);
  print_summary(reporter, load_start);
  benchmark::Shutdown();
  return 0;
}
