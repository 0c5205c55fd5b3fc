#include "cli/problem_defaults.hpp"

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace dposg::cli {

std::string problem_of(int argc, const char* const argv[], const std::string& fallback) {
  std::string problem, config;
  po::options_description desc;
  desc.add_options()("problem", po::value(&problem))("config", po::value(&config));
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).allow_unregistered().run(), vm);
    if (!vm.count("problem") && vm.count("config") && !std::filesystem::is_directory(vm["config"].as<std::string>())) {
      std::ifstream in(vm["config"].as<std::string>());
      if (in) po::store(po::parse_config_file(in, desc, true), vm);
    }
  } catch (const std::exception&) {
    return fallback;  // cli::parse reports it, naming the option
  }
  return vm.count("problem") ? vm["problem"].as<std::string>() : fallback;
}

void apply_problem_defaults(const std::string& problem, ExperimentConfig& c, OutputOptions& o) {
  const auto defaults = problem_defaults(problem);
  if (defaults.empty()) return;
  std::vector<std::string> args;
  for (const auto& [key, value] : defaults) args.push_back("--" + key + "=" + value);
  const po::options_description desc = run_options(c, o);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    // A catalog entry naming an option that does not exist is a bug of the catalog, not bad input.
    throw std::logic_error("defaults of --problem " + problem + ": " + e.what());
  }
}

void settle_linked_defaults(const std::string& problem, const std::set<std::string>& given, ExperimentConfig& c) {
  if (!given.count("lr") || given.count("lr-v")) return;
  for (const auto& [key, value] : problem_defaults(problem))
    if (key == "lr-v") c.lr_v.clear();
}

std::string problem_defaults_help(const std::string& problem) {
  const auto defaults = problem_defaults(problem);
  if (defaults.empty()) return "";
  std::string s = "Defaults of --problem " + problem + " (its own; an option you give wins):";
  for (const auto& [key, value] : defaults) s += " --" + key + " " + value;
  return s + " (--lr alone: both players take it); --init auto means --init " + natural_init(problem) + ".";
}

}  // namespace dposg::cli
