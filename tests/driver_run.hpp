#pragma once
// One in-process run of the driver with the library's CpuMixer and a step rule, every iteration
// logged, for the engine tests (test_step_rules, test_overlap).
#include <string>
#include <vector>

#include "core/driver.hpp"

namespace dposg::test {

struct Trace final : Observer {
  std::vector<MetricsRow> rows;
  void on_log(const MetricsRow& r) override { rows.push_back(r); }
};

// `seed` draws the mixing (random kinds) and the workers' noise; Z0 null: all workers at 0.
inline RunOutcome run_rule(const Problem& p, const std::string& topology, Index M, int t, const std::string& rule,
                           double eta, std::int64_t iters, Index batch, std::uint64_t seed, Matrix* Z_out = nullptr,
                           Trace* trace = nullptr, const Matrix* Z0 = nullptr, bool overlap = false) {
  CpuMixer mixer(MixingSchedule(topology, M, seed));
  StepRuleOptions so;
  so.name = rule;
  so.step = {eta, eta, p.dim_u()};
  auto r = make_step_rule(so);
  DriverOptions o;
  o.rounds = t;
  o.iters = iters;
  o.batch = batch;
  o.seed = seed;
  o.log_every = 1;
  o.overlap = overlap;
  std::vector<Observer*> obs;
  if (trace) obs.push_back(trace);
  const Matrix start = Z0 ? *Z0 : Matrix::Zero(p.dim(), M);
  RunOutcome out = run_driver(p, mixer, *r, o, start, obs);
  if (Z_out) *Z_out = out.z_bar;
  return out;
}

}  // namespace dposg::test
