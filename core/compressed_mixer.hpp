#pragma once
// Compressed gossip for DPOSG: CHOCO-gossip (Koloskova, Stich, Jaggi 2019, Algorithm 1), as a
// Mixer decorator over a MixingSchedule. Every worker i keeps a public copy x̂_i of its iterate,
// known to all its neighbours (x̂ = 0 at the start). One round r with W = W_{k,r}:
//     q_i  = C(x_i - x̂_i)                          (worker i sends q_i to each neighbour)
//     x̂_i <- x̂_i + q_i                            (it and every neighbour update their copy)
//     x_i <- x_i + gamma sum_j W_ij (x̂_j - x̂_i)    (consensus step size gamma = --gossip-step)
// With C = identity and gamma = 1 this is x_i <- sum_j W_ij x_j, ordinary gossip. Biased
// compressors need gamma < 1 (Koloskova et al.: gamma of the order of rho-gap^2 delta).
// Extra memory: x̂, one more d x M matrix (the neighbours' copies of x̂_i are all equal to it, so
// the simulator keeps one), plus scratch of the same size.
// Bytes: each round a worker sends one compressed message to each neighbour:
//     rounds x max degree x Compressor::bits() / 8 for the busiest node (for W = 11^T/M every
//     round counts: unlike exact averaging, a second round is not a no-op).
#include <memory>

#include "core/compressor.hpp"
#include "core/mixer.hpp"

namespace dposg {

class CompressedGossipMixer final : public Mixer {
 public:
  CompressedGossipMixer(MixingSchedule schedule, std::shared_ptr<const Compressor> c, double gamma,
                        std::uint64_t seed);
  const MixingSchedule& schedule() const override { return schedule_; }
  // Mixer::mix is const; the public copies are the state of the communication layer and change
  // with every call (mutable below).
  void mix(Matrix& X, int rounds, std::int64_t iteration) const override;
  double bytes_busiest_per_iteration(Index d, int rounds) const override;
  const Matrix& public_copies() const { return xhat_; }
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a, const std::string& prefix) const override;
  void load_state(const StateArchive& a, const std::string& prefix) const override;

 private:
  MixingSchedule schedule_;
  double gamma_;
  mutable ColumnCompressor columns_;
  mutable Matrix xhat_, diff_, q_;
};

}  // namespace dposg
