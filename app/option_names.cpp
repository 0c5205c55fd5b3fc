#include "app/option_names.hpp"

#include <array>
#include <utility>

#include "core/error.hpp"

namespace dposg::app {

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 27> kOptions = {{
    {"mixer.workers", "--workers"},
    {"mixer.topology", "--topology"},
    {"mixer.topology_file", "--topology-file"},
    {"step.eta_u", "--lr"},
    {"step.eta_v", "--lr-v"},
    {"step_rule.name", "--step-rule"},
    {"step_rule.beta1", "--beta1"},
    {"step_rule.beta2", "--beta2"},
    {"step_rule.eps", "--eps"},
    {"compressor.name", "--compressor"},
    {"compressor.k", "--compress-k"},
    {"compressor.ratio", "--compress-ratio"},
    {"compressor.qsgd_levels", "--qsgd-levels"},
    {"algorithm.name", "--algorithm"},
    {"algorithm.momentum", "--momentum"},
    {"algorithm.large_batch", "--large-batch"},
    {"algorithm.vr_period", "--vr-period"},
    {"problem.batch", "--batch"},
    {"recorder.out", "--out"},
    {"recorder.run_name", "--run-name"},
    {"recorder.overwrite", "--overwrite"},
    {"net.latency", "--net-latency"},
    {"net.bandwidth", "--net-bandwidth"},
    {"engine.backend", "--backend"},
    {"engine.exchange", "--exchange"},
    {"mixer.edge_prob", "--edge-prob"},
    {"mixer.seed", "--seed"},
}};

std::string spelling(std::string_view key) { return option_for(key); }

}  // namespace

std::string option_for(std::string_view key) {
  for (const auto& [k, option] : kOptions)
    if (k == key) return std::string(option);
  return {};
}

void install_option_names() { install_setting_spelling(&spelling); }

}  // namespace dposg::app
