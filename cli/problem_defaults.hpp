#pragma once
// Per-problem defaults on the command line: a problem's catalog entry declares its own defaults of
// `dposg run` options (problem_defaults()); they become the options' default values before the
// command line and the config file are parsed, so an option the user gives (in either place) wins,
// --help shows the problem's values, and `given` (cli::parse) still means "set by the user".
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/options.hpp"

namespace dposg::cli {

// The --problem of argv (after the sub-command), else of its --config file, else `fallback`. Reads
// nothing else; malformed input is left for cli::parse to report.
std::string problem_of(int argc, const char* const argv[], const std::string& fallback);

// Sets the bound variables of run_options(c, o) to the problem's defaults (parsed as if typed).
void apply_problem_defaults(const std::string& problem, ExperimentConfig& c, OutputOptions& o);

// After parsing, with the options the user set: a --lr given without --lr-v means both players'
// step (as --lr-v documents), so the problem's own --lr-v default is dropped then.
void settle_linked_defaults(const std::string& problem, const std::set<std::string>& given, ExperimentConfig& c);

// "Defaults of --problem NAME: ..." for --help; "" when the problem has none of its own.
std::string problem_defaults_help(const std::string& problem);

}  // namespace dposg::cli
