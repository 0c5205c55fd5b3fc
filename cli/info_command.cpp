#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <sstream>
#include <variant>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/recorder.hpp"

namespace dposg::cli {

namespace {

// Doubles in the shortest form that reads back exactly, so that scripts get the stored value.
std::string attr_text(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) {
      if (const auto* d = std::get_if<double>(&v)) {
        char buf[40];
        const auto r = std::to_chars(buf, buf + sizeof buf, *d);
        return std::string(buf, r.ptr);
      }
      std::ostringstream o;
      std::visit([&](const auto& x) { o << x; }, v);
      return o.str();
    }
  return "";
}

// The grid of the sweeps in the file, from each run's `sweep_point` ("key=value,..."): keys and
// values in order of first appearance, the runs taken in the order the sweep made its grid
// (`sweep_index`; runs of files without it, and runs not made by a sweep, in the file's order).
std::vector<std::pair<std::string, std::vector<std::string>>> sweep_grid(const std::vector<RunSummary>& summaries) {
  std::vector<const RunSummary*> runs;
  for (const auto& s : summaries) runs.push_back(&s);
  auto index = [](const RunSummary* s) {
    for (const auto& [n, v] : s->attrs)
      if (const auto* i = std::get_if<std::int64_t>(&v); i && n == "sweep_index") return *i;
    return std::numeric_limits<std::int64_t>::max();
  };
  std::stable_sort(runs.begin(), runs.end(), [&](const RunSummary* a, const RunSummary* b) { return index(a) < index(b); });
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;
  for (const RunSummary* r : runs) {
    const RunSummary& s = *r;
    std::stringstream point(attr_text(s, "sweep_point"));
    std::string kv;
    while (std::getline(point, kv, ',')) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
      auto it = std::find_if(grid.begin(), grid.end(), [&](const auto& g) { return g.first == key; });
      if (it == grid.end()) it = grid.insert(grid.end(), {key, {}});
      if (std::find(it->second.begin(), it->second.end(), value) == it->second.end()) it->second.push_back(value);
    }
  }
  return grid;
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
  std::vector<RunSummary> summaries;
  std::size_t width = 44;
  // A run whose objects cannot be read (a writer killed in the middle of a flush) is listed as
  // `damaged` and named on stderr; every other run of the file is still summarised.
  for (const auto& run : reader->runs()) {
    try {
      summaries.push_back(reader->summary(run));
    } catch (const std::exception& e) {
      RunSummary s;
      s.name = run;
      s.status = "damaged";
      summaries.push_back(std::move(s));
      std::fprintf(stderr, "dposg info: run '%s' is damaged and cannot be read (%s)\n", run.c_str(), e.what());
    }
    width = std::max(width, run.size());
  }
  const auto grid = sweep_grid(summaries);
  std::vector<std::string> columns = {"problem", "workers", "topology", "rounds", "step_rule", "lr",
                                      "batch", "iters", "seed", "rho"};
  // Every option a sweep varied is a CSV column too (attribute names: '_' for '-').
  for (const auto& [key, values] : grid) {
    std::string attr = key;
    std::replace(attr.begin(), attr.end(), '-', '_');
    if (std::find(columns.begin(), columns.end(), attr) == columns.end()) columns.push_back(attr);
  }
  const std::vector<std::string> metrics = {"grad_norm_sq", "consensus_error", "dist_to_solution"};
  if (csv) {
    std::printf("run,status,rows");
    for (const auto& c : columns) std::printf(",%s", c.c_str());
    for (const auto& m : metrics) std::printf(",final_%s", m.c_str());
    std::printf("\n");
  } else {
    std::printf("%s: %zu run(s)\n", path.c_str(), summaries.size());
    if (!grid.empty()) {
      std::printf("sweep grid:");
      for (std::size_t i = 0; i < grid.size(); ++i) {
        std::printf("%s %s = ", i ? ";" : "", grid[i].first.c_str());
        for (std::size_t j = 0; j < grid[i].second.size(); ++j)
          std::printf("%s%s", j ? ", " : "", grid[i].second[j].c_str());
      }
      std::printf("\n");
    }
  }
  // The text table: every cell first, then each column as wide as its widest cell (long problem
  // or topology names do not push the columns after them out of line).
  std::vector<std::vector<std::string>> table = {
      {"run", "status", "rows", "problem", "M", "topology", "t", "step_rule", "rho", "grad_norm_sq", "consensus"}};
  const std::vector<bool> right = {false, false, true, false, true, false, true, false, true, true, true};
  for (const RunSummary& s : summaries) {
    const std::string& run = s.name;
    auto last = [&](const std::string& m) {
      if (s.status == "damaged") return std::nan("");
      try {
        const auto v = reader->metric(run, m);
        return v.empty() ? std::nan("") : v.back();
      } catch (const std::exception&) {
        return std::nan("");  // a damaged dataset in a readable run
      }
    };
    if (csv) {
      std::printf("%s,%s,%lld", csv_quote(run).c_str(), s.status.c_str(), static_cast<long long>(s.rows));
      for (const auto& c : columns) std::printf(",%s", csv_quote(attr_text(s, c)).c_str());
      for (const auto& m : metrics) std::printf(",%.17g", last(m));
      std::printf("\n");
    } else {
      auto format = [](const char* f, double v) {
        char buf[40];
        std::snprintf(buf, sizeof buf, f, v);
        return std::string(buf);
      };
      table.push_back({run, s.status, std::to_string(s.rows), attr_text(s, "problem"), attr_text(s, "workers"),
                       attr_text(s, "topology"), attr_text(s, "rounds"), attr_text(s, "step_rule"),
                       format("%.6f", std::atof(attr_text(s, "rho").c_str())), format("%.4e", last("grad_norm_sq")),
                       format("%.4e", last("consensus_error"))});
    }
  }
  if (!csv) {
    std::vector<std::size_t> widths(table[0].size(), 0);
    widths[0] = width;
    for (const auto& row : table)
      for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    for (const auto& row : table) {
      std::string line;
      for (std::size_t c = 0; c < row.size(); ++c) {
        const std::string pad(widths[c] - row[c].size(), ' ');
        line += (c ? " " : "") + (right[c] ? pad + row[c] : row[c] + (c + 1 < row.size() ? pad : ""));
      }
      std::printf("%s\n", line.c_str());
    }
  }
  return 0;
}

}  // namespace dposg::cli
