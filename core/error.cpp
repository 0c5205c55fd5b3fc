#include "core/error.hpp"

#include <algorithm>
#include <array>

namespace dposg {

namespace {

constexpr std::array<std::string_view, 27> kKeys = {
    "mixer.workers",       "mixer.topology",       "mixer.topology_file",  "step.eta_u",
    "step.eta_v",          "step_rule.name",       "step_rule.beta1",      "step_rule.beta2",
    "step_rule.eps",       "compressor.name",      "compressor.k",         "compressor.ratio",
    "compressor.qsgd_levels", "algorithm.name",    "algorithm.momentum",   "algorithm.large_batch",
    "algorithm.vr_period", "problem.batch",        "recorder.out",         "recorder.run_name",
    "recorder.overwrite",  "net.latency",          "net.bandwidth",        "engine.backend",
    "engine.exchange",     "mixer.edge_prob",      "mixer.seed"};

SettingSpelling g_spelling = nullptr;

bool known(std::string_view key) { return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end(); }

}  // namespace

std::span<const std::string_view> setting_keys() { return kKeys; }

std::string setting(std::string_view key) {
  if (!known(key)) throw std::logic_error("setting: '" + std::string(key) + "' is not a key of setting_keys()");
  std::string marked;
  marked.reserve(key.size() + 2);
  marked += '{';
  marked.append(key);
  marked += '}';
  return marked;
}

void install_setting_spelling(SettingSpelling spelling) { g_spelling = spelling; }

std::string render_settings(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t open = text.find('{', i);
    if (open == std::string_view::npos) break;
    const std::size_t close = text.find('}', open + 1);
    if (close == std::string_view::npos) break;
    const std::string_view key = text.substr(open + 1, close - open - 1);
    out.append(text.substr(i, open - i));
    if (known(key)) {
      std::string spelled = g_spelling != nullptr ? g_spelling(key) : std::string();
      out += spelled.empty() ? std::string(key) : spelled;
      i = close + 1;
    } else {
      out += '{';
      i = open + 1;
    }
  }
  out.append(text.substr(i));
  return out;
}

std::string InputError::leading_key(std::string_view text) {
  if (text.empty() || text.front() != '{') return {};
  const std::size_t close = text.find('}');
  if (close == std::string_view::npos) return {};
  const std::string_view key = text.substr(1, close - 1);
  return known(key) ? std::string(key) : std::string();
}

}  // namespace dposg
