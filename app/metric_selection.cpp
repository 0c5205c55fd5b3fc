#include "app/metric_selection.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace dposg {

std::vector<std::string> loggable_metrics(const Experiment& e) {
  std::vector<std::string> names{"grad_norm_sq",     "consensus_error", "grad_dispersion", "grad_avg_gap_sq",
                                 "dist_to_solution", "z_bar_norm"};
  // A throwaway stream: the run's own streams are not touched.
  Rng rng = make_rng(e.config.seed, StreamPurpose::evaluation, 0x6d657472);
  MetricsRow extra;
  e.problem->extra_metrics(e.Z0.rowwise().mean(), rng, extra);
  for (const auto& [name, value] : extra.values) names.push_back(name);
  names.push_back("bytes_busiest");
  if (e.rule->worker_bytes_per_iteration()) names.push_back("bytes_uplink");
  for (const char* n : {"oracle_calls", "wall_time_s", "eval_time_s", "comm_time_s", "compute_time_s"}) names.push_back(n);
  return names;
}

std::vector<std::string> selected_metrics(const Experiment& e, const std::string& option) {
  std::vector<std::string> chosen;
  std::string name;
  auto take = [&] {
    if (name.empty()) throw InputError("--metrics: an empty name in '" + option + "' (a comma-separated list)");
    if (std::find(chosen.begin(), chosen.end(), name) != chosen.end())
      throw InputError("--metrics: '" + name + "' given twice");
    chosen.push_back(name);
    name.clear();
  };
  if (option.find_first_not_of(" \t") == std::string::npos) return {};
  for (char c : option) {
    if (c == ',') take();
    else if (c != ' ' && c != '\t') name += c;
  }
  take();
  const std::vector<std::string> known = loggable_metrics(e);
  for (const auto& n : chosen)
    if (n != "iteration" && std::find(known.begin(), known.end(), n) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw InputError("--metrics: unknown metric '" + n + "' for this run (known: " + list + ")");
    }
  chosen.erase(std::remove(chosen.begin(), chosen.end(), "iteration"), chosen.end());  // always logged
  if (chosen.empty()) throw InputError("--metrics: name at least one metric besides iteration (which is always logged)");
  return chosen;
}

}  // namespace dposg
