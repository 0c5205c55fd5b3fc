#include <cstdio>
#include <iostream>
#include <sstream>
#include <variant>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/recorder.hpp"

namespace dposg::cli {

namespace {

std::string attr_text(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) {
      std::ostringstream o;
      std::visit([&](const auto& x) { o << x; }, v);
      return o.str();
    }
  return "";
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

int info_command(int argc, const char* const argv[]) {
  std::string path;
  bool csv = false;
  po::options_description desc("Info");
  desc.add_options()("file", po::value(&path), "HDF5 results file")("csv", po::bool_switch(&csv), "print CSV for scripts");
  po::positional_options_description pos;
  pos.add("file", 1);
  if (!parse(argc, argv, desc, "usage: dposg info FILE [--csv]\nSummarises the runs in a results file.", &pos))
    return 0;
  if (path.empty()) throw InputError("FILE: give the results file to summarise (dposg info FILE)");
  auto reader = ResultsReader::open(path);
  const std::vector<std::string> columns = {"problem", "workers", "topology", "rounds", "step_rule", "lr",
                                            "batch", "iters", "seed", "rho"};
  const std::vector<std::string> metrics = {"grad_norm_sq", "consensus_error", "dist_to_solution"};
  if (csv) {
    std::printf("run,status,rows");
    for (const auto& c : columns) std::printf(",%s", c.c_str());
    for (const auto& m : metrics) std::printf(",final_%s", m.c_str());
    std::printf("\n");
  } else {
    std::printf("%s: %zu run(s)\n", path.c_str(), reader->runs().size());
    std::printf("%-44s %-9s %6s %-10s %3s %-12s %2s %-13s %9s %12s %12s\n", "run", "status", "rows", "problem", "M",
                "topology", "t", "step_rule", "rho", "grad_norm_sq", "consensus");
  }
  for (const auto& run : reader->runs()) {
    const RunSummary s = reader->summary(run);
    auto last = [&](const std::string& m) {
      const auto v = reader->metric(run, m);
      return v.empty() ? std::nan("") : v.back();
    };
    if (csv) {
      std::printf("%s,%s,%lld", csv_quote(run).c_str(), s.status.c_str(), static_cast<long long>(s.rows));
      for (const auto& c : columns) std::printf(",%s", csv_quote(attr_text(s, c)).c_str());
      for (const auto& m : metrics) std::printf(",%.17g", last(m));
      std::printf("\n");
    } else {
      std::printf("%-44s %-9s %6lld %-10s %3s %-12s %2s %-13s %9.6f %12.4e %12.4e\n", run.c_str(), s.status.c_str(),
                  static_cast<long long>(s.rows), attr_text(s, "problem").c_str(), attr_text(s, "workers").c_str(),
                  attr_text(s, "topology").c_str(), attr_text(s, "rounds").c_str(), attr_text(s, "step_rule").c_str(),
                  std::atof(attr_text(s, "rho").c_str()), last("grad_norm_sq"), last("consensus_error"));
    }
  }
  return 0;
}

}  // namespace dposg::cli
