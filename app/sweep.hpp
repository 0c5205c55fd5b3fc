#pragma once
// Sweeps: a grid of experiments (every combination of option values x seeds) run into one results
// file, in parallel, resumable.
//
// The grid itself is plain text (key = an option name of `dposg run`, values as typed); turning a
// grid point into an ExperimentConfig is the CLI's job (cli/sweep_command.cpp parses it with the
// very options of `dposg run`, so an option means the same in both). This file owns what does not
// depend on option parsing: expanding the grid, naming runs, deciding what a re-run must redo, and
// running many experiments on threads while HDF5 is used from one thread at a time.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/driver.hpp"
#include "app/experiment.hpp"
#include "core/recorder.hpp"

namespace dposg {

// One axis of the grid: an option name and the values it takes, in the order given.
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};

// Parses "workers=4,8,16" (spaces around '=' and ',' are ignored). Throws InputError naming
// `option` (e.g. "--grid") on an empty key, an empty or repeated value.
GridAxis parse_grid_axis(const std::string& text, const std::string& option = "--grid");

// One combination: (key, value) in the order of the axes.
using GridPoint = std::vector<std::pair<std::string, std::string>>;

// Every combination, the first axis varying slowest (like nested loops in the order given).
// No axes -> one empty point. Throws InputError on a key given twice.
std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes);

// The run name of a point: "key=value,key=value,...", e.g. "workers=4,topology=ring,seed=0".
// Characters a run name cannot hold (anything but letters, digits and _ - . = ,) become '_'.
std::string sweep_run_name(const GridPoint& point);

// One run of a sweep, fully specified.
struct SweepRun {
  std::string name;
  GridPoint point;         // the grid values of this run, seed included
  ExperimentConfig config;
  // Every option of the run as "key=value;..." (sorted; output-only options left out). Recorded as
  // the run attribute `sweep_options`, so that a re-run can tell the same sweep from another one
  // that happens to use the same run names.
  std::string options_key;
  // The run's place in the sweep's whole grid (recorded as sweep_index); -1: its place in `runs`.
  std::int64_t grid_index = -1;
};

// What a re-run of a sweep does with a run already in the file (DESIGN.md §4 statuses).
// `resume`: an interrupted (or killed) run with a checkpoint of this sweep's run, continued from it.
enum class ResumeAction { run, skip, redo, resume };

struct ResumePolicy {
  bool retry_failed = false;  // redo runs recorded as "failed" (diverged runs are results: kept)
  bool overwrite = false;     // redo every run of the grid
};

// status "" = absent. finished and diverged are recorded results: skipped. failed: skipped unless
// retry_failed. running (left by a killed process) or anything else: redone.
ResumeAction resume_action(const std::string& status, const ResumePolicy& policy);

// The keys whose values differ between two options_key strings ("" when they agree). Keys present
// in only one of them are not compared: an option added to dposg later does not make old runs
// look different.
std::string options_key_difference(const std::string& a, const std::string& b);

struct SweepProgress {
  std::size_t total = 0;      // runs to execute in this invocation
  std::size_t done = 0;       // of those, completed
  double in_flight = 0;       // sum over running runs of their fraction of iterations done
  double elapsed_s = 0;
};

struct SweepOptions {
  int jobs = 1;  // runs executed at once (threads)
  ResumePolicy resume;
  // Called from the calling thread a few times a second while runs execute, and once at the end.
  std::function<void(const SweepProgress&)> on_progress;
  double progress_interval_s = 0.25;
  // The sweep itself (grid, seeds, fixed options), recorded as sweep_definition: `dposg merge`
  // joins only files of one sweep. "" = not recorded.
  std::string definition;
  // Checkpoints of each run that can have them (checkpoints_unsupported), as `dposg run`'s, to
  // FILE.checkpoints/RUN.ckpt: every checkpoint_every iterations (0: not by count) and after
  // checkpoint_seconds of wall time (0: not by time). SIGTERM/SIGINT (core/checkpoint.hpp's stop
  // handlers, installed by the caller) checkpoint the runs in flight, mark them interrupted and
  // hand out no further run. Off (no sink at all) unless `checkpoints`.
  bool checkpoints = false;
  std::int64_t checkpoint_every = 0;
  double checkpoint_seconds = 300.0;
  // The results file the checkpoints are named after ("": the file run_sweep writes). An MPI
  // sweep's ranks write runs into files of their own but checkpoint them under --out, where the
  // next job (any rank of it) finds them.
  std::string checkpoint_base;
};

struct SweepRunResult {
  std::string name;
  ResumeAction action = ResumeAction::run;
  std::string status;  // after the sweep: finished | diverged | failed | interrupted | (previous status if skipped)
  std::string message;
  int stop_signal = 0;  // interrupted: the signal
};

// Checks every run against what `file` holds (before anything is written): a run of the same name
// made with other options, or not by a sweep, is an InputError naming it (unless overwrite).
// Returns the action for each run, in order: a run left interrupted or running whose checkpoint
// (checkpoint_path) was written by this sweep's run (same options) is resumed; without one, redone.
std::vector<ResumeAction> plan_sweep(const ResultsFile& file, const std::vector<SweepRun>& runs,
                                     const ResumePolicy& policy);

// Executes the runs planned `run` or `redo` on up to opts.jobs threads. Every call into the HDF5
// file (create, attributes, metrics, status, remove) is serialised behind one mutex; the compute
// runs in parallel. With jobs > 1 a run whose config.threads is 0 gets one OpenMP thread (the
// jobs share the cores). A run that diverges or fails is recorded with that status and the sweep
// goes on; an error of the file itself (disk full, ...) stops handing out runs and is rethrown
// after the runs in flight end.
std::vector<SweepRunResult> run_sweep(ResultsFile& file, const std::vector<SweepRun>& runs,
                                      const std::vector<ResumeAction>& plan, const SweepOptions& opts);

}  // namespace dposg
