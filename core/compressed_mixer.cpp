#include "core/compressed_mixer.hpp"

#include <algorithm>

#include "core/checkpoint.hpp"

namespace dposg {

CompressedGossipMixer::CompressedGossipMixer(MixingSchedule schedule, std::shared_ptr<const Compressor> c,
                                             double gamma, std::uint64_t seed)
    : schedule_(std::move(schedule)), gamma_(gamma), columns_(std::move(c), false, seed) {}

void CompressedGossipMixer::mix(Matrix& X, int rounds, std::int64_t iteration) const {
  const Index d = X.rows(), M = X.cols();
  if (rounds <= 0 || M == 1 || d == 0) return;
  if (xhat_.rows() != d || xhat_.cols() != M) xhat_.setZero(d, M);
  for (int r = 0; r < rounds; ++r) {
    diff_ = X - xhat_;
    columns_.compress(diff_, iteration, 1 + static_cast<std::uint64_t>(r), q_);
    xhat_ += q_;
    if (schedule_.is_complete()) {
      // sum_j (1/M)(x̂_j - x̂_i) = mean(x̂) - x̂_i.
      const Vector mean = xhat_.rowwise().mean();
      X += gamma_ * ((-xhat_).colwise() + mean);
      continue;
    }
    const Topology topo = schedule_.at(iteration, r);
    for (Index i = 0; i < M; ++i)
      for (const auto& [j, w] : topo.rows[static_cast<std::size_t>(i)])
        if (j != i) X.col(i) += (gamma_ * w) * (xhat_.col(j) - xhat_.col(i));
  }
}

// x̂ is empty until the first round (set to zero there); diff_ and q_ are scratch.
void CompressedGossipMixer::save_state(StateArchive& a, const std::string& prefix) const {
  a.put(prefix + "xhat", xhat_);
  a.put(prefix + "memory", columns_.memory());
}

void CompressedGossipMixer::load_state(const StateArchive& a, const std::string& prefix) const {
  xhat_ = a.matrix(prefix + "xhat");
  columns_.set_memory(a.matrix(prefix + "memory"));
}

double CompressedGossipMixer::bytes_busiest_per_iteration(Index, int rounds) const {
  return static_cast<double>(std::max(rounds, 0)) * static_cast<double>(schedule_.base().max_degree()) *
         static_cast<double>(columns_.compressor().bits()) / 8.0;
}

}  // namespace dposg
