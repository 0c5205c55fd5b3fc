#pragma once
// Library tests of resume (run_driver's DriverOptions::checkpoints and resume_from): checkpoints kept
// in memory by iteration, the rows a run logs, and the comparison a resumed run must pass: its rows
// are the rows of the same run left alone after the checkpoint's iteration, bit for bit.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "core/checkpoint.hpp"
#include "core/driver.hpp"

namespace dposg::test {

struct KeptCheckpoints final : CheckpointSink {
  std::map<std::int64_t, StateArchive> at;
  void save(std::int64_t iteration, const StateArchive& state) override { at[iteration] = state; }
};

struct LoggedRows final : Observer {
  std::vector<MetricsRow> rows;
  void on_log(const MetricsRow& r) override { rows.push_back(r); }
};

// Every metric but the times (*_time_s, which measure the machine), as bits: NaN and -0 included.
inline void require_rows_after(std::int64_t k, const std::vector<MetricsRow>& whole, const std::vector<MetricsRow>& resumed) {
  std::vector<const MetricsRow*> after;
  for (const auto& r : whole)
    if (r.iteration > k) after.push_back(&r);
  REQUIRE(!after.empty());
  REQUIRE(resumed.size() == after.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    REQUIRE(resumed[i].iteration == after[i]->iteration);
    REQUIRE(resumed[i].values.size() == after[i]->values.size());
    for (const auto& [name, a] : after[i]->values) {
      if (name.ends_with("_time_s")) continue;
      const double b = resumed[i].get(name);
      INFO(name << " at iteration " << after[i]->iteration << ": left alone " << a << ", resumed " << b);
      CHECK(std::memcmp(&a, &b, sizeof a) == 0);
    }
  }
}

inline bool same_bits(const Vector& a, const Vector& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

}  // namespace dposg::test
