#pragma once
// --metrics: which of a run's metrics reach its file. Every metric is still computed (the driver's
// divergence check reads them all); the run's writer keeps the chosen ones.
#include <string>
#include <vector>

#include "app/experiment.hpp"

namespace dposg {

// Every metric a run of `e` logs, in the driver's order: the driver's own (core/driver.cpp; bytes_uplink
// only for a rule that reports one worker's bytes), then the problem's (evaluated once at the start
// to learn their names).
std::vector<std::string> loggable_metrics(const Experiment& e);

// The names of --metrics ("a,b,c", spaces ignored) checked against loggable_metrics; empty when the
// option is empty (every metric). Throws InputError("--metrics: ...") naming an unknown or repeated one.
std::vector<std::string> selected_metrics(const Experiment& e, const std::string& option);

}  // namespace dposg
