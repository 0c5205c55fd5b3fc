#include "app/sweep.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <filesystem>

#include "core/checkpoint.hpp"
#include "core/error.hpp"

namespace dposg {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool run_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == '=' || c == ',';
}

std::map<std::string, std::string> parse_options_key(const std::string& key) {
  std::map<std::string, std::string> m;
  std::size_t pos = 0;
  while (pos < key.size()) {
    auto end = key.find('\n', pos);
    if (end == std::string::npos) end = key.size();
    const std::string line = key.substr(pos, end - pos);
    const auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
    pos = end + 1;
  }
  return m;
}

// The checkpoint of sweep run `r` in the results file `path`, if there is one that this sweep's
// run wrote (same options); a damaged or foreign one is not (the run is redone).
std::optional<StateArchive> checkpoint_of(const std::string& path, const SweepRun& r) {
  std::error_code ec;
  const std::string at = checkpoint_path(path, r.name);
  if (!std::filesystem::exists(at, ec)) return std::nullopt;
  try {
    StateArchive a = StateArchive::read_file(at);
    if (!a.has("sweep/options_key") || !options_key_difference(a.text("sweep/options_key"), r.options_key).empty())
      return std::nullopt;
    return a;
  } catch (const CheckpointError&) {
    return std::nullopt;
  }
}

std::string attr_string(const RunSummary& s, const std::string& name, bool& found) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) {
      if (const auto* p = std::get_if<std::string>(&v)) {
        found = true;
        return *p;
      }
    }
  found = false;
  return "";
}

// Publishes the fraction of iterations a run has done, for the sweep's progress estimate.
class FractionObserver final : public Observer {
 public:
  FractionObserver(std::atomic<double>& slot, std::int64_t iters) : slot_(slot), iters_(iters) {}
  void on_log(const MetricsRow& row) override {
    slot_.store(iters_ > 0 ? static_cast<double>(row.iteration) / static_cast<double>(iters_) : 1.0);
  }

 private:
  std::atomic<double>& slot_;
  std::int64_t iters_;
};

}  // namespace

GridAxis parse_grid_axis(const std::string& text, const std::string& option) {
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    throw InputError(option + " '" + text + "': expected KEY=VALUE,VALUE,... (e.g. workers=4,8,16)");
  GridAxis axis;
  axis.key = trim(text.substr(0, eq));
  if (axis.key.empty()) throw InputError(option + " '" + text + "': the option name before '=' is empty");
  const std::string rest = text.substr(eq + 1);
  std::size_t pos = 0;
  std::set<std::string> seen;
  while (true) {
    auto comma = rest.find(',', pos);
    const std::string v = trim(rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (v.empty()) throw InputError(option + " '" + text + "': empty value for " + axis.key);
    if (!seen.insert(v).second) throw InputError(option + " '" + text + "': value '" + v + "' given twice");
    axis.values.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return axis;
}

std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes) {
  std::set<std::string> keys;
  for (const auto& a : axes) {
    if (!keys.insert(a.key).second) throw InputError("--grid: option '" + a.key + "' given as a grid axis twice");
    if (a.values.empty()) throw InputError("--grid: no values for '" + a.key + "'");
  }
  std::vector<GridPoint> points{GridPoint{}};
  for (const auto& a : axes) {
    std::vector<GridPoint> next;
    next.reserve(points.size() * a.values.size());
    for (const auto& p : points)
      for (const auto& v : a.values) {
        GridPoint q = p;
        q.emplace_back(a.key, v);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  return points;
}

std::string sweep_run_name(const GridPoint& point) {
  std::string name;
  for (const auto& [k, v] : point) {
    if (!name.empty()) name += ',';
    name += k + "=" + v;
  }
  for (char& c : name)
    if (!run_name_char(c)) c = '_';
  return name;
}

ResumeAction resume_action(const std::string& status, const ResumePolicy& policy) {
  if (status.empty()) return ResumeAction::run;
  if (policy.overwrite) return ResumeAction::redo;
  if (status == "finished" || status == "diverged") return ResumeAction::skip;
  if (status == "failed") return policy.retry_failed ? ResumeAction::redo : ResumeAction::skip;
  return ResumeAction::redo;  // "running": its process was killed
}

std::string options_key_difference(const std::string& a, const std::string& b) {
  const auto ma = parse_options_key(a), mb = parse_options_key(b);
  std::string diff;
  for (const auto& [k, va] : ma) {
    auto it = mb.find(k);
    if (it == mb.end() || it->second == va) continue;
    if (!diff.empty()) diff += "; ";
    diff += k + ": " + va + " vs " + it->second;
  }
  return diff;
}

std::vector<ResumeAction> plan_sweep(const ResultsFile& file, const std::vector<SweepRun>& runs,
                                     const ResumePolicy& policy) {
  std::set<std::string> names;
  for (const auto& r : runs)
    if (!names.insert(r.name).second)
      throw InputError("--grid: two runs of the sweep would both be named '" + r.name + "'");
  std::vector<ResumeAction> plan;
  std::unique_ptr<ResultsReader> reader;
  for (const auto& r : runs) {
    if (!file.has_run(r.name)) {
      plan.push_back(ResumeAction::run);
      continue;
    }
    std::string status;
    try {
      status = file.run_status(r.name);
    } catch (const std::exception&) {
      // Unreadable metadata: a kill in the middle of an HDF5 flush (1.10 has no atomic commit; see
      // core/recorder.cpp) while this run was being written. Only the run being written can be hit
      // (finished runs' objects are not written again), so it is redone; remove_run moves it aside
      // if it cannot be unlinked.
      plan.push_back(ResumeAction::redo);
      continue;
    }
    if (policy.overwrite) {
      plan.push_back(ResumeAction::redo);
      continue;
    }
    if (!reader) reader = ResultsReader::open(file.path());
    bool found = false;
    std::string recorded;
    try {
      recorded = attr_string(reader->summary(r.name), "sweep_options", found);
    } catch (const std::exception&) {
      if (status != "running") throw;
      plan.push_back(ResumeAction::redo);  // the interrupted run, damaged as above
      continue;
    }
    const std::string where = "run '" + r.name + "' in '" + file.path() + "'";
    if (!found)
      throw InputError(where + " was not made by a sweep (no sweep_options attribute); use another --out, or "
                       "--overwrite to replace it");
    const std::string diff = options_key_difference(recorded, r.options_key);
    if (!diff.empty())
      throw InputError(where + " was made with other options (" + diff +
                       " now); use another --out, or --overwrite to replace it");
    ResumeAction action = resume_action(status.empty() ? "unknown" : status, policy);
    if (action == ResumeAction::redo && (status == "interrupted" || status == "running") &&
        checkpoint_of(file.path(), r))
      action = ResumeAction::resume;
    plan.push_back(action);
  }
  return plan;
}

std::vector<SweepRunResult> run_sweep(ResultsFile& file, const std::vector<SweepRun>& runs,
                                      const std::vector<ResumeAction>& plan, const SweepOptions& opts) {
  if (plan.size() != runs.size()) throw std::logic_error("run_sweep: plan and runs differ in size");
  std::vector<SweepRunResult> results(runs.size());
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    results[i].name = runs[i].name;
    results[i].action = plan[i];
    if (plan[i] == ResumeAction::skip) results[i].status = file.run_status(runs[i].name);
    else todo.push_back(i);
  }
  const int jobs = static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(opts.jobs < 1 ? 1 : opts.jobs, todo.size())));

  // The serial HDF5 library is not thread-safe: this mutex guards every call that may reach it.
  std::mutex h5;
  std::mutex state;  // guards `error` and the wake-up of the progress loop
  std::condition_variable wake;
  std::exception_ptr error;
  std::atomic<std::size_t> next{0}, done{0};
  std::atomic<bool> stop{false};
  auto fractions = std::make_unique<std::atomic<double>[]>(static_cast<std::size_t>(jobs));
  for (int j = 0; j < jobs; ++j) fractions[j].store(0.0);

  const std::string& checkpoint_base = opts.checkpoint_base.empty() ? file.path() : opts.checkpoint_base;
  auto worker = [&](int slot) {
    while (!stop.load() && !(opts.checkpoints && stop_signal() != 0)) {
      const std::size_t t = next.fetch_add(1);
      if (t >= todo.size()) break;
      const std::size_t i = todo[t];
      const SweepRun& run = runs[i];
      ExperimentConfig config = run.config;
      // OpenMP's thread count is per calling thread: run_experiment sets it from config.threads.
      if (jobs > 1 && config.threads == 0) config.threads = 1;
      std::unique_ptr<RunWriter> writer;
      std::unique_ptr<CheckpointFile> sink;
      std::optional<StateArchive> from;
      try {
        std::optional<Experiment> e;
        {
          // Building may read HDF5 input (--topology-file, --problem-file): under the lock too.
          std::lock_guard lock(h5);
          e.emplace(build_experiment(config));
          e->run_name = run.name;
          if (opts.checkpoints && checkpoints_unsupported(*e).empty()) {
            if (plan[i] == ResumeAction::resume) from = checkpoint_of(checkpoint_base, run);
            StateArchive identity;
            identity.put_text("run/name", run.name);
            identity.put_text("sweep/options_key", run.options_key);
            sink = std::make_unique<CheckpointFile>(checkpoint_path(checkpoint_base, run.name), std::move(identity), [&] {
              std::lock_guard flush_lock(h5);
              writer->flush(true);
            });
            e->driver.checkpoints = sink.get();
            e->driver.checkpoint_every = opts.checkpoint_every;
            e->driver.checkpoint_seconds = opts.checkpoint_seconds;
          }
        }
        if (from) {
          std::lock_guard lock(h5);
          e->driver.resume_from = &*from;
          const std::int64_t at = from->integer("driver/iteration");
          writer = file.reopen_run(run.name, at);
          write_run_start(*e, *writer);
          writer->set_attr("resumed_at_iteration", at);
        }
        if (!from) {
          std::lock_guard lock(h5);
          if (file.has_run(run.name)) file.remove_run(run.name);
          // sweep_index: the run's place in the grid, so that readers can give the grid's values
          // in the order they were given (the file lists runs alphabetically).
          std::vector<std::pair<std::string, AttrValue>> initial{
              {"sweep_options", AttrValue(run.options_key)},
              {"sweep_point", AttrValue(sweep_run_name(run.point))},
              {"sweep_index", AttrValue(run.grid_index >= 0 ? run.grid_index : static_cast<std::int64_t>(i))}};
          if (!opts.definition.empty()) initial.emplace_back("sweep_definition", AttrValue(opts.definition));
          writer = file.create_run(run.name, initial);
          write_run_start(*e, *writer);
        }
        // The sweep's writer: every HDF5 call under the lock; final/z_bar written even when empty.
        RecorderObserver recorder(*writer, &h5, true);
        FractionObserver fraction(fractions[slot], config.iters);
        const RunOutcome out = run_experiment(*e, nullptr, {&recorder, &fraction});
        std::lock_guard lock(h5);
        writer.reset();
        // A finished or diverged run has no use for its checkpoint; an interrupted or failed one keeps it.
        if (sink && (out.status == RunStatus::finished || out.status == RunStatus::diverged)) sink->discard();
        results[i].status = to_string(out.status);
        results[i].message = out.message;
        if (out.status == RunStatus::interrupted) {
          results[i].stop_signal = out.stop_signal;
          stop.store(true);  // no further run: the process is being stopped
        }
      } catch (...) {
        {
          std::lock_guard lock(h5);
          try {
            writer.reset();
          } catch (...) {
          }
        }
        std::lock_guard lock(state);
        if (!error) error = std::current_exception();
        stop.store(true);
      }
      fractions[slot].store(0.0);
      done.fetch_add(1);
      wake.notify_all();
    }
  };

  const auto start = std::chrono::steady_clock::now();
  auto report = [&] {
    if (!opts.on_progress) return;
    SweepProgress p;
    p.total = todo.size();
    p.done = done.load();
    for (int j = 0; j < jobs; ++j) p.in_flight += fractions[j].load();
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    opts.on_progress(p);
  };

  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(jobs));
  for (int j = 0; j < jobs && !todo.empty(); ++j) threads.emplace_back(worker, j);
  {
    std::unique_lock lock(state);
    const auto interval = std::chrono::duration<double>(opts.progress_interval_s);
    while (done.load() < todo.size() && !stop.load() && !(opts.checkpoints && stop_signal() != 0)) {
      wake.wait_for(lock, interval);
      lock.unlock();
      report();
      lock.lock();
    }
  }
  for (auto& th : threads) th.join();
  report();
  if (error) std::rethrow_exception(error);
  return results;
}

}  // namespace dposg
