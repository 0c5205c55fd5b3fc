#pragma once
// One logged row of metrics (DESIGN.md §3), in a fixed order so that files have stable columns.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace dposg {

struct MetricsRow {
  std::int64_t iteration = 0;
  std::vector<std::pair<std::string, double>> values;  // name -> value, order preserved

  void set(const std::string& name, double value) {
    for (auto& [n, v] : values)
      if (n == name) { v = value; return; }
    values.emplace_back(name, value);
  }
  double get(const std::string& name) const {
    for (const auto& [n, v] : values)
      if (n == name) return v;
    return std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace dposg
