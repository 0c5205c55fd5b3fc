#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/problem_defaults.hpp"
#include "cli/progress.hpp"
#include "cli/resume.hpp"
#include "core/checkpoint.hpp"
#include "core/error.hpp"
#include "app/experiment.hpp"
#include "app/placement.hpp"
#include "core/recorder.hpp"

namespace dposg::cli {

namespace {

// A derived (not user-chosen) run name that is taken gets a numeric suffix: re-running the same
// command appends a new run instead of failing or replacing results already written.
// Ends `run` of `path` as failed if it still says "running" and no process holds the file: its
// writer, rank 0, is gone (a live writer keeps HDF5's exclusive lock until it has ended the run).
bool end_run_of_dead_writer(const std::string& path, const std::string& run, int rank) {
  try {
    if (run.empty() || !std::filesystem::exists(path)) return false;
    const auto file = ResultsFile::open(path);
    return file->end_orphaned_run(run, "failed",
                                  "rank 0 of the MPI job died (killed or crashed); ended by rank " + std::to_string(rank) +
                                      ", with the rows of rank 0's last flush");
  } catch (const std::exception&) {
    return false;  // locked (rank 0 alive), unreadable, or damaged: nothing this rank may do
  }
}

std::string free_run_name(const ResultsFile& file, const std::string& base) {
  if (!file.has_run(base)) return base;
  for (int k = 2;; ++k) {
    const std::string name = base + "-" + std::to_string(k);
    if (!file.has_run(name)) return name;
  }
}

void print_summary(const Experiment& e, const RunOutcome& out, const std::string& path, const MetricsRow& first) {
  const auto& c = e.config;
  const auto k = e.problem->constants();
  const auto& sched = e.mixer->schedule();
  std::printf("run '%s' -> %s: %s after %lld of %lld iterations (%.2f s)\n", e.run_name.c_str(), path.c_str(),
              to_string(out.status), static_cast<long long>(out.iterations_done), static_cast<long long>(c.iters),
              out.last.get("wall_time_s"));
  if (!out.message.empty()) std::printf("  %s\n", out.message.c_str());
  std::printf("  problem %s, d = %lld, L = %.4g, sigma = %.4g, G = %.4g, D = %.4g%s\n", c.problem.name.c_str(),
              static_cast<long long>(e.problem->dim()), k.L, k.sigma, k.G, k.D,
              k.assumption_iv ? "" : "  (violates Assumption 1(iv))");
  if (c.algorithm == "dqgan") {
    // A parameter server: one uplink and one downlink per iteration, no gossip rounds.
    std::printf("  %lld workers, parameter server, compressor %s%s; %s, eta_u = %.4g, eta_v = %.4g, m = %lld\n",
                static_cast<long long>(c.workers), c.compressor.c_str(),
                c.compressed() ? (c.error_feedback ? " with error feedback" : " without error feedback") : "",
                c.step_rule.c_str(), e.step.eta_u, e.step.eta_v, static_cast<long long>(c.batch));
  } else {
    std::printf("  %lld workers, %s, t = %d, rho = %.6f, %s = %.4g; %s, eta_u = %.4g, eta_v = %.4g, m = %lld\n",
                static_cast<long long>(c.workers), c.topology.c_str(), c.rounds, sched.rho(),
                sched.is_time_varying() ? "E||W_t..W_1 - J||" : "rho^t", e.rho_t, c.step_rule.c_str(), e.step.eta_u,
                e.step.eta_v, static_cast<long long>(c.batch));
  }
  auto line = [&](const char* name) {
    std::printf("  %-21s %12.4e -> %12.4e\n", name, first.get(name), out.last.get(name));
  };
  line("grad_norm_sq");
  line("consensus_error");
  line("grad_dispersion");
  line("dist_to_solution");
  // The problem's own metrics (a GAN's losses, modes covered, ...).
  static const std::vector<std::string> standard{"grad_norm_sq",  "consensus_error", "grad_dispersion",
                                                 "grad_avg_gap_sq", "dist_to_solution", "z_bar_norm",
                                                 "bytes_busiest", "oracle_calls",     "wall_time_s",
                                                 "eval_time_s",   "bytes_uplink",    "comm_time_s",
                                                 "compute_time_s"};
  for (const auto& [name, value] : out.last.values)
    if (std::find(standard.begin(), standard.end(), name) == standard.end()) line(name.c_str());
  std::printf("  bytes_busiest         %12.4e\n", out.last.get("bytes_busiest"));
  const auto& q = e.theorem;
  if (const std::string why = theorem1_not_applicable(c, k); !why.empty()) {
    std::printf("  Theorem 1: not applicable (%s)\n", why.c_str());
    return;
  }
  std::printf("  Theorem 1: eta_max = %.4g (%s), t_min = %.3g (%s), bound = %.4g\n", q.eta_max,
              q.eta_condition ? "eta within" : "eta above it", q.t_min, q.t_condition ? "t meets it" : "t below it",
              q.bound);
}

class FirstRow final : public Observer {
 public:
  void on_log(const MetricsRow& r) override {
    if (!seen) row = r, seen = true;
  }
  MetricsRow row;
  bool seen = false;
};

}  // namespace

int run_command(int argc, const char* const argv[]) { return run_or_resume(argc, argv, nullptr); }

int run_or_resume(int argc, const char* const argv[], const ResumePoint* resume) {
  ExperimentConfig config;
  OutputOptions output;
  const std::string problem = problem_of(argc, argv, config.problem.name);
  apply_problem_defaults(problem, config, output);
  auto desc = run_options(config, output);
  // Run-only (a sweep runs in one process): where the workers live.
  PlacementOptions placement;
  std::string& backend = placement.backend;
  NetworkEmulation& net = placement.net;
  std::string& exchange = placement.exchange;
  po::options_description where("Backend");
  where.add_options()("backend", po::value(&backend)->default_value(backend),
                      "sim: all workers in this process; mpi: under mpirun -np P, M/P workers per rank")
      ("net-latency", po::value(&net.latency_s)->default_value(0.0),
       "mpi: emulated network latency, seconds per message, slept after each exchange (README, MPI runs)")
      ("net-bandwidth", po::value(&net.bandwidth_Bps)->default_value(0.0),
       "mpi: emulated link bandwidth of a rank, bytes per second (0: no bandwidth term)")
      ("exchange", po::value(&exchange)->default_value(std::string(), "auto"),
       "mpi: transport of the gossip messages: mpi (host buffers), nccl (between the ranks' GPUs; needs "
       "--device cuda and a GPU per rank), auto (nccl where it can be used, else mpi). DQGAN's server "
       "link stays on MPI");
  desc.add(where);
  CheckpointOptions checkpoints;
  desc.add(checkpoint_options(checkpoints));
  std::set<std::string> given;
  std::string usage = "usage: dposg run [options]\nRuns one experiment and appends it to --out.";
  if (const std::string d = problem_defaults_help(problem); !d.empty()) usage += "\n" + d;
  if (!parse(argc, argv, desc, usage, nullptr, &given))
    return 0;
  settle_linked_defaults(problem, given, config);
  check_applicable(config, given);
  check_checkpoint_options(checkpoints);
  if (resume) {
    // The run as it was started, in the file it was written to (wherever that is now).
    config.run_name = resume->run;
    output.out = resume->file;
    output.overwrite = false;
    config.problem.noise_normals = resumed_noise_normals(config.problem.noise_normals, resume->state);
  }
  apply_arch_defaults(config, given);
  // Before the file is opened (and perhaps created): bad input leaves nothing on disk.
  if (!config.run_name.empty()) require_valid_run_name(config.run_name);
  PlacedExperiment placed = place_experiment(config, placement);
  Experiment& e = placed.experiment;
  const std::unique_ptr<MpiSession>& mpi = placed.mpi;
  const std::string no_checkpoints = checkpoints_unsupported(e);
  // Under MPI every rank continues from its own checkpoint, at the last iteration all of them have.
  std::optional<ResumePoint> rank_resume;
  if (resume && mpi) {
    rank_resume = resume_point_of_rank(*resume, *mpi);
    resume = &*rank_resume;
  }
  if (!no_checkpoints.empty() && (given.count("checkpoint-every") || given.count("checkpoint-seconds")))
    throw InputError(std::string("--") + (given.count("checkpoint-every") ? "checkpoint-every" : "checkpoint-seconds") +
                     ": checkpoints are not available for " + no_checkpoints);
  // Rank 0 alone writes the file and prints; the others compute their workers' part.
  const bool writes = placed.writes();
  std::unique_ptr<ResultsFile> file;
  std::unique_ptr<RunWriter> writer;
  if (writes) {
    try {
      const bool user_named = !config.run_name.empty();
      file = ResultsFile::open(output.out);
      if (file->has_run(e.run_name)) {
        if (output.overwrite) {
          file->remove_run(e.run_name);
        } else if (!user_named) {
          e.run_name = free_run_name(*file, e.run_name);
        }
      }
      writer = resume ? file->reopen_run(e.run_name, resume->iteration) : file->create_run(e.run_name);
    } catch (const std::exception& err) {
      // The other ranks are already in the run, waiting for this one.
      if (!mpi) throw;
      end_job_for(*mpi, err, placement.command, /*name_rank=*/false);
    }
  }
  // Rank 0 chose the run's name (free_run_name); the others need it to end the run should rank 0 die.
  if (mpi) e.run_name = mpi->broadcast(e.run_name);

  Progress progress(config.iters, writes && !output.quiet && isatty(STDERR_FILENO));
  FirstRow first;
  if (writer) write_placement_attributes(placed, placement, *writer);
  std::unique_ptr<CheckpointFile> sink;
  if ((writer || mpi) && no_checkpoints.empty()) {
    // Rows up to a checkpoint's iteration reach the results file (rank 0's) before it is renamed in.
    sink = make_checkpoint_file(output.out, e.run_name, argc, argv, resume, e.config.problem.noise_normals,
                                [&] { if (writer) writer->flush(true); }, mpi.get());
    e.driver.checkpoints = sink.get();
    e.driver.checkpoint_every = checkpoints.every;
    e.driver.checkpoint_seconds = checkpoints.seconds;
    if (resume) {
      e.driver.resume_from = &resume->state;
      if (writer) writer->set_attr("resumed_at_iteration", resume->iteration);
    }
    // Under mpirun, MpiSession's own SIGTERM handler is the stop request (core/mpi_backend.cpp):
    // a cancelled job whose ranks are all alive checkpoints and ends interrupted; one whose rank
    // died ends failed, and resumes from its last periodic checkpoint.
    if (!mpi) install_stop_handlers();
  }
  const RunOutcome out = run_experiment(e, writer.get(), {&first, &progress});
  if (writer && net.enabled()) writer->set_attr("net_emulated_s", emulated_network_seconds());
  writer.reset();
  // A finished or diverged run has no use for its checkpoint; an interrupted or failed one keeps it.
  if (sink && (out.status == RunStatus::finished || out.status == RunStatus::diverged)) sink->discard();
  if (writes && !output.quiet) print_summary(e, out, output.out, first.row);
  if (mpi && out.status == RunStatus::failed) {
    // mpirun ended the job because another rank died. If that was rank 0, the run in its file
    // says "running" for ever unless a survivor on its host ends it (rank 0's exclusive lock on
    // the file is free only once rank 0 is gone, or has ended the run itself).
    if (mpi_job_ending()) {
      if (writes)
        std::fprintf(stderr, "dposg run: the MPI job was ended (another rank died or failed, or the job was cancelled); "
                             "run '%s' of %s marked failed\n", e.run_name.c_str(), output.out.c_str());
      else if (mpi->shares_host_with_rank0() && end_run_of_dead_writer(output.out, e.run_name, mpi->rank()))
        std::fprintf(stderr, "dposg run: rank 0 died; rank %d marked run '%s' of %s failed (its rows so far are kept)\n",
                     mpi->rank(), e.run_name.c_str(), output.out.c_str());
    } else {
      // This rank's own failure: the others may be waiting for it. End the job (they stop, and
      // rank 0 records `failed`, within Open MPI's SIGTERM grace period).
      std::fprintf(stderr, "dposg: rank %d: run failed: %s\n", mpi->rank(), out.message.c_str());
    }
    std::fflush(stderr);
    mpi->abort(1);
  }
  if (out.status == RunStatus::interrupted) return exit_code_for_signal(out.stop_signal);
  return out.status == RunStatus::finished ? 0 : 1;
}

}  // namespace dposg::cli
