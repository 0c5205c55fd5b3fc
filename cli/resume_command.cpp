// `dposg resume FILE [--run NAME]` and the checkpoint options of `dposg run` (cli/resume.hpp).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/resume.hpp"
#include "core/error.hpp"
#include "core/mpi_tasks.hpp"
#include "core/recorder.hpp"

namespace dposg::cli {

po::options_description checkpoint_options(CheckpointOptions& o) {
  po::options_description d("Checkpoints (dposg resume continues a run from its last one)");
  d.add_options()("checkpoint-every", po::value(&o.every)->default_value(o.every),
                  "write a checkpoint every N iterations (0: not by count), to OUT.checkpoints/RUN.ckpt")(
      "checkpoint-seconds", po::value(&o.seconds)->default_value(o.seconds),
      "write a checkpoint after this many seconds of wall time since the last one (0: not by time). "
      "SIGTERM and SIGINT always write one, mark the run interrupted and exit 143 / 130");
  return d;
}

void check_checkpoint_options(const CheckpointOptions& o) {
  if (o.every < 0) throw InputError("--checkpoint-every: must be >= 0 (0: not by count), got " + std::to_string(o.every));
  if (!(o.seconds >= 0.0) || !std::isfinite(o.seconds))
    throw InputError("--checkpoint-seconds: must be a finite number >= 0 (0: not by time), got " + exact_text(o.seconds));
}


namespace {

constexpr char kSeparator = '\0';

std::vector<std::string> split_argv(const std::string& joined) {
  std::vector<std::string> out;
  if (joined.empty()) return out;
  std::size_t at = 0;
  for (;;) {
    const auto end = joined.find(kSeparator, at);
    out.push_back(joined.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) return out;
    at = end + 1;
  }
}

// Where --config's value is in argv: {index of the token, offset of the value in it}.
std::optional<std::pair<std::size_t, std::size_t>> config_argument(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return std::make_pair(i + 1, std::size_t{0});
    if (args[i].rfind("--config=", 0) == 0) return std::make_pair(i, std::string("--config=").size());
  }
  return std::nullopt;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::unique_ptr<CheckpointFile> make_checkpoint_file(const std::string& results, const std::string& run, int argc,
                                                     const char* const argv[], const ResumePoint* resume,
                                                     const std::string& noise_normals, std::function<void()> flush_rows,
                                                     const MpiSession* mpi) {
  StateArchive identity;
  if (resume) {
    // The options the run was started with, not the temporary config file that replays them.
    for (const char* key : {"run/argv", "run/cwd", "run/config_text"})
      if (resume->state.has(key)) identity.put_text(key, resume->state.text(key));
  } else {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string joined;
    for (std::size_t i = 0; i < args.size(); ++i) joined += (i ? std::string(1, kSeparator) : "") + args[i];
    identity.put_text("run/argv", joined);
    identity.put_text("run/cwd", std::filesystem::current_path().string());
    if (const auto at = config_argument(args)) identity.put_text("run/config_text", read_text(args[at->first].substr(at->second)));
  }
  identity.put_text("run/name", run);
  identity.put_text("run/noise_normals", noise_normals);
  if (!mpi) return std::make_unique<CheckpointFile>(checkpoint_path(results, run), std::move(identity), std::move(flush_rows));
  identity.put_integer("run/mpi_ranks", mpi->size());
  return std::make_unique<CheckpointFile>(checkpoint_path(results, run, mpi->rank()), std::move(identity),
                                          std::move(flush_rows), /*keep_previous=*/true);
}

std::string resumed_noise_normals(const std::string& given, const StateArchive& checkpoint) {
  if (given != "auto") return given;
  return checkpoint.has("run/noise_normals") ? checkpoint.text("run/noise_normals") : "std";
}

ResumePoint resume_point_of_rank(const ResumePoint& any, const MpiSession& mpi) {
  const std::int64_t ranks = any.state.has("run/mpi_ranks") ? any.state.integer("run/mpi_ranks") : 0;
  if (ranks != mpi.size())
    throw InputError("run '" + any.run + "' of " + any.file + " was checkpointed " +
                     (ranks ? "over " + std::to_string(ranks) + " MPI ranks: continue it with mpirun -np " +
                                  std::to_string(ranks) + " dposg resume"
                            : "in one process: continue it with dposg resume, without mpirun") +
                     " (" + std::to_string(mpi.size()) + " rank(s) now)");
  constexpr std::size_t kGenerations = 3;  // CheckpointFile's PATH, PATH.prev, PATH.next
  const auto mine = checkpoints_by_iteration(checkpoint_generations(checkpoint_path(any.file, any.run, mpi.rank())));
  std::vector<std::int64_t> iterations(kGenerations, -1);
  std::size_t n = 0;
  for (const auto& [k, path] : mine)
    if (n < kGenerations) iterations[n++] = k;
  const std::vector<std::int64_t> all = mpi.all_gather(iterations);
  auto has = [&](int rank, std::int64_t k) {
    const auto from = all.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(rank) * kGenerations);
    return std::find(from, from + static_cast<std::ptrdiff_t>(kGenerations), k) != from + static_cast<std::ptrdiff_t>(kGenerations);
  };
  // The largest of rank 0's iterations that every rank has: the same answer on every rank.
  std::int64_t common = -1;
  for (std::size_t g = 0; g < kGenerations; ++g) {
    const std::int64_t k = all[g];
    if (k < 0 || k <= common) continue;
    bool everyone = true;
    for (int r = 1; r < mpi.size() && everyone; ++r) everyone = has(r, k);
    if (everyone) common = k;
  }
  if (common < 0)
    throw InputError("run '" + any.run + "' of " + any.file + ": the ranks' checkpoints (" +
                     checkpoint_path(any.file, any.run, 0) + " and the others) have no iteration in common");
  ResumePoint p;
  p.file = any.file;
  p.run = any.run;
  p.iteration = common;
  p.state = StateArchive::read_file(mine.at(common));
  return p;
}

namespace {

// A sweep's checkpoint (app/sweep.cpp) holds its run's options key, not a command line: the sweep
// continues it. A damaged checkpoint is left for resume_one to refuse with its reason.
bool of_a_sweep(const std::string& checkpoint) {
  try {
    return StateArchive::read_file(checkpoint).has("sweep/options_key");
  } catch (const CheckpointError&) {
    return false;
  }
}

// `path`: the run's checkpoint to read its options from (any_checkpoint).
int resume_one(const std::string& file, const std::string& run, const std::string& path, bool quiet) {
  ResumePoint p;
  p.file = file;
  p.run = run;
  p.state = StateArchive::read_file(path);
  p.iteration = p.state.integer("driver/iteration");
  std::vector<std::string> args = split_argv(p.state.text("run/argv"));
  // The config file as it was when the run started, whatever became of the file since.
  std::string replay;
  if (const auto at = config_argument(args); at && p.state.has("run/config_text")) {
    replay = path + ".config";
    std::ofstream(replay, std::ios::binary) << p.state.text("run/config_text");
    args[at->first] = args[at->first].substr(0, at->second) + replay;
  }
  // Relative paths among the options (--topology-file, data sets) mean what they meant then.
  std::error_code ec;
  const std::filesystem::path cwd = p.state.text("run/cwd");
  const auto here = std::filesystem::current_path();
  if (std::filesystem::is_directory(cwd, ec)) std::filesystem::current_path(cwd, ec);
  if (!quiet && mpi_world_rank_from_environment() == 0)
    std::printf("resuming run '%s' of %s at iteration %lld (%s)\n", run.c_str(), file.c_str(),
                static_cast<long long>(p.iteration), path.c_str());
  std::fflush(stdout);
  std::vector<const char*> argv{"run"};
  for (const auto& a : args) argv.push_back(a.c_str());
  if (quiet && std::find(args.begin(), args.end(), "--quiet") == args.end()) argv.push_back("--quiet");
  int rc;
  try {
    rc = run_or_resume(static_cast<int>(argv.size()), argv.data(), &p);
  } catch (...) {
    std::filesystem::current_path(here, ec);
    if (!replay.empty()) std::remove(replay.c_str());
    throw;
  }
  std::filesystem::current_path(here, ec);
  if (!replay.empty()) std::remove(replay.c_str());
  return rc;
}

}  // namespace

int resume_command(int argc, const char* const argv[]) {
  std::string file, run;
  bool quiet = false;
  po::options_description desc("Resume");
  desc.add_options()("file", po::value(&file), "the results file (positional)")(
      "run", po::value(&run), "only this run (default: every run left interrupted, running or failed with a checkpoint)")(
      "quiet", po::bool_switch(&quiet), "print no summary");
  po::positional_options_description pos;
  pos.add("file", 1);
  if (!parse(argc, argv, desc,
             "usage: dposg resume FILE [--run NAME]\nContinues interrupted runs of FILE from their last checkpoint "
             "(FILE.checkpoints/RUN.ckpt) to their --iters, with the options they were started with.",
             &pos))
    return 0;
  if (file.empty()) throw InputError("FILE: missing (usage: dposg resume FILE [--run NAME])");
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw InputError("FILE: '" + file + "' does not exist");
  file = std::filesystem::absolute(file).lexically_normal().string();

  std::vector<std::pair<std::string, std::string>> todo;  // (run, the checkpoint to read its options from)
  {
    const auto reader = ResultsReader::open(file);
    const std::vector<std::string> runs = reader->runs();
    auto status_of = [&](const std::string& r) {
      try {
        return reader->summary(r).status;
      } catch (const std::exception&) {
        return std::string("damaged");
      }
    };
    auto resumable = [](const std::string& status) {
      return status == "interrupted" || status == "running" || status == "failed";
    };
    if (!run.empty()) {
      if (std::find(runs.begin(), runs.end(), run) == runs.end())
        throw InputError("--run: no run '" + run + "' in '" + file + "'");
      const std::string status = status_of(run);
      if (!resumable(status)) throw InputError("--run: run '" + run + "' is " + status + ": nothing to resume");
      const std::string ckpt = any_checkpoint(file, run);
      if (ckpt.empty())
        throw InputError("--run: run '" + run + "' has no checkpoint (" + checkpoint_path(file, run) + ")");
      if (of_a_sweep(ckpt))
        throw InputError("--run: run '" + run + "' belongs to a sweep: run the same dposg sweep again to continue it");
      todo.emplace_back(run, ckpt);
    } else {
      for (const auto& r : runs) {
        if (!resumable(status_of(r))) continue;
        const std::string ckpt = any_checkpoint(file, r);
        if (ckpt.empty()) continue;
        if (of_a_sweep(ckpt)) {
          if (!quiet) std::printf("run '%s' belongs to a sweep: run the same dposg sweep again to continue it\n", r.c_str());
          continue;
        }
        todo.emplace_back(r, ckpt);
      }
    }
  }
  // One MPI session per process: under mpirun, one run per resume.
  if (todo.size() > 1 && mpi_world_size_from_environment() > 1)
    throw InputError("--run: " + std::to_string(todo.size()) + " runs of '" + file +
                     "' can be resumed; under mpirun resume one at a time (dposg resume FILE --run NAME)");
  if (todo.empty()) {
    if (!quiet) std::printf("nothing to resume in %s (no interrupted run with a checkpoint)\n", file.c_str());
    return 0;
  }
  int worst = 0;
  for (const auto& [r, ckpt] : todo) {
    const int rc = resume_one(file, r, ckpt, quiet);
    if (rc > 128) return rc;  // interrupted again: the rest waits for the next resume
    worst = std::max(worst, rc);
  }
  return worst;
}

}  // namespace dposg::cli
