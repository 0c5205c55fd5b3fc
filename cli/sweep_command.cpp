// dposg sweep: a grid of `dposg run`s (every combination x seeds) into one HDF5 file, in parallel,
// resumable. The grid points are parsed with the options of `dposg run` itself (cli::run_options),
// so every run option works in a sweep and means the same.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <boost/any.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/resume.hpp"
#include "cli/problem_defaults.hpp"
#include "core/error.hpp"
#include "app/experiment.hpp"
#include "core/live_file.hpp"
#include "core/recorder.hpp"
#include "app/merge.hpp"
#include "app/sweep.hpp"
#include "core/mpi_tasks.hpp"

namespace dposg::cli {

namespace {

const char* kUsage =
    "usage: dposg sweep --grid KEY=V1,V2,... [--grid ...] [--seeds N] [--jobs J] [run options] --out FILE\n"
    "Runs every combination of the grid values x N seeds (--seed, --seed+1, ...) as one run each in FILE,\n"
    "named from its grid values (e.g. workers=4,topology=ring,seed=0). KEY is any option of `dposg run`;\n"
    "the other run options are fixed for all runs. A config file (--config) takes the same keys, with\n"
    "repeated `grid = KEY=V1,V2` lines; the command line wins over it, key by key.\n"
    "Re-running the same sweep on the same file resumes it: finished and diverged runs are kept, runs\n"
    "interrupted (SIGTERM/SIGINT) or killed continue from their checkpoint (FILE.checkpoints/RUN.ckpt) where\n"
    "they have one and are redone where not, failed ones are kept unless --retry-failed.\n"
    "Exit code: 0 all runs finished, 1 some run diverged or failed, 2 bad input (no file written),\n"
    "143 / 130 stopped by SIGTERM / SIGINT (the runs in flight checkpointed and interrupted).";

// Options of `dposg run` that say where and how to write, not what to run: never part of a grid,
// and not compared when a sweep resumes (threads do not change the numbers of a run).
const std::set<std::string> kOutputOnly = {"out", "run-name", "overwrite", "quiet", "threads"};
// Fixed options not handed to each run's parse: the seed is per run, the rest are the sweep's.
const std::set<std::string> kNotPerRun = {"seed", "out", "run-name", "overwrite", "quiet"};

std::string value_text(const boost::any& v) {
  auto num = [](double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  if (const auto* p = boost::any_cast<std::string>(&v)) return *p;
  if (const auto* p = boost::any_cast<double>(&v)) return num(*p);
  if (const auto* p = boost::any_cast<float>(&v)) return num(*p);
  if (const auto* p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (const auto* p = boost::any_cast<long>(&v)) return std::to_string(*p);
  if (const auto* p = boost::any_cast<long long>(&v)) return std::to_string(*p);
  if (const auto* p = boost::any_cast<unsigned>(&v)) return std::to_string(*p);
  if (const auto* p = boost::any_cast<unsigned long>(&v)) return std::to_string(*p);
  if (const auto* p = boost::any_cast<unsigned long long>(&v)) return std::to_string(*p);
  if (const auto* p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (const auto* p = boost::any_cast<std::vector<std::string>>(&v)) {
    std::string s;
    for (const auto& x : *p) s += (s.empty() ? "" : " ") + x;
    return s;
  }
  return "?";
}

// Axes and fixed run options of one source (command line or config file).
struct Source {
  std::vector<GridAxis> axes;
  std::map<std::string, po::option> fixed;
};

Source collect(const po::parsed_options& parsed, const po::options_description& run_desc, const std::string& where) {
  Source s;
  for (const auto& o : parsed.options) {
    // Without a positional description Boost keeps a stray argument ("dposg sweep extra") unnamed.
    if (o.string_key.empty() && o.position_key >= 0 && !o.value.empty())
      throw InputError("unexpected argument '" + o.value.front() + "' (options start with --)");
    if (o.unregistered || o.string_key.empty()) continue;
    if (o.string_key == "grid") {
      for (const auto& v : o.value) s.axes.push_back(parse_grid_axis(v, where + "grid"));
    } else if (run_desc.find_nothrow(o.string_key, false)) {
      s.fixed[o.string_key] = o;
    }
  }
  std::set<std::string> keys;
  for (const auto& a : s.axes) {
    if (!keys.insert(a.key).second)
      throw InputError(where + "grid: option '" + a.key + "' given as a grid axis twice");
    if (s.fixed.count(a.key))
      throw InputError(where + a.key + ": given both as a fixed option and as a grid axis");
  }
  return s;
}

// The --problem of one grid point (its axis, else the fixed option, else the default): whose
// defaults the point's other options start from.
std::string point_problem(const GridPoint& point, const std::map<std::string, po::option>& fixed,
                          const std::string& fallback) {
  for (const auto& [k, v] : point)
    if (k == "problem") return v;
  if (auto it = fixed.find("problem"); it != fixed.end() && !it->second.value.empty()) return it->second.value.front();
  return fallback;
}

bool has_axis(const std::vector<GridAxis>& axes, const std::string& key) {
  return std::any_of(axes.begin(), axes.end(), [&](const GridAxis& a) { return a.key == key; });
}

void check_axis_key(const std::string& key, const po::options_description& run_desc) {
  if (!run_desc.find_nothrow(key, false)) {
    std::string hint;
    std::string dashed = key;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (dashed != key && run_desc.find_nothrow(dashed, false)) hint = " (did you mean '" + dashed + "'?)";
    throw InputError("--grid: unknown option '" + key + "'" + hint + "; a grid key must be an option of dposg run");
  }
  if (kOutputOnly.count(key) && key != "threads")
    throw InputError("--grid: '" + key + "' cannot vary within a sweep (it says where to write, not what to run)");
}

class SweepProgressLine {
 public:
  explicit SweepProgressLine(bool enabled) : enabled_(enabled) {}
  void operator()(const SweepProgress& p) {
    if (!enabled_ || p.total == 0) return;
    const double effective = static_cast<double>(p.done) + p.in_flight;
    char eta[32] = "?";
    if (effective > 0)
      std::snprintf(eta, sizeof eta, "%.0fs", p.elapsed_s * (static_cast<double>(p.total) - effective) / effective);
    std::fprintf(stderr, "\r\033[K  sweep: %zu/%zu runs done (%3.0f%%), %.0fs elapsed, ~%s left", p.done, p.total,
                 100.0 * effective / static_cast<double>(p.total), p.elapsed_s, eta);
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

struct Stats {
  std::vector<double> values;
  void add(double v) {
    if (std::isfinite(v)) values.push_back(v);
  }
  std::string mean_min_max() const {
    if (values.empty()) return "-";
    double s = 0;
    for (double v : values) s += v;
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    char buf[80];
    if (values.size() == 1) std::snprintf(buf, sizeof buf, "%.3e", values[0]);
    else std::snprintf(buf, sizeof buf, "%.3e [%.2e, %.2e]", s / static_cast<double>(values.size()), *lo, *hi);
    return buf;
  }
  std::string mean(const char* format = "%.3e") const {
    if (values.empty()) return "-";
    double s = 0;
    for (double v : values) s += v;
    char buf[32];
    std::snprintf(buf, sizeof buf, format, s / static_cast<double>(values.size()));
    return buf;
  }
};

// One line per combination, aggregated over its seeds.
void print_summary(const std::string& path, const std::vector<SweepRun>& runs, const std::vector<GridPoint>& combos,
                   std::size_t per_combo, const std::vector<SweepRunResult>& results, double seconds) {
  auto reader = ResultsReader::open(path);
  std::size_t ran = 0;
  for (const auto& r : results) ran += r.action != ResumeAction::skip;
  std::printf("sweep -> %s: %zu run(s) = %zu combination(s) x %zu seed(s); %zu run now, %zu kept from before (%.1f s)\n",
              path.c_str(), runs.size(), combos.size(), per_combo, ran, runs.size() - ran, seconds);
  std::size_t width = 11;
  std::vector<std::string> labels;
  for (const auto& c : combos) {
    labels.push_back(c.empty() ? "(no grid)" : sweep_run_name(c));
    width = std::max(width, labels.back().size());
  }
  std::printf("%-*s  %-22s  %-36s  %-10s  %s\n", static_cast<int>(width), "combination", "status",
              "final grad_norm_sq: mean [min, max]", "consensus", "s/run");
  std::map<std::string, int> totals;
  for (std::size_t c = 0; c < combos.size(); ++c) {
    std::map<std::string, int> count;
    Stats g, cons, wall;
    for (std::size_t s = 0; s < per_combo; ++s) {
      const std::size_t i = c * per_combo + s;
      const std::string status = results[i].status.empty() ? "unknown" : results[i].status;
      ++count[status];
      ++totals[status];
      auto last = [&](const char* m) {
        const auto v = reader->metric(runs[i].name, m);
        return v.empty() ? std::nan("") : v.back();
      };
      g.add(last("grad_norm_sq"));
      cons.add(last("consensus_error"));
      wall.add(last("wall_time_s"));
    }
    std::string status;
    for (const auto& [k, n] : count) status += (status.empty() ? "" : ", ") + std::to_string(n) + " " + k;
    std::printf("%-*s  %-22s  %-36s  %-10s  %s\n", static_cast<int>(width), labels[c].c_str(), status.c_str(),
                g.mean_min_max().c_str(), cons.mean().c_str(), wall.mean("%.3g").c_str());
  }
  std::string line;
  for (const auto& [k, n] : totals) line += (line.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  std::printf("%s.  Every run: dposg info %s; figures: dposg plot %s --group-by OPTION\n", line.c_str(), path.c_str(),
              path.c_str());
  if (totals.count("failed"))
    std::printf("Failed runs are kept when the sweep is run again; --retry-failed redoes them.\n");
}

// --shard i/n: the runs whose index in the whole grid is i mod n.
std::vector<SweepRun> shard_of(std::vector<SweepRun> runs, const std::string& text) {
  const auto slash = text.find('/');
  auto number = [&](const std::string& t) {
    if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 9)
      throw InputError("--shard: expected i/n with 0 <= i < n, got '" + text + "'");
    return std::stoul(t);
  };
  if (slash == std::string::npos) throw InputError("--shard: expected i/n with 0 <= i < n, got '" + text + "'");
  const std::size_t i = number(text.substr(0, slash)), n = number(text.substr(slash + 1));
  if (n == 0 || i >= n) throw InputError("--shard: expected i/n with 0 <= i < n, got '" + text + "'");
  std::vector<SweepRun> kept;
  for (std::size_t j = 0; j < runs.size(); ++j)
    if (j % n == i) kept.push_back(std::move(runs[j]));
  return kept;
}

void print_brief(const std::string& path, const std::string& what, const std::vector<SweepRunResult>& results) {
  std::map<std::string, int> count;
  std::size_t ran = 0;
  for (const auto& r : results) {
    if (r.name.empty()) continue;
    ++count[r.status.empty() ? "unknown" : r.status];
    ran += r.action != ResumeAction::skip;
  }
  std::string line;
  for (const auto& [k, n] : count) line += (line.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  std::printf("sweep -> %s (%s): %zu run now; %s\n", path.c_str(), what.c_str(), ran, line.c_str());
}

// The name rank 0 gives this job's rank files: the launcher's job id where it sets one, else rank
// 0's pid and clock (MPICH's hydra exports none), so that a rerun never writes a file of the name a
// killed job's file had (HDF5 tells open files apart by inode, which a deleted file may hand on to
// a new one).
std::string mpi_job_name() {
  for (const char* name : {"OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE", "PMI_KVSNAME"})
    if (const char* v = std::getenv(name); v && *v) {
      std::string job;
      for (const char* c = v; *c; ++c) job += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
      return job;
    }
  return "p" + std::to_string(::getpid()) + "t" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1));
}

// The per-rank file of an MPI sweep: OUT.rankR.JOB.h5.
std::string rank_file(const std::string& out, int rank, const std::string& job) {
  return out + ".rank" + std::to_string(rank) + "." + job + ".h5";
}

// Rank files a killed MPI sweep on `out` left behind (any number of ranks).
std::vector<std::string> leftover_rank_files(const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path p(out);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".rank";
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + 3 && name.compare(name.size() - 3, 3, ".h5") == 0 &&
        std::isdigit(static_cast<unsigned char>(name[prefix.size()])))
      found.push_back((dir / name).string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// `mpirun -np P dposg sweep ...`: every rank runs the runs it is handed (MpiTaskQueue: dynamic, a
// rank that finishes takes the next) into its own file OUT.rankR.JOB.h5, each file with one writer
// (serial HDF5, and a killed rank damages at most its own file); rank 0 then merges them into OUT
// and removes them. A job killed before that leaves the rank files: the next sweep on OUT merges
// their recorded runs first (runs left running are dropped and redone), then plans as always.
//
// Checkpoints: each rank checkpoints its runs under --out (OUT.checkpoints/RUN.ckpt), not under its
// rank file, so that the next job finds them whichever rank takes the run. SIGTERM (mpirun passes
// a cancellation on to every rank; MpiSession's handler is the stop request) checkpoints the runs
// in flight and leaves them `interrupted` in the rank files; no rank takes a further run, and the
// rank files stay, as a killed job's do: the next sweep merges them, interrupted and killed runs
// included (merge_results' `continuable`), and hands each run with a checkpoint to a rank that
// copies it into its own file and continues it.
int mpi_sweep(const std::vector<SweepRun>& runs, const OutputOptions& output, const ResumePolicy& policy,
              const std::string& definition, const CheckpointOptions& checkpoints) {
  MpiSession session(nullptr, nullptr);
  const std::string& out = output.out;
  std::vector<std::size_t> todo;
  std::string job, actions;  // actions: one character per run, 'r' = resume from its checkpoint
  if (session.rank() == 0) {
    try {
      const auto left = leftover_rank_files(out);
      if (!left.empty()) {
        merge_results(out, left, false, true);
        // Their writers are gone (killed) and left their live markers (core/live_file.hpp) behind.
        for (const auto& f : left) {
          std::filesystem::remove(f);
          std::filesystem::remove(live_marker_path(f));
        }
      }
      auto file = ResultsFile::open(out);
      const std::vector<ResumeAction> plan = plan_sweep(*file, runs, policy);
      for (std::size_t i = 0; i < runs.size(); ++i) {
        if (plan[i] != ResumeAction::skip) todo.push_back(i);
        actions += plan[i] == ResumeAction::resume ? 'r' : '-';
      }
      job = mpi_job_name();
    } catch (const std::exception& e) {
      const bool input = dynamic_cast<const InputError*>(&e) != nullptr;
      std::fprintf(stderr, "dposg sweep: %s%s\n", input ? "" : "error: ", e.what());
      std::fflush(stderr);
      session.abort(input ? 2 : 1);
    }
  }
  // No rank makes its file before rank 0 has merged and removed the leftovers: a broadcast returns
  // on no rank before rank 0 has called it. (MPI_Gather is no such barrier: a rank's contribution
  // goes out eagerly and its call returns at once; rank 0 then took the files the other ranks had
  // just made for this job as leftovers, and removed them while they wrote their runs into them.)
  job = session.broadcast(job);
  actions = session.broadcast(actions);
  const std::string mine = rank_file(out, session.rank(), job);
  int stopped_by = 0;
  try {
    (void)ResultsFile::open(mine);
    MpiTaskQueue queue(session, todo);
    SweepOptions opts;
    opts.jobs = 1;
    opts.resume = policy;
    opts.definition = definition;
    opts.checkpoints = true;
    opts.checkpoint_every = checkpoints.every;
    opts.checkpoint_seconds = checkpoints.seconds;
    opts.checkpoint_base = out;
    while (!stop_signal()) {
      const auto i = queue.next();
      if (!i) break;
      std::vector<ResumeAction> one(runs.size(), ResumeAction::skip);
      one[*i] = ResumeAction::run;
      // Continued from --out: the run with the rows it logged up to its checkpoint, into this
      // rank's file (run_sweep then reopens it there). Nobody writes --out while the job runs.
      if (actions.size() == runs.size() && actions[*i] == 'r') {
        copy_run(out, mine, runs[*i].name);
        one[*i] = ResumeAction::resume;
      }
      auto part = ResultsFile::open(mine);
      for (const auto& r : run_sweep(*part, runs, one, opts))
        if (r.stop_signal) stopped_by = r.stop_signal;
    }
    if (stop_signal()) {
      stopped_by = stop_signal();
      queue.leave();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dposg sweep: rank %d: error: %s\n", session.rank(), e.what());
    std::fflush(stderr);
    session.abort(1);
  }
  // Rank 0 passes this once every rank has closed its file (rank 0's own is closed above); the
  // other ranks have nothing left to do and pass at once.
  (void)session.gather(0);
  if (stopped_by) {
    // The rank files stay for the next sweep on --out, which continues their interrupted runs.
    if (session.rank() == 0 && !output.quiet)
      std::printf("Stopped by %s: the runs in flight are checkpointed and interrupted in %s.rank*.h5; run the same "
                  "sweep again to continue them.\n", stopped_by == SIGINT ? "SIGINT" : "SIGTERM", out.c_str());
    return exit_code_for_signal(stopped_by);
  }
  if (session.rank() != 0) return 0;
  std::vector<std::string> parts;
  for (int r = 0; r < session.size(); ++r)
    if (std::filesystem::exists(rank_file(out, r, job))) parts.push_back(rank_file(out, r, job));
  merge_results(out, parts, true);
  for (const auto& f : parts) std::filesystem::remove(f);
  auto reader = ResultsReader::open(out);
  const auto names = reader->runs();
  const std::set<std::string> present(names.begin(), names.end());
  std::vector<SweepRunResult> results;
  bool all_finished = true;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    SweepRunResult r;
    r.name = runs[i].name;
    r.action = std::find(todo.begin(), todo.end(), i) != todo.end() ? ResumeAction::run : ResumeAction::skip;
    r.status = present.count(r.name) ? reader->summary(r.name).status : "";
    all_finished = all_finished && r.status == "finished";
    results.push_back(r);
  }
  if (!output.quiet) print_brief(out, std::to_string(runs.size()) + " runs over " + std::to_string(session.size()) + " ranks", results);
  return all_finished ? 0 : 1;
}

}  // namespace

int sweep_command(int argc, const char* const argv[]) {
  ExperimentConfig base;
  OutputOptions output;
  output.out = "dposg-sweep.h5";
  int seeds = 1;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool retry_failed = false;
  std::string config_path, shard;

  po::options_description sweep_desc("Sweep");
  sweep_desc.add_options()
      ("grid", po::value<std::vector<std::string>>(),
       "KEY=V1,V2,...: one axis of the grid (repeat for more axes); KEY is any option of dposg run")
      ("seeds", po::value(&seeds)->default_value(seeds), "runs per combination, with seeds --seed, --seed+1, ...")
      ("jobs", po::value(&jobs)->default_value(jobs),
       "runs executed at once (threads); with more than one, each run gets one OpenMP thread unless --threads")
      ("retry-failed", po::bool_switch(&retry_failed), "redo runs recorded as failed (diverged runs are results: kept)")
      ("shard", po::value(&shard),
       "i/n: only the runs of the grid whose index is i mod n (0 <= i < n), for a scheduler's job array; join the "
       "shards' files with dposg merge");
  CheckpointOptions checkpoints;
  sweep_desc.add(checkpoint_options(checkpoints));
  const po::options_description run_desc = run_options(base, output);
  po::options_description file_desc;
  file_desc.add(sweep_desc).add(run_desc);
  po::options_description meta("General");
  meta.add_options()("help,h", "print this help")("config", po::value(&config_path),
                                                   "config file: the same keys without dashes, `key = value`");
  po::options_description all;
  all.add(meta).add(file_desc);

  // Parsed by hand (not cli::parse) because the grid needs the raw options of each source.
  po::variables_map vm;
  std::optional<po::parsed_options> cmd, cfg;
  try {
    cmd.emplace(po::command_line_parser(argc, argv).options(all).run());
    po::store(*cmd, vm);
    if (vm.count("help")) {
      std::cout << kUsage << "\n\n" << all << "\n";
      return 0;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) throw InputError("--config: cannot open '" + path + "'");
      try {
        cfg.emplace(po::parse_config_file(in, file_desc, false));
        po::store(*cfg, vm);  // the command line wins: po::store keeps the first value stored
      } catch (const po::error& e) {
        throw InputError("--config: '" + path + "': " + e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(e.what());
  }
  if (seeds < 1) throw InputError("--seeds: must be >= 1, got " + std::to_string(seeds));
  check_checkpoint_options(checkpoints);
  if (jobs < 1) throw InputError("--jobs: must be >= 1, got " + std::to_string(jobs));
  if (!base.run_name.empty()) throw InputError("--run-name: a sweep names each run from its grid values; drop it");

  // Merge the two sources key by key; the command line wins.
  const Source c = collect(*cmd, run_desc, "--");
  const Source f = cfg ? collect(*cfg, run_desc, "--config: ") : Source{};
  std::vector<GridAxis> axes;
  for (const auto& a : f.axes) {
    if (c.fixed.count(a.key)) continue;
    auto it = std::find_if(c.axes.begin(), c.axes.end(), [&](const GridAxis& x) { return x.key == a.key; });
    axes.push_back(it != c.axes.end() ? *it : a);
  }
  for (const auto& a : c.axes)
    if (!has_axis(axes, a.key)) axes.push_back(a);
  std::map<std::string, po::option> fixed = c.fixed;
  for (const auto& [k, o] : f.fixed)
    if (!fixed.count(k) && !has_axis(c.axes, k)) fixed.emplace(k, o);
  for (const auto& a : axes) check_axis_key(a.key, run_desc);
  const bool seed_axis = has_axis(axes, "seed");
  if (seed_axis && seeds != 1) throw InputError("--seeds: cannot be combined with a grid axis over seed");

  // Every run, validated (build_experiment) before the output file is touched.
  const std::vector<GridPoint> combos = expand_grid(axes);
  const std::size_t per_combo = seed_axis ? 1 : static_cast<std::size_t>(seeds);
  std::vector<SweepRun> runs;
  runs.reserve(combos.size() * per_combo);
  for (const auto& combo : combos) {
    for (std::size_t s = 0; s < per_combo; ++s) {
      SweepRun run;
      run.point = combo;
      if (!seed_axis) run.point.emplace_back("seed", std::to_string(base.seed + s));
      run.name = sweep_run_name(run.point);
      OutputOptions ignored;
      apply_problem_defaults(point_problem(run.point, fixed, base.problem.name), run.config, ignored);
      const po::options_description point_desc = run_options(run.config, ignored);
      po::parsed_options parsed(&point_desc);
      for (const auto& [k, v] : run.point) {
        po::option o(k, {v});
        o.original_tokens = {"--grid " + k + "=" + v};
        parsed.options.push_back(o);
      }
      for (const auto& [k, o] : fixed)
        if (!kNotPerRun.count(k)) parsed.options.push_back(o);
      po::variables_map pvm;
      try {
        po::store(parsed, pvm);
        po::notify(pvm);
      } catch (const po::error& e) {
        throw InputError("--grid: " + std::string(e.what()));
      }
      // As `dposg run` checks its options: numbers as written, options that do not apply.
      check_numbers(parsed, pvm);
      std::set<std::string> given;
      for (const auto& [k, v] : pvm)
        if (!v.defaulted()) given.insert(k);
      check_applicable(run.config, given);
      std::set<std::string> point_given;
      for (const auto& o : parsed.options) point_given.insert(o.string_key);
      settle_linked_defaults(point_problem(run.point, fixed, base.problem.name), point_given, run.config);
      apply_arch_defaults(run.config, given);
      std::string key;
      // init, noise-normals and lr-v as the run takes them (auto resolved, a default --lr-v dropped
      // by --lr): a sweep written before their auto existed still matches.
      for (const auto& [k, v] : pvm)
        if (!kOutputOnly.count(k))
          key += k + "=" +
                 (k == "init"            ? resolved_init(run.config)
                  : k == "noise-normals" ? resolved_noise_normals(run.config)
                  : k == "lr-v"          ? run.config.lr_v
                                         : value_text(v.value())) +
                 "\n";
      run.options_key = key;
      try {
        (void)build_experiment(run.config);
      } catch (const InputError& e) {
        throw InputError("run '" + run.name + "': " + e.what());
      }
      run.grid_index = static_cast<std::int64_t>(runs.size());
      runs.push_back(std::move(run));
    }
  }

  std::set<std::string> names;
  for (const auto& run : runs)
    if (!names.insert(run.name).second)
      throw InputError("--grid: two runs would both be named '" + run.name +
                       "' (values that differ only in characters a run name cannot hold)");

  // The sweep itself, for `dposg merge` (files of one sweep only): its grid, seeds and fixed options.
  std::string definition = "seeds=" + std::to_string(per_combo) + "\n";
  for (const auto& a : axes) {
    std::string v;
    for (const auto& x : a.values) v += (v.empty() ? "" : ",") + x;
    definition += "grid " + a.key + "=" + v + "\n";
  }
  for (const auto& [k, o] : fixed) {
    if (kOutputOnly.count(k)) continue;
    std::string v;
    for (const auto& x : o.value) v += (v.empty() ? "" : " ") + x;
    definition += k + "=" + v + "\n";
  }
  const std::size_t grid_size = runs.size();
  if (!shard.empty()) runs = shard_of(std::move(runs), shard);

  ResumePolicy policy;
  policy.retry_failed = retry_failed;
  policy.overwrite = output.overwrite;
  if (mpi_world_size_from_environment() > 1) return mpi_sweep(runs, output, policy, definition, checkpoints);
  const auto start = std::chrono::steady_clock::now();
  auto file = ResultsFile::open(output.out);
  const std::vector<ResumeAction> plan = plan_sweep(*file, runs, policy);

  SweepProgressLine progress(!output.quiet && isatty(STDERR_FILENO));
  SweepOptions opts;
  opts.jobs = jobs;
  opts.resume = policy;
  opts.on_progress = [&](const SweepProgress& p) { progress(p); };
  opts.definition = definition;
  opts.checkpoints = true;
  opts.checkpoint_every = checkpoints.every;
  opts.checkpoint_seconds = checkpoints.seconds;
  install_stop_handlers();
  std::vector<SweepRunResult> results;
  try {
    results = run_sweep(*file, runs, plan, opts);
  } catch (...) {
    progress.clear();
    throw;
  }
  progress.clear();
  file.reset();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!output.quiet && runs.size() == grid_size) print_summary(output.out, runs, combos, per_combo, results, seconds);
  else if (!output.quiet) print_brief(output.out, "shard " + shard + " of " + std::to_string(grid_size) + " runs", results);
  for (const auto& r : results)
    if (r.stop_signal) {
      if (!output.quiet)
        std::printf("Stopped by %s: the runs in flight are checkpointed and interrupted; run the same sweep again to "
                    "continue them.\n", r.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
      return exit_code_for_signal(r.stop_signal);
    }
  if (stop_signal() != 0) return exit_code_for_signal(stop_signal());
  const bool all_finished =
      std::all_of(results.begin(), results.end(), [](const SweepRunResult& r) { return r.status == "finished"; });
  return all_finished ? 0 : 1;
}

}  // namespace dposg::cli
