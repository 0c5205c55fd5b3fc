#pragma once
// DQGAN (Liu et al. 2020, ../shared/papers/dqgan-abstract.txt): parameter-server optimistic
// mirror descent with delta-approximate compressed operators and error feedback.
//
// All M workers hold the same point z_k. Each worker computes its stochastic operator at z_k,
// adds its error memory and sends the compressed message; the server averages what it decodes,
//     ĝ_k = (1/M) sum_i C(g_i(z_k; xi) + e_i),      e_i <- g_i + e_i - C(g_i + e_i)   (with EF),
// takes the Euclidean OMD (optimistic gradient) step
//     z_{k+1} = z_k - eta (2 ĝ_k - ĝ_{k-1})          (ĝ_{-1} = ĝ_0: the first step is z_0 - eta ĝ_0),
// and broadcasts z_{k+1} uncompressed. With Euclidean mirror map, OMD's two sequences
// (x_k = x_{k-1} - eta ĝ(z_k), z_{k+1} = x_k - eta ĝ(z_k)) collapse to this one-sequence form, the
// same as Algorithm 1's OSG for M = 1 (tests/test_dqgan.cpp checks both).
//
// It runs in the one driver as a StepRule that receives the d x M operator matrix (columns =
// workers) and does the server's average itself, over a ParameterServerMixer that moves nothing.
// Communication per iteration: each worker sends one compressed message (Compressor::bits()/8
// bytes) to the server; the server sends d doubles to each of the M workers (8 d M bytes). The
// busiest node is the larger of the two, normally the server; bytes_busiest counts that.
#include <memory>

#include "core/compressor.hpp"
#include "core/mixer.hpp"
#include "core/step_rule.hpp"

namespace dposg {

struct DqganOptions {
  StepSize step;
  std::shared_ptr<const Compressor> compressor;
  bool error_feedback = false;
  std::uint64_t seed = 0;  // of the compression streams (worker, iteration)
};

std::unique_ptr<StepRule> make_dqgan_rule(const DqganOptions& opts);

// Bytes one worker sends the server per iteration, and the server's broadcast per iteration.
double dqgan_uplink_bytes(const Compressor& c);
double dqgan_downlink_bytes(Index d, Index workers);

// The workers of a parameter server do not gossip: X stays as it is and nothing is sent here
// (the rule counts the server's traffic). Reports the schedule of W = 11^T/M, which is what the
// server's average is.
class ParameterServerMixer final : public Mixer {
 public:
  explicit ParameterServerMixer(MixingSchedule schedule) : schedule_(std::move(schedule)) {}
  const MixingSchedule& schedule() const override { return schedule_; }
  void mix(Matrix&, int, std::int64_t) const override {}
  double bytes_busiest_per_iteration(Index, int) const override { return 0.0; }

 private:
  MixingSchedule schedule_;
};

}  // namespace dposg
