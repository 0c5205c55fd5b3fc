#include "app/experiment.hpp"
#include "app/metric_selection.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/compressed_mixer.hpp"
#include "core/dqgan.hpp"
#include "core/error.hpp"
#include "core/gradient_tracking.hpp"
#include "core/local_steps_mixer.hpp"
#include "core/player_split_mixer.hpp"
#include "core/spectral.hpp"
#include "gan/cuda/resident_engine.hpp"

namespace dposg {
namespace {

double parse_positive(const std::string& text, const std::string& option) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  // Decimal only: std::stod also reads hexadecimal ("0x10" = 16), which nobody means as a step.
  if (used != text.size() || text.empty() || text.find_first_of("xX") != std::string::npos)
    throw InputError(option + ": expected a number or 'theorem', got '" + text + "'");
  if (!(v > 0.0) || !std::isfinite(v)) throw InputError(option + ": must be > 0, got '" + text + "'");
  return v;
}

std::string compact(double v);

// Memory the machine can give now: MemAvailable, else free + cached pages.
double available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024.0;
  return static_cast<double>(::sysconf(_SC_AVPHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

std::string bytes_text(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (b >= 1000.0 && u < 6) b /= 1000.0, ++u;
  std::ostringstream s;
  s.precision(3);
  s << b << " " << units[u];
  return s.str();
}

// Sizes are checked before anything is allocated: a run that cannot fit is refused with the
// option that makes it large, instead of ending in std::bad_alloc (or terminate, from inside an
// OpenMP region) minutes later. The estimate is a lower bound of what the run holds at once,
// in doubles: the workers' iterates and their copies (Z, X, the previous operator, the step
// rule's and the mixer's buffers: about 8 per worker), and for the GANs one batch per thread
// (real samples, latent inputs and the networks' activations), for --batch and for --eval-batch.
void check_memory(const ExperimentConfig& c) {
  const auto& p = c.problem;
  const bool gan = p.name.rfind("gan-", 0) == 0;
  const double M = static_cast<double>(c.workers);
  const double data_dim = p.name == "gan-fashion" ? 784.0 / (p.gan_downscale * p.gan_downscale) : 2.0;
  const double width = static_cast<double>(p.gan_width), depth = static_cast<double>(p.gan_depth);
  const double latent = static_cast<double>(p.gan_latent);
  const double dim = gan ? 2.0 * (width * (latent + data_dim + 2.0) + std::max(depth - 1.0, 0.0) * width * (width + 1.0))
                         : static_cast<double>(p.dim);
  const double threads = std::min(M, static_cast<double>(c.threads > 0 ? c.threads : omp_get_max_threads()));
  const double per_sample = 8.0 * (data_dim + latent + 4.0 * width * std::max(depth, 1.0) + 2.0);
  struct Term {
    const char* option;
    double bytes;
    std::string how;
  };
  const Term terms[] = {
      {gan ? "--workers" : (M >= static_cast<double>(p.dim) ? "--workers" : "--dim"), 8.0 * 8.0 * M * dim,
       "8 copies of " + compact(M) + " workers x d = " + compact(dim) + " doubles"},
      {c.total_batch > 0 ? "--total-batch" : "--batch", gan ? threads * static_cast<double>(c.batch) * per_sample : 0.0,
       compact(threads) + " threads x " + std::to_string(c.batch) + " samples x " + bytes_text(per_sample)},
      {"--eval-batch", gan ? threads * static_cast<double>(c.eval_batch) * per_sample : 0.0,
       compact(threads) + " threads x " + std::to_string(c.eval_batch) + " samples x " + bytes_text(per_sample)},
  };
  double total = 0;
  const Term* largest = &terms[0];
  for (const auto& t : terms) {
    total += t.bytes;
    if (t.bytes > largest->bytes) largest = &t;
  }
  const double available = available_bytes();
  if (total > available)
    throw InputError(std::string(largest->option) + ": the run needs at least " + bytes_text(total) +
                     " of memory (" + largest->how + "), more than the " + bytes_text(available) +
                     " available");
}

std::string compact(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

bool is_baseline(const std::string& a) { return is_gradient_tracking(a) || a == "dseg" || a == "local-sgda"; }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Each baseline's own options are refused (one line naming the option) by the algorithms they do not
// belong to, and every step rule but the algorithm's own.
void check_baseline_options(const ExperimentConfig& c) {
  const ExperimentConfig defaults;
  const std::string& a = c.algorithm;
  const bool local = a == "dposg" || a == "dseg" || a == "local-sgda";
  if (c.local_steps < 1) throw InputError("--local-steps: must be >= 1, got " + std::to_string(c.local_steps));
  if (c.local_steps != 1 && !local)
    throw InputError("--local-steps: applies to --algorithm dposg, dseg and local-sgda, not " + a);
  if (c.momentum != defaults.momentum && a != "dm-hsgd") throw InputError("--momentum: applies to --algorithm dm-hsgd");
  if (c.large_batch != defaults.large_batch && a != "dm-hsgd" && a != "dgda-vr")
    throw InputError("--large-batch: applies to --algorithm dm-hsgd and dgda-vr");
  if (c.vr_period != defaults.vr_period && a != "dgda-vr") throw InputError("--vr-period: applies to --algorithm dgda-vr");
  if (!is_baseline(a)) return;
  if (c.overlap) throw InputError("--overlap: applies to --algorithm dposg");
  if (c.step_rule != defaults.step_rule && c.step_rule != baseline_step_rule(a))
    throw InputError("--step-rule: --algorithm " + a + " takes its own step (" + baseline_step_rule(a) + "), got '" +
                     c.step_rule + "'");
}

// Checks the communication options and builds what workers send (e.compressor); DQGAN replaces the
// rule by its parameter server's, which steps with `rule`. The mixer is make_mixer's.
void configure_communication(const ExperimentConfig& c, const StepRuleOptions& rule, Experiment& e) {
  if (c.algorithm != "dposg" && c.algorithm != "dqgan" && !is_baseline(c.algorithm))
    throw InputError("--algorithm: unknown algorithm '" + c.algorithm + "' (known: " + join(algorithm_names()) + ")");
  check_baseline_options(c);
  CompressorOptions co;
  co.name = c.compressor;
  co.k = c.compress_k;
  co.ratio = c.compress_ratio;
  co.qsgd_levels = c.qsgd_levels;
  e.compressor = make_compressor(co, e.problem->dim());
  const bool compressed = c.compressed();
  if (c.error_feedback && !compressed) throw InputError("--error-feedback: needs a --compressor other than none");
  if (!(c.gossip_step > 0.0 && c.gossip_step <= 1.0))
    throw InputError("--gossip-step: must be in (0, 1], got " + compact(c.gossip_step));
  if (c.algorithm == "dqgan") {
    if (c.topology != "complete" && c.topology != "single")
      throw InputError("--topology: --algorithm dqgan is a parameter-server method and needs --topology complete "
                       "(or single for one worker), got '" + c.topology + "'");
    if (c.step_rule != "osg" && c.step_rule != "oadam")
      throw InputError("--step-rule: --algorithm dqgan's server takes an optimistic step: osg (OMD) or oadam; got '" +
                       c.step_rule + "'");
    if (c.gossip_step != 1.0) throw InputError("--gossip-step: applies to compressed gossip (--algorithm dposg)");
    DqganOptions o;
    o.server = rule;
    o.compressor = e.compressor;
    o.error_feedback = c.error_feedback;
    o.seed = c.seed;
    e.rule = make_dqgan_rule(o);
    return;
  }
  if (is_baseline(c.algorithm)) {
    if (compressed) throw InputError("--compressor: --algorithm " + c.algorithm + " sends uncompressed vectors; compression is for dposg and dqgan");
    if (c.gossip_step != 1.0) throw InputError("--gossip-step: applies to compressed gossip (--algorithm dposg)");
  }
  if (!compressed) {
    if (c.gossip_step != 1.0) throw InputError("--gossip-step: needs a --compressor (CHOCO gossip) other than none");
    return;
  }
  if (c.local_steps != 1) throw InputError("--local-steps: CHOCO gossip (--compressor) communicates every iteration");
  if (c.error_feedback)
    throw InputError("--error-feedback: applies to --algorithm dqgan; CHOCO gossip keeps public copies instead");
  if (c.workers == 1) throw InputError("--compressor: one worker (--workers 1) has no gossip to compress");
}

// Checks that the run can be distributed over the transport's ranks; returns this rank's first worker.
Index check_distribution(const ExperimentConfig& c, const MpiTransport& t) {
  validate(t.net);
  if (c.overlap && !serialized_threads(*t.session))
    throw InputError("--overlap: this MPI library does not provide MPI_THREAD_SERIALIZED, which the exchange thread needs");
  if (c.engine == "resident")
    throw InputError("--engine: 'resident' runs in one process (--backend sim); MPI ranks use the host engine");
  const Index M = c.workers;
  const Index P = t.session->size();
  if (M % P != 0)
    throw InputError("--workers: " + std::to_string(M) + " is not a multiple of the number of MPI ranks " +
                     std::to_string(P));
  return static_cast<Index>(t.session->rank()) * (M / P);
}

}  // namespace

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names{"dposg", "dqgan"};
  for (const auto& n : gradient_tracking_names()) names.push_back(n);
  names.push_back("dseg");
  names.push_back("local-sgda");
  return names;
}

std::string baseline_step_rule(const std::string& algorithm) {
  if (algorithm == "dseg") return "extragradient";
  if (algorithm == "local-sgda" || is_gradient_tracking(algorithm)) return "gda";
  return "";
}

std::string default_run_name(const ExperimentConfig& c) {
  std::ostringstream s;
  s << c.problem.name << "-M" << c.workers << "-" << c.topology << "-t" << c.rounds << "-" << c.step_rule << "-lr"
    << c.lr;
  if (!c.lr_v.empty()) s << "-lrv" << c.lr_v;
  if (c.algorithm != "dposg") s << "-" << c.algorithm;
  if (c.compressor != "none") {
    s << "-" << c.compressor;
    if (c.compress_k > 0) s << "-k" << c.compress_k;
    if (c.compress_ratio > 0) s << "-r" << c.compress_ratio;
    if (c.compressor == "qsgd") s << "-levels" << c.qsgd_levels;
    if (c.error_feedback) s << "-ef";
    if (c.gossip_step != 1.0) s << "-gamma" << c.gossip_step;
  }
  if (c.overlap) s << "-overlap";
  if (c.local_steps != 1) s << "-H" << c.local_steps;
  s << "-m" << c.batch << "-s" << c.seed;
  // Derived names keep to the recorder's run-name alphabet (e.g. "1e+06" becomes "1e_06").
  std::string name = s.str();
  for (char& ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.' || ch == '=' || ch == ','))
      ch = '_';
  return name;
}

std::unique_ptr<Mixer> make_mixer(MixingSchedule schedule, const CommunicationConfig& c,
                                  std::shared_ptr<const Compressor> compressor, std::uint64_t seed,
                                  const MpiTransport* transport) {
  // DQGAN: the parameter-server mixer moves nothing (under MPI its rule's server link does).
  if (c.algorithm == "dqgan") return std::make_unique<ParameterServerMixer>(std::move(schedule));
  if (c.compressed()) {
    // CHOCO's messages are encoded bytes; between ranks they travel over MPI whatever --exchange says.
    if (transport)
      return make_mpi_compressed_mixer(std::move(schedule), std::move(compressor), c.gossip_step, seed,
                                       *transport->session, transport->net);
    return std::make_unique<CompressedGossipMixer>(std::move(schedule), std::move(compressor), c.gossip_step, seed);
  }
  std::unique_ptr<Mixer> exact =
      transport ? make_mpi_mixer(std::move(schedule), *transport->session, transport->net, transport->exchange)
                : std::make_unique<CpuMixer>(std::move(schedule));
  if (c.local_steps > 1) return std::make_unique<LocalStepsMixer>(std::move(exact), c.local_steps);
  return exact;
}

namespace {
// The v player's schedule (--topology-v), its errors naming --topology-v.
MixingSchedule topology_v_schedule(const ExperimentConfig& c) {
  if (c.topology_v == "file")
    throw InputError("--topology-v: 'file' is not supported (--topology-file is the u player's W)");
  if (c.compressed() || c.algorithm == "dqgan")
    throw InputError("--topology-v: needs uncompressed gossip (--compressor none) and a gossip algorithm, not dqgan");
  try {
    return MixingSchedule(c.topology_v, c.workers, c.seed, "", c.edge_prob);
  } catch (const InputError& err) {
    std::string what = err.what();
    if (what.rfind("--topology:", 0) == 0) what = "--topology-v:" + what.substr(11);
    throw InputError(what);
  }
}
}  // namespace

std::string theorem1_not_applicable(const ExperimentConfig& c, const ProblemConstants& k) {
  if (!std::isfinite(k.L) || !std::isfinite(k.G) || !std::isfinite(k.sigma))
    return "the problem's L, sigma or G is unknown";
  if (!k.assumption_iv) return "the problem violates Assumption 1(iv)";
  if (c.algorithm != "dposg") return "--algorithm " + c.algorithm + " is not Algorithm 1";
  if (c.compressed()) return "compressed gossip (CHOCO) is not Algorithm 1's exact averaging";
  if (c.overlap) return "--overlap runs the paper's implementation, not Algorithm 1";
  if (c.local_steps > 1) return "--local-steps > 1 gossips every H iterations, not Algorithm 1";
  if (c.step_rule != "osg") return "--step-rule " + c.step_rule + " is not Algorithm 1's optimistic step";
  return "";
}

std::string resolved_init(const ExperimentConfig& c) {
  return c.init == "auto" ? natural_init(c.problem.name) : c.init;
}

std::string resolved_noise_normals(const ExperimentConfig& c) {
  const std::string& n = c.problem.noise_normals;
  if (n != "auto") {
    if (n != "std" && n != "ziggurat")
      throw InputError("--noise-normals: expected auto, std or ziggurat, got '" + n + "'");
    return n;
  }
  return c.workers >= kZigguratNormalsFromWorkers && draws_additive_noise(c.problem.name) ? "ziggurat" : "std";
}

Experiment build_experiment(const ExperimentConfig& given, const PartOverrides& overrides,
                            const MpiTransport* transport) {
  if (given.workers < 1) throw InputError("--workers: must be >= 1, got " + std::to_string(given.workers));
  ExperimentConfig resolved = given;
  resolved.init = resolved_init(given);
  resolved.problem.noise_normals = resolved_noise_normals(given);
  if (given.total_batch < 0)
    throw InputError("--total-batch: must be >= 0, got " + std::to_string(given.total_batch));
  if (given.total_batch > 0) {
    if (given.total_batch % given.workers != 0)
      throw InputError("--total-batch: " + std::to_string(given.total_batch) + " is not a multiple of --workers " +
                       std::to_string(given.workers));
    resolved.batch = given.total_batch / given.workers;
  }
  // A baseline's step rule is its own; the attribute says which.
  if (is_baseline(given.algorithm) && given.step_rule == ExperimentConfig{}.step_rule)
    resolved.step_rule = baseline_step_rule(given.algorithm);
  const ExperimentConfig& c = resolved;
  Experiment e;
  e.config = c;
  if (c.rounds < 0) throw InputError("--rounds: must be >= 0, got " + std::to_string(c.rounds));
  if (c.iters < 0) throw InputError("--iters: must be >= 0, got " + std::to_string(c.iters));
  if (c.batch < 1) throw InputError("--batch: must be >= 1, got " + std::to_string(c.batch));
  if (c.log_every < 1) throw InputError("--log-every: must be >= 1, got " + std::to_string(c.log_every));
  if (c.threads < 0) throw InputError("--threads: must be >= 0, got " + std::to_string(c.threads));
  if (c.init != "zero" && c.init != "random" && c.init != "problem")
    throw InputError("--init: expected 'auto', 'zero', 'random' or 'problem', got '" + c.init + "'");
  if (c.eval_batch < 1) throw InputError("--eval-batch: must be >= 1, got " + std::to_string(c.eval_batch));
  if (!(c.init_spread >= 0.0) || !std::isfinite(c.init_spread))
    throw InputError("--init-spread: must be >= 0, got " + compact(c.init_spread));
  if (c.init == "zero" && c.init_spread > 0.0) throw InputError("--init-spread: needs --init random");
  check_memory(c);

  ProblemOptions po = c.problem;
  po.seed = c.seed;
  e.problem = make_problem(po);
  MixingSchedule schedule(c.topology, c.workers, c.seed, c.topology_file, c.edge_prob);
  auto rho_t_of = [&](const MixingSchedule& s) {
    return s.is_time_varying() ? s.mean_product_deviation(c.rounds, c.deviation_draws) : std::pow(s.rho(), c.rounds);
  };
  e.rho_t = rho_t_of(schedule);
  double rho = schedule.rho();
  std::optional<MixingSchedule> schedule_v;
  if (!c.topology_v.empty()) {
    schedule_v = topology_v_schedule(c);
    e.rho_v = schedule_v->rho();
    e.rho_t_v = rho_t_of(*schedule_v);
    rho = std::max(rho, e.rho_v);
    e.rho_t = std::max(e.rho_t, e.rho_t_v);
  }

  const Index d = e.problem->dim();
  const ProblemConstants k = e.problem->constants();
  e.Z0 = Matrix::Zero(d, c.workers);
  if (c.init == "problem") {
    Rng rng = make_rng(c.seed, StreamPurpose::init);
    const Vector z0 = e.problem->initial_point(rng);
    e.Z0.colwise() = z0;
  }
  if (c.init == "random") {
    // One shared random start of norm ~1 (same for all workers), plus an optional per-worker spread.
    Rng rng = make_rng(c.seed, StreamPurpose::init);
    Vector z0(d);
    fill_normal(rng, 1.0 / std::sqrt(static_cast<double>(d)), z0);
    e.Z0.colwise() = z0;
    if (c.init_spread > 0.0) {
      Vector delta(d);
      for (Index i = 0; i < c.workers; ++i) {
        fill_normal(rng, c.init_spread / std::sqrt(static_cast<double>(d)), delta);
        e.Z0.col(i) += delta;
      }
    }
  }

  TheoremInputs ti;
  ti.constants = k;
  ti.M = static_cast<double>(c.workers);
  ti.m = static_cast<double>(c.batch);
  ti.rho = rho;
  ti.rho_t = e.rho_t;
  ti.rounds = c.rounds;
  ti.iters = static_cast<double>(std::max<std::int64_t>(c.iters, 1));
  ti.x0_dist = k.x_star ? (e.Z0.rowwise().mean() - *k.x_star).norm() : std::nan("");
  const TheoremQuantities at_max = theorem1(ti);

  auto step_from = [&](const std::string& text, const std::string& option) {
    if (text == "theorem") {
      if (!std::isfinite(at_max.eta_max) || !(at_max.eta_max > 0.0))
        throw InputError(option + ": 'theorem' needs a finite Lipschitz constant L, which problem '" +
                         c.problem.name + "' does not state");
      return at_max.eta_max;
    }
    return parse_positive(text, option);
  };
  e.step.dim_u = e.problem->dim_u();
  e.step.eta_u = step_from(c.lr, "--lr");
  e.step.eta_v = c.lr_v.empty() ? e.step.eta_u : step_from(c.lr_v, "--lr-v");
  ti.eta = std::max(e.step.eta_u, e.step.eta_v);
  e.theorem = theorem1(ti);

  StepRuleOptions so;
  so.name = c.step_rule;
  so.step = e.step;
  so.beta1 = c.beta1;
  so.beta2 = c.beta2;
  so.eps = c.eps;
  e.rule = make_step_rule(so);
  configure_communication(c, so, e);
  if (c.overlap && c.algorithm == "dqgan")
    throw InputError("--overlap: --algorithm dqgan's workers wait for the server's z, there is no averaging to overlap");

  e.driver.rounds = c.rounds;
  e.driver.iters = c.iters;
  e.driver.batch = c.batch;
  e.driver.log_every = c.log_every;
  e.driver.seed = c.seed;
  e.driver.eval_batch = c.eval_batch;
  if (c.eval_workers < 0) throw InputError("--eval-workers: must be >= 0, got " + std::to_string(c.eval_workers));
  e.driver.eval_workers = c.eval_workers;
  e.driver.overlap = c.overlap;
  if (c.engine != "auto" && c.engine != "host" && c.engine != "resident")
    throw InputError("--engine: expected 'auto', 'host' or 'resident', got '" + c.engine + "'");
  std::string resident_refused;
  if (c.engine != "host") {
    resident_refused = gan::cuda::resident_unsupported(*e.problem, so, e.driver, c.algorithm, c.compressed());
    if (resident_refused.empty() && c.local_steps != 1)
      resident_refused = "--engine: 'resident' gossips every iteration; --local-steps runs on the host engine";
    if (resident_refused.empty() && !c.topology_v.empty())
      resident_refused = "--engine: 'resident' mixes with one W; --topology-v runs on the host engine";
    if (c.engine == "resident" && !resident_refused.empty()) throw InputError(resident_refused);
  }
  Index first = 0;
  if (transport) first = check_distribution(c, *transport);
  if (overrides.schedule) schedule = *overrides.schedule;
  e.mixer = make_mixer(std::move(schedule), c, e.compressor, c.seed, transport);
  if (schedule_v)
    e.mixer = std::make_unique<PlayerSplitMixer>(std::move(e.mixer),
                                                 make_mixer(std::move(*schedule_v), c, e.compressor, c.seed, transport),
                                                 d, e.problem->dim_u());
  if (is_gradient_tracking(c.algorithm)) {
    // The rule communicates (iterate and tracker in one exchange) over the run's mixer; the
    // driver's mixes nothing.
    std::shared_ptr<const Mixer> exchange(std::move(e.mixer));
    GradientTrackingOptions g;
    g.algorithm = c.algorithm;
    g.step = e.step;
    g.rounds = c.rounds;
    g.momentum = c.momentum;
    g.large_batch = c.large_batch;
    g.period = c.vr_period;
    e.rule = make_gradient_tracking_rule(g, exchange);
    e.mixer = std::make_unique<SilentMixer>(exchange->schedule());
  }
  e.metrics = selected_metrics(e, c.metrics);  // with the whole start, before a rank takes its part
  if (transport) {
    // No resident engine under MPI (auto: the ranks' iterates stay on the host, their operator on the GPU).
    const Index block = c.workers / transport->session->size();
    // DQGAN's server moves to rank 0.
    if (c.algorithm == "dqgan" &&
        !attach_server_link(*e.rule, make_mpi_server_link(*transport->session, first, block, c.workers, transport->net)))
      throw std::logic_error("--algorithm dqgan built a rule that is not DQGAN");
    e.Z0 = e.Z0.middleCols(first, block).eval();
    e.partition = make_mpi_partition(first, c.workers);
  } else if (c.engine != "host" && resident_refused.empty() && (c.engine == "resident" || c.problem.device == "cuda")) {
    e.engine = gan::cuda::make_resident_engine(*e.problem, e.mixer->schedule(), so, e.driver);
  }
  if (overrides.problem) e.problem = overrides.problem(std::move(e.problem));
  e.run_name = c.run_name.empty() ? default_run_name(c) : c.run_name;
  return e;
}

namespace {
// What only the graphs of core/graphs.hpp have (written for them alone: other runs' files are unchanged).
void write_graph_attributes(const MixingSchedule& sched, int rounds, RunWriter& w) {
  if (sched.kind() == "erdos-renyi") {
    w.set_attr("edge_prob", sched.edge_prob());
    w.set_attr("graph_redraws", static_cast<std::int64_t>(sched.graph_attempt()));
  }
  if (sched.kind() == "one-peer-exponential") {
    const DeviationEstimate est = sched.product_deviation_estimate(rounds, 0);
    w.set_attr("rho_t_method", est.method);
    w.set_attr("rho_t_max", est.max);
    w.set_attr("w_eigenvalues_omitted", std::string("W_g is a directed circulant (not symmetric): rho = max_g ||W_g - "
                                                    "11^T/M||_2 from its singular values"));
  }
}
}  // namespace

void write_run_attributes(const Experiment& e, RunWriter& w) {
  const auto& c = e.config;
  write_problem_attributes(c.problem, *e.problem, w);
  w.set_attr("workers", static_cast<std::int64_t>(c.workers));
  w.set_attr("topology", c.topology);
  w.set_attr("topology_file", c.topology_file);
  w.set_attr("rounds", static_cast<std::int64_t>(c.rounds));
  w.set_attr("step_rule", c.step_rule);
  w.set_attr("lr_option", c.lr);
  w.set_attr("lr", e.step.eta_u);
  w.set_attr("lr_v", e.step.eta_v);
  w.set_attr("beta1", c.beta1);
  w.set_attr("beta2", c.beta2);
  w.set_attr("eps", c.eps);
  w.set_attr("iters", c.iters);
  w.set_attr("batch", static_cast<std::int64_t>(c.batch));
  w.set_attr("total_batch", static_cast<std::int64_t>(c.total_batch));
  w.set_attr("seed", static_cast<std::int64_t>(c.seed));
  w.set_attr("init", c.init);
  w.set_attr("init_spread", c.init_spread);
  w.set_attr("eval_batch", static_cast<std::int64_t>(c.eval_batch));
  if (c.eval_workers > 0) w.set_attr("eval_workers", static_cast<std::int64_t>(c.eval_workers));
  w.set_attr("log_every", c.log_every);
  w.set_attr("run_name", e.run_name);

  const auto& sched = e.mixer->schedule();
  w.set_attr("rho", sched.rho());
  w.set_attr("spectral_gap", 1.0 - sched.rho());
  const Vector& ev = sched.base_spectrum().eigenvalues;
  w.set_attr("w_eigenvalues", std::vector<double>(ev.data(), ev.data() + ev.size()));
  // Written only where the dense solver was not used, so that every small-M file keeps its attributes.
  if (sched.base_spectrum().method != "dense") {
    w.set_attr("spectrum_method", sched.base_spectrum().method);
    if (!sched.base_spectrum().full && sched.kind() != "one-peer-exponential")
      w.set_attr("w_eigenvalues_omitted", std::string("the spectrum is stored for M <= ") +
                                              std::to_string(kStoredSpectrumMaxWorkers) +
                                              "; rho is exact (" + sched.base_spectrum().method + ")");
  }
  w.set_attr("rho_t", e.rho_t);
  w.set_attr("rho_t_kind", sched.is_time_varying() ? std::string("measured E||W_t...W_1 - 11^T/M||_2")
                                                   : std::string("rho^t"));
  write_graph_attributes(sched, e.config.rounds, w);
  if (!c.topology_v.empty()) {
    w.set_attr("topology_v", c.topology_v);
    w.set_attr("rho_v", e.rho_v);
    w.set_attr("rho_t_v", e.rho_t_v);
    w.set_attr("rho_t_players", std::string("rho_t = max(rho_t(--topology), rho_t_v(--topology-v))"));
  }
  if (sched.is_random() && sched.workers() > kDenseDeviationMaxWorkers) {
    const DeviationEstimate est = sched.product_deviation_estimate(e.config.rounds, e.config.deviation_draws);
    w.set_attr("rho_t_std_error", est.std_error);
    w.set_attr("rho_t_draws", static_cast<std::int64_t>(est.draws));
    w.set_attr("rho_t_method", est.method);
    w.set_attr("rho_t_convergence_error", est.convergence_error);
    w.set_attr("rho_t_lanczos_steps", static_cast<std::int64_t>(est.lanczos_steps));
    w.set_attr("rho_t_errors", std::string("each draw's Lanczos value rises to its norm from below and stopped with at "
                                           "most its rise over its last half of steps to go (rho_t_convergence_error, "
                                           "the mean over draws): the mean lies in [rho_t, rho_t + "
                                           "rho_t_convergence_error], +- rho_t_std_error (Monte Carlo)"));
  }
  const Index d = e.problem->dim();
  w.set_attr("bytes_per_iteration_busiest",
             e.mixer->bytes_busiest_per_iteration(d, c.rounds) + e.rule->bytes_busiest_per_iteration(d, c.workers));
  w.set_attr("algorithm", c.algorithm);
  w.set_attr("compressor", c.compressor);
  w.set_attr("compress_k_option", static_cast<std::int64_t>(c.compress_k));
  w.set_attr("compress_ratio", c.compress_ratio);
  w.set_attr("qsgd_levels", static_cast<std::int64_t>(c.qsgd_levels));
  w.set_attr("error_feedback", static_cast<std::int64_t>(c.error_feedback));
  w.set_attr("gossip_step", c.gossip_step);
  w.set_attr("overlap", static_cast<std::int64_t>(c.overlap));
  w.set_attr("engine", std::string(e.engine ? "resident" : "host"));
  if (e.compressor) {
    w.set_attr("compress_k", static_cast<std::int64_t>(e.compressor->k()));
    w.set_attr("compressor_delta", e.compressor->delta());
    w.set_attr("compressor_delta_kind", e.compressor->delta_kind());
    w.set_attr("message_bits", e.compressor->bits());
  }
  if (is_baseline(c.algorithm) || c.local_steps != 1) w.set_attr("local_steps", c.local_steps);
  if (c.algorithm == "dm-hsgd") w.set_attr("momentum", c.momentum);
  if (c.algorithm == "dm-hsgd" || c.algorithm == "dgda-vr") w.set_attr("large_batch", static_cast<std::int64_t>(c.large_batch));
  if (c.algorithm == "dgda-vr") w.set_attr("vr_period", c.vr_period);
  if (c.algorithm == "dqgan" && e.compressor) {
    w.set_attr("bytes_uplink_per_iteration", dqgan_uplink_bytes(*e.compressor));
    w.set_attr("bytes_downlink_per_iteration", dqgan_downlink_bytes(d, c.workers));
  }

  const ProblemConstants k = e.problem->constants();
  w.set_attr("L", k.L);
  w.set_attr("sigma", k.sigma);
  w.set_attr("G", k.G);
  w.set_attr("D", k.D);
  w.set_attr("assumption_iv", static_cast<std::int64_t>(k.assumption_iv));
  w.set_attr("grad_norm_exact", static_cast<std::int64_t>(e.problem->has_exact()));

  const auto& q = e.theorem;
  w.set_attr("theorem_c", kTheoremC);
  w.set_attr("t_min", q.t_min);
  w.set_attr("t_min_alt", q.t_min_alt);
  w.set_attr("eta_max", q.eta_max);
  w.set_attr("eta_term1", q.eta_term1);
  w.set_attr("eta_term2", q.eta_term2);
  w.set_attr("eta_term2_literal", q.eta_term2_literal);
  w.set_attr("eta_term3", q.eta_term3);
  w.set_attr("bound", q.bound);
  w.set_attr("t_condition", static_cast<std::int64_t>(q.t_condition));
  w.set_attr("eta_condition", static_cast<std::int64_t>(q.eta_condition));
}

void RecorderObserver::on_log(const MetricsRow& row) {
  std::unique_lock<std::mutex> hold;
  if (lock_) hold = std::unique_lock(*lock_);
  w_.append(row);
}

void RecorderObserver::on_finish(const RunOutcome& out) {
  std::unique_lock<std::mutex> hold;
  if (lock_) hold = std::unique_lock(*lock_);
  if (out.z_bar.size() > 0 || write_empty_z_bar_) w_.write_final("z_bar", out.z_bar);
  for (const auto& [name, m] : out.final_outputs) w_.write_final(name, m);
  w_.set_attr("iterations_done", out.iterations_done);
  if (!out.message.empty()) w_.set_attr("message", out.message);
  w_.set_status(to_string(out.status));
}

void write_run_start(const Experiment& e, RunWriter& w) {
  write_run_attributes(e, w);
  if (!e.metrics.empty()) {
    std::string list;
    for (const auto& m : e.metrics) list += (list.empty() ? "" : ",") + m;
    w.set_attr("metrics", list);  // only where chosen: a run without it logged every metric
    w.keep_metrics(e.metrics);
  }
  e.problem->write_instance(w.problem_group());
  w.flush(true);
}

RunOutcome run_experiment(Experiment& e, RunWriter* writer, const std::vector<Observer*>& extra,
                          const WorkerPartition* partition) {
  if (e.config.threads > 0) omp_set_num_threads(e.config.threads);
  std::vector<Observer*> observers;
  std::unique_ptr<RecorderObserver> rec;
  if (writer) {
    write_run_start(e, *writer);
    rec = std::make_unique<RecorderObserver>(*writer);
    observers.push_back(rec.get());
  }
  observers.insert(observers.end(), extra.begin(), extra.end());
  if (!partition) partition = e.partition.get();
  return run_driver(*e.problem, *e.mixer, *e.rule, e.driver, e.Z0, observers, partition, e.engine.get());
}

std::string checkpoints_unsupported(const Experiment& e) {
  if (e.engine && !e.engine->checkpointable()) return "--engine resident";
  if (!e.rule->checkpointable()) return "the step rule of --algorithm " + e.config.algorithm;
  if (!e.mixer->checkpointable()) return "this mixer (--algorithm " + e.config.algorithm + ")";
  return "";
}

}  // namespace dposg
