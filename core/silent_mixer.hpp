#pragma once
// The driver-side mixer of an algorithm whose rule does its own communication (DQGAN's parameter
// server, the gradient-tracking rules): it reports the schedule (rho, spectrum, W), mixes nothing and
// sends nothing; the rule counts its traffic.
#include "core/mixer.hpp"

namespace dposg {

class SilentMixer final : public Mixer {
 public:
  explicit SilentMixer(MixingSchedule schedule) : schedule_(std::move(schedule)) {}
  const MixingSchedule& schedule() const override { return schedule_; }
  void mix(Matrix&, int, std::int64_t) const override {}
  double bytes_busiest_per_iteration(Index, int) const override { return 0.0; }
  bool checkpointable() const override { return true; }

 private:
  MixingSchedule schedule_;
};

}  // namespace dposg
