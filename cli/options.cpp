#include "cli/options.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/error.hpp"

namespace dposg::cli {

namespace {
// "0.1" rather than Boost's "0.10000000000000001" in --help.
std::string shortest(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

std::string choices(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : " | ") + n;
  return s;
}

void add_topology_option(po::options_description& desc, std::string& topology) {
  desc.add_options()("topology", po::value(&topology)->default_value(topology), choices(topology_names()).c_str());
}

po::options_description run_options(ExperimentConfig& c, OutputOptions& o) {
  static const std::string noise_normals_help =
      "how the additive-noise problems draw their normals: auto (ziggurat from " +
      std::to_string(kZigguratNormalsFromWorkers) +
      " workers, std below; the run records which) | std (std::normal_distribution over each worker's mt19937_64, "
      "13-30 ns a normal, 2.5 KB of stream a worker) | ziggurat (a key per worker and call, hash(seed, worker, call), "
      "seeds a SplitMix64 stream, normals by a 256-layer ziggurat: ~2.2 ns a normal, other numbers)";
  po::options_description problem("Problem");
  problem.add_options()
      ("problem", po::value(&c.problem.name)->default_value(c.problem.name), choices(problem_names()).c_str())
      ("dim", po::value(&c.problem.dim)->default_value(c.problem.dim), "d, the total dimension (u and v halves)")
      ("noise", po::value(&c.problem.noise)->default_value(c.problem.noise, shortest(c.problem.noise)),
       "sigma: per-sample std of the stochastic operator (E||g(z;xi)-g(z)||^2 = sigma^2); gaussian-wgan "
       "draws real samples instead and ignores it")
      ("noise-normals", po::value(&c.problem.noise_normals)->default_value(c.problem.noise_normals),
       noise_normals_help.c_str())
      ("cond", po::value(&c.problem.cond)->default_value(c.problem.cond, shortest(c.problem.cond)), "condition number of the coupling matrix A")
      ("coupling", po::value(&c.problem.coupling)->default_value(c.problem.coupling, shortest(c.problem.coupling)), "largest singular value of A")
      ("alpha", po::value(&c.problem.alpha)->default_value(c.problem.alpha, shortest(c.problem.alpha)), "weight of star's nonconvex terms")
      ("coupling-matrix", po::value(&c.problem.coupling_matrix)->default_value(c.problem.coupling_matrix),
       "star: dense (A = U diag(s) V^T, d^2/4 doubles) | diagonal (A = diag(s): O(d) time and memory, for d ~ 10^6)")
      ("solution-norm", po::value(&c.problem.solution_norm)->default_value(c.problem.solution_norm, shortest(c.problem.solution_norm)),
       "||x*|| of the solution shift drawn from the seed")
      ("problem-file", po::value(&c.problem.file)->default_value(c.problem.file),
       "HDF5 data of file-based problems (quadratic-file: datasets A, and optionally P, Q, b, c)");
  po::options_description gan("GAN problems (gan-mog8, gan-mog25; gan/README.md)");
  gan.add_options()
      ("gan-arch", po::value(&c.problem.gan_arch)->default_value(c.problem.gan_arch),
       "mlp | dcgan (image sets: conv-t generator, conv critic; defaults then --gan-width 64 --gan-latent 128 --gan-activation leaky-relu)")
      ("gan-loss", po::value(&c.problem.gan_loss)->default_value(c.problem.gan_loss), "ns | wgan-clip | wgan-gp | hinge")
      ("gan-width", po::value(&c.problem.gan_width)->default_value(c.problem.gan_width), "hidden units per layer (both networks)")
      ("gan-depth", po::value(&c.problem.gan_depth)->default_value(c.problem.gan_depth), "hidden layers (both networks)")
      ("gan-latent", po::value(&c.problem.gan_latent)->default_value(c.problem.gan_latent), "generator input dimension")
      ("gan-activation", po::value(&c.problem.gan_activation)->default_value(c.problem.gan_activation),
       "relu | leaky-relu | tanh")
      ("gan-gp-lambda", po::value(&c.problem.gan_gp_lambda)->default_value(c.problem.gan_gp_lambda, shortest(c.problem.gan_gp_lambda)),
       "wgan-gp: penalty weight")
      ("gan-clip", po::value(&c.problem.gan_clip)->default_value(c.problem.gan_clip, shortest(c.problem.gan_clip)),
       "wgan-clip: critic weights act through clip(v, -c, c)")
      ("gan-shard", po::bool_switch(&c.problem.gan_shard), "each worker samples data only from its own shard of the modes (non-iid)")
      ("gan-downscale", po::value(&c.problem.gan_downscale)->default_value(c.problem.gan_downscale),
       "gan-fashion: average f x f pixel blocks (1, 2, 4, 7; 2 = 14 x 14 images)")
      ("gan-classifier", po::value(&c.problem.gan_classifier)->default_value(c.problem.gan_classifier),
       "gan-fashion: HDF5 classifier for fd_classifier; empty = trained once and cached under ~/.cache/dposg")
      ("data-dir", po::value(&c.problem.data_dir)->default_value(c.problem.data_dir),
       "gan-cifar10: folder of the CIFAR-10 binary files (data_batch_1.bin ... test_batch.bin)")
      ("device", po::value(&c.problem.device)->default_value(c.problem.device),
       "cpu | cpu-float | cuda: where and in what precision the GAN operator runs (cpu: double; cpu-float: float32 with Eigen; cuda: all workers in float32 on one GPU, cuBLAS)");
  po::options_description algo("Algorithm");
  algo.add_options()("workers", po::value(&c.workers)->default_value(c.workers), "M, the number of workers");
  add_topology_option(algo, c.topology);
  algo.add_options()
      ("topology-file", po::value(&c.topology_file)->default_value(c.topology_file),
       "HDF5 file with dataset W (M x M, symmetric, doubly stochastic) for --topology file")
      ("topology-v", po::value(&c.topology_v)->default_value(c.topology_v),
       "the v (max) player's graph, any --topology but file; empty = --topology for both")
      ("edge-prob", po::value(&c.edge_prob)->default_value(c.edge_prob),
       "--topology erdos-renyi: edge probability p of G(M, p), in (0, 1]; 0 = 2 ln(M)/M (a disconnected draw is redrawn from the seed)")
      ("rounds", po::value(&c.rounds)->default_value(c.rounds), "t, gossip rounds per iteration")
      ("step-rule", po::value(&c.step_rule)->default_value(c.step_rule), choices(step_rule_names()).c_str())
      ("lr", po::value(&c.lr)->default_value(c.lr), "step size eta (u and v), or 'theorem' for Theorem 1's eta_max")
      ("lr-v", po::value(&c.lr_v)->default_value(c.lr_v), "step size of the v (max) player; empty = --lr")
      ("beta1", po::value(&c.beta1)->default_value(c.beta1, shortest(c.beta1)), "oadam: first-moment decay")
      ("beta2", po::value(&c.beta2)->default_value(c.beta2, shortest(c.beta2)), "oadam: second-moment decay")
      ("eps", po::value(&c.eps)->default_value(c.eps, shortest(c.eps)), "oadam: denominator offset")
      ("iters", po::value(&c.iters)->default_value(c.iters), "N, iterations")
      ("batch", po::value(&c.batch)->default_value(c.batch), "m, minibatch per worker")
      ("total-batch", po::value(&c.total_batch)->default_value(c.total_batch),
       "if > 0: hold m*M fixed at this value (m = total-batch / workers, which must divide it); overrides --batch")
      ("seed", po::value(&c.seed)->default_value(c.seed), "seed of the instance, the workers' noise and random mixing")
      ("init", po::value(&c.init)->default_value(c.init),
       "auto (the problem's natural start: zero for the synthetic problems, problem for networks) | zero "
       "(Algorithm 1) | random | problem (the problem's own random start, e.g. network weights)")
      ("init-spread", po::value(&c.init_spread)->default_value(c.init_spread, shortest(c.init_spread)),
       "with --init random: std of each worker's own offset (norm scale)");
  // Communication (issue #7): README.md "Compressed communication".
  algo.add_options()
      ("algorithm", po::value(&c.algorithm)->default_value(c.algorithm),
       "dposg (gossip, Algorithm 1) | dqgan (parameter-server OMD with compressed operators; --topology complete; --step-rule oadam: the server steps with optimistic Adam) | gt-gda (gradient tracking) | dm-hsgd (STORM + tracking) | dgda-vr (SPIDER + tracking) | dseg (local extragradient) | local-sgda")
      ("local-steps", po::value(&c.local_steps)->default_value(c.local_steps),
       "dposg, dseg, local-sgda: H, gossip before every H-th iteration (H local steps between exchanges)")
      ("momentum", po::value(&c.momentum)->default_value(c.momentum, shortest(c.momentum)),
       "dm-hsgd: beta of the STORM estimator v_k = g(z_k) + (1 - beta)(v_{k-1} - g(z_{k-1}))")
      ("large-batch", po::value(&c.large_batch)->default_value(c.large_batch),
       "dm-hsgd, dgda-vr: b0, the batch of the first estimator (and of dgda-vr's periodic refresh)")
      ("vr-period", po::value(&c.vr_period)->default_value(c.vr_period),
       "dgda-vr: q, a large batch every q-th iteration (SPIDER steps between)")
      ("compressor", po::value(&c.compressor)->default_value(c.compressor),
       (choices(compressor_names()) + ": what workers send (dqgan: the operator; dposg: CHOCO gossip)").c_str())
      ("compress-k", po::value(&c.compress_k)->default_value(c.compress_k), "top-k, rand-k: coordinates kept")
      ("compress-ratio", po::value(&c.compress_ratio)->default_value(c.compress_ratio, shortest(c.compress_ratio)),
       "top-k, rand-k: k = ceil(ratio d), ratio in (0, 1] (instead of --compress-k)")
      ("qsgd-levels", po::value(&c.qsgd_levels)->default_value(c.qsgd_levels), "qsgd: s, the quantization levels")
      ("error-feedback", po::bool_switch(&c.error_feedback), "dqgan: each worker keeps the compression error and adds it to its next message")
      ("gossip-step", po::value(&c.gossip_step)->default_value(c.gossip_step, shortest(c.gossip_step)),
       "dposg with a compressor: CHOCO gossip's consensus step size gamma in (0, 1]")
      ("engine", po::value(&c.engine)->default_value(c.engine),
       "auto | host | resident: where the iterates live between iterations; resident keeps a GAN's X, Z and Adam state on the device (the GPU for --device cuda, a CPU twin for cpu-float) with W^t and the step there too; auto = resident for --device cuda where it runs (--algorithm dposg, exact gossip, one process)")
      ("overlap", po::bool_switch(&c.overlap),
       "the paper's implementation (Sec. 5.1), not Algorithm 1: each worker steps from its un-averaged x while the averaging runs (over MPI on a second thread); X_k = X_{k-1}W^t + (step at X_{k-1}); outside Theorem 1");
  po::options_description out("Output");
  out.add_options()
      ("log-every", po::value(&c.log_every)->default_value(c.log_every), "log metrics every this many iterations")
      ("eval-batch", po::value(&c.eval_batch)->default_value(c.eval_batch),
       "samples per worker for the large-batch estimate of g(z̄) where no exact operator exists")
      ("eval-workers", po::value(&c.eval_workers)->default_value(c.eval_workers),
       "K > 0: also score K workers' own iterates, spread over the ring (dcgan image GANs: is_classifier_min / _max)")
      ("metrics", po::value(&c.metrics)->default_value(c.metrics),
       "a,b,c: log only these metrics (and iteration); empty = every metric of the run")
      ("out", po::value(&o.out)->default_value(o.out), "HDF5 results file (appended to if it exists)")
      ("run-name", po::value(&c.run_name)->default_value(c.run_name), "run group name; empty = derived from options")
      ("overwrite", po::bool_switch(&o.overwrite), "replace a run of the same name")
      ("threads", po::value(&c.threads)->default_value(c.threads), "OpenMP threads; 0 = default")
      ("quiet", po::bool_switch(&o.quiet), "print no summary");
  po::options_description all;
  all.add(problem).add(gan).add(algo).add(out);
  return all;
}

namespace {

// Boost reads "-1" into an unsigned as 2^64 - 1 and hexadecimal into doubles; every number of the
// command line and of a config file is checked as written: decimal, and non-negative for
// unsigned options.
void check_number_texts(const po::parsed_options& parsed, const po::variables_map& vm) {
  for (const auto& opt : parsed.options) {
    if (opt.string_key.empty() || !vm.count(opt.string_key)) continue;
    const std::type_info& type = vm[opt.string_key].value().type();
    const bool is_unsigned = type == typeid(unsigned) || type == typeid(unsigned long) ||
                             type == typeid(unsigned long long);
    const bool is_signed = type == typeid(int) || type == typeid(long) || type == typeid(long long);
    const bool is_double = type == typeid(double) || type == typeid(float);
    if (!is_unsigned && !is_signed && !is_double) continue;
    for (const auto& text : opt.value) {
      std::string t = text;
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.erase(t.begin());
      const bool hex = t.find_first_of("xX") != std::string::npos;
      if (is_unsigned && (hex || t.empty() || t.find_first_not_of("0123456789") != std::string::npos))
        throw InputError("--" + opt.string_key + ": must be a non-negative decimal integer, got '" + text + "'");
      if ((is_signed || is_double) && hex)
        throw InputError("--" + opt.string_key + ": must be a decimal number, got '" + text + "'");
    }
  }
}

// A config file's text for an error message: raw bytes of a binary file must not reach the terminal.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return out;
}

}  // namespace

void check_numbers(const po::parsed_options& parsed, const po::variables_map& vm) { check_number_texts(parsed, vm); }

bool parse(int argc, const char* const argv[], const po::options_description& desc, const std::string& usage,
           po::positional_options_description* positional, std::set<std::string>* given) {
  std::string config;
  po::options_description meta("General");
  meta.add_options()("help,h", "print this help")("config", po::value(&config),
                                                   "config file: the same keys without dashes, `key = value`");
  po::options_description all;
  all.add(meta).add(desc);
  po::variables_map vm;
  try {
    auto parser = po::command_line_parser(argc, argv).options(all);
    if (positional) parser.positional(*positional);
    const po::parsed_options cmdline = parser.run();
    // Without a positional description Boost drops a stray argument ("dposg run extra") silently.
    for (const auto& opt : cmdline.options)
      if (opt.position_key >= 0 && opt.string_key.empty() && !opt.value.empty())
        throw InputError("unexpected argument '" + opt.value.front() + "' (options start with --)");
    po::store(cmdline, vm);
    if (vm.count("help")) {
      std::cout << usage << "\n" << all << "\n";
      return false;
    }
    check_number_texts(cmdline, vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      if (std::filesystem::is_directory(path)) throw InputError("--config: '" + path + "' is a directory");
      std::ifstream in(path);
      if (!in) throw InputError("--config: cannot open '" + path + "'");
      {
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (text.find('\0') != std::string::npos)
          throw InputError("--config: '" + path + "' is not a text file (key = value lines)");
        in.clear();
        in.seekg(0);
      }
      try {
        // The command line wins over the file: po::store keeps the first value stored.
        const po::parsed_options file = po::parse_config_file(in, desc, false);
        po::store(file, vm);
        check_number_texts(file, vm);
      } catch (const po::error& e) {
        throw InputError("--config: '" + path + "': " + printable(e.what()));
      }
    }
    po::notify(vm);
    // Given on the command line or in the config file, as opposed to left at its default.
    if (given)
      for (const auto& [name, value] : vm)
        if (!value.defaulted()) given->insert(name);
  } catch (const po::error& e) {
    throw InputError(e.what());
  }
  return true;
}

}  // namespace dposg::cli

namespace dposg::cli {

void check_applicable(const ExperimentConfig& c, const std::set<std::string>& given) {
  struct Rule {
    const char* option;
    bool applies;
    std::string to;
  };
  const Rule rules[] = {
      {"topology-file", c.topology == "file", "--topology file (got --topology " + c.topology + ")"},
      {"edge-prob", c.topology == "erdos-renyi", "--topology erdos-renyi (got --topology " + c.topology + ")"},
      {"gan-downscale", c.problem.name == "gan-fashion", "--problem gan-fashion (got " + c.problem.name + ")"},
      {"gan-classifier", c.problem.name == "gan-fashion" || c.problem.name == "gan-cifar10",
       "--problem gan-fashion or gan-cifar10 (got " + c.problem.name + ")"},
      {"data-dir", c.problem.name == "gan-cifar10", "--problem gan-cifar10 (got " + c.problem.name + ")"},
      {"gan-depth", c.problem.gan_arch != "dcgan", "--gan-arch mlp (dcgan's depth follows from the image size)"},
      {"eps", c.step_rule == "oadam", "--step-rule oadam (got " + c.step_rule + ")"},
      {"beta1", c.step_rule == "oadam", "--step-rule oadam (got " + c.step_rule + ")"},
      {"beta2", c.step_rule == "oadam", "--step-rule oadam (got " + c.step_rule + ")"},
  };
  for (const auto& r : rules)
    if (!r.applies && given.count(r.option))
      throw InputError(std::string("--") + r.option + ": applies only to " + r.to);
  if (c.threads < 0) throw InputError("--threads: must be >= 0 (0 = OpenMP's default), got " + std::to_string(c.threads));
}

void apply_arch_defaults(ExperimentConfig& c, const std::set<std::string>& given) {
  if (c.problem.gan_arch != "dcgan") return;
  // The MLP's defaults (128 units, a 2-D latent, relu) make no sense for the DCGAN: its own, unless given.
  if (!given.count("gan-width")) c.problem.gan_width = 64;
  if (!given.count("gan-latent")) c.problem.gan_latent = 128;
  if (!given.count("gan-activation")) c.problem.gan_activation = "leaky-relu";
}

}  // namespace dposg::cli
