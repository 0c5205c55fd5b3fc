#pragma once
// The one place that maps command-line / config-file option names to values. Config files use
// the same keys without the leading dashes (Boost.Program_options INI syntax: `key = value`).
#include <boost/program_options.hpp>
#include <set>
#include <string>
#include <vector>

#include "app/experiment.hpp"

namespace dposg::cli {

namespace po = boost::program_options;

struct OutputOptions {
  std::string out = "dposg-run.h5";
  bool overwrite = false;
  bool quiet = false;
};

// "a | b | c": the choices of an option, from the catalog that registers them (problem_names(),
// topology_names(), step_rule_names(), compressor_names()), so that each name is written once.
std::string choices(const std::vector<std::string>& names);

// --topology, for every command that takes it.
void add_topology_option(po::options_description& desc, std::string& topology);

// Options of `dposg run` (and of every command that runs experiments).
po::options_description run_options(ExperimentConfig& c, OutputOptions& o);

// Parses argv (after the sub-command) and an optional --config file into the bound variables.
// Throws InputError with one line naming the offending option on any malformed input.
// Returns false when --help was given (the help text has been printed).
// `given` (if not null) receives the options set on the command line or in the config file, not
// left at their default (variables_map::defaulted()).
bool parse(int argc, const char* const argv[], const po::options_description& desc, const std::string& usage,
           po::positional_options_description* positional = nullptr, std::set<std::string>* given = nullptr);

// Every number of `parsed` as written: decimal, non-negative for unsigned options (InputError
// naming the option); for a command that parses by hand (sweep).
void check_numbers(const po::parsed_options& parsed, const po::variables_map& vm);

// Refuses (InputError, one line) an option given for a problem, rule or algorithm it does not
// apply to: what `dposg run` would otherwise ignore in silence.
void check_applicable(const ExperimentConfig& c, const std::set<std::string>& given);
// --gan-arch dcgan: its own defaults of --gan-width, --gan-latent and --gan-activation where not given.
void apply_arch_defaults(ExperimentConfig& c, const std::set<std::string>& given);

}  // namespace dposg::cli
