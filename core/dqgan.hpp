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
// With --step-rule oadam (an extension: DQGAN's paper uses OMD) the server replaces ĝ_k by Adam's
// direction a_k = m̂_k / (sqrt(v̂_k) + eps) of the ĝ sequence and steps z_{k+1} = z_k - eta (2 a_k -
// a_{k-1}): the optimistic Adam of Daskalakis et al. (2018), what CP-OAdam is to CPOSG. The
// workers' messages and the error feedback are unchanged.
//
// It runs in the one driver as a StepRule that receives the d x M operator matrix (columns =
// workers) and does the server's average itself, over a ParameterServerMixer that moves nothing.
// Communication per iteration: each worker sends one compressed message (Compressor::bits()/8
// bytes) to the server; the server sends d doubles to each of the M workers (8 d M bytes). The
// busiest node is the larger of the two, normally the server; bytes_busiest counts that, in the
// simulator and over MPI alike (the logical M-worker model, whatever the number of processes).
//
// Where the server is, is the ServerLink's business: in process (the default) it averages the
// decoded columns directly; the MPI backend's (core/mpi_backend.cpp) gathers every rank's encoded
// messages (Compressor::encode, the exact wire format) at rank 0, which decodes and averages all M
// in worker order, steps, and broadcasts z_{k+1}.
#include <memory>
#include <string>
#include <vector>

#include "core/compressor.hpp"
#include "core/mixer.hpp"
#include "core/silent_mixer.hpp"
#include "core/step_rule.hpp"

namespace dposg {

class ServerLink {
 public:
  virtual ~ServerLink() = default;
  // Global index of this process's first worker.
  virtual Index first_worker() const { return 0; }
  // This process's workers hand in their messages (`messages`, decoded: the columns of
  // `decoded`). On the server process: g_hat = (1/M) sum over all M workers of the decoded
  // messages, summed in worker order, and true; elsewhere false. Collective.
  virtual bool average_at_server(const Compressor& c, const std::vector<CompressedVector>& messages,
                                 const Matrix& decoded, Vector& g_hat);
  // z: the server's on the server; everyone's on return. Collective.
  virtual void broadcast(Vector& /*z*/) {}
};

struct DqganOptions {
  StepRuleOptions server;  // the server's step: name osg (OMD) or oadam, step sizes, Adam's betas and eps
  std::shared_ptr<const Compressor> compressor;
  bool error_feedback = false;
  std::uint64_t seed = 0;  // of the compression streams (worker, iteration)
  std::shared_ptr<ServerLink> link;  // null: the server is in this process with every worker
};

std::unique_ptr<StepRule> make_dqgan_rule(const DqganOptions& opts);
// Moves a DQGAN rule's server behind `link` (a distributed backend's). False when `rule` is not DQGAN.
bool attach_server_link(StepRule& rule, std::shared_ptr<ServerLink> link);

// Bytes one worker sends the server per iteration, and the server's broadcast per iteration.
double dqgan_uplink_bytes(const Compressor& c);
double dqgan_downlink_bytes(Index d, Index workers);

// The workers of a parameter server do not gossip: X stays as it is and nothing is sent here
// (the rule counts the server's traffic). Reports the schedule of W = 11^T/M, which is what the
// server's average is.
using ParameterServerMixer = SilentMixer;

}  // namespace dposg
