#pragma once
// Local steps (--local-steps H): the workers gossip before iterations 1, H + 1, 2H + 1, ... and take
// H local steps in between (local SGDA, Deng & Mahdavi 2021; decentralized local extragradient,
// Beznosikov et al. 2021; DPOSG with H local steps). H = 1 is the wrapped mixer itself. The papers
// communicate after iterations H, 2H, ...; gossiping before the first one as well differs only in
// averaging the start, which is a no-op for a common start (doubly stochastic W).
#include <memory>

#include "core/checkpoint.hpp"
#include "core/mixer.hpp"

namespace dposg {

class LocalStepsMixer final : public Mixer {
 public:
  LocalStepsMixer(std::unique_ptr<Mixer> inner, std::int64_t local_steps)
      : inner_(std::move(inner)), H_(local_steps) {}
  const MixingSchedule& schedule() const override { return inner_->schedule(); }
  bool communicates(std::int64_t iteration) const { return (iteration - 1) % H_ == 0; }
  // The inner mixer sees iteration k, except on one-peer-exponential, whose rounds k + r would
  // repeat the same phase every time when H is a multiple of its period (one disconnected W_g for
  // ever): there it sees the exchange's count, 1, 2, 3, ..., so the phases still cycle. (Random
  // rings draw from k itself, as they always have.)
  std::int64_t inner_iteration(std::int64_t iteration) const {
    const auto& s = inner_->schedule();
    return s.is_time_varying() && !s.is_random() ? (iteration - 1) / H_ + 1 : iteration;
  }
  void mix(Matrix& X, int rounds, std::int64_t iteration) const override {
    if (!communicates(iteration)) return;
    inner_->mix(X, rounds, inner_iteration(iteration));
    sent_ += inner_->bytes_busiest_per_iteration(X.rows(), rounds);
  }
  void mix_while(Matrix& X, int rounds, std::int64_t iteration, const std::function<void()>& work) const override {
    if (!communicates(iteration)) return work();
    inner_->mix_while(X, rounds, inner_iteration(iteration), work);
    sent_ += inner_->bytes_busiest_per_iteration(X.rows(), rounds);
  }
  // The average over H iterations: one exchange per H.
  double bytes_busiest_per_iteration(Index d, int rounds) const override {
    return inner_->bytes_busiest_per_iteration(d, rounds) / static_cast<double>(H_);
  }
  std::optional<double> bytes_busiest_sent() const override {
    if (auto inner = inner_->bytes_busiest_sent()) return inner;
    return sent_;
  }
  bool checkpointable() const override { return inner_->checkpointable(); }
  void save_state(StateArchive& a, const std::string& prefix) const override {
    a.put_real(prefix + "sent", sent_);
    inner_->save_state(a, prefix + "inner/");
  }
  void load_state(const StateArchive& a, const std::string& prefix) const override {
    sent_ = a.real(prefix + "sent");
    inner_->load_state(a, prefix + "inner/");
  }

 private:
  std::unique_ptr<Mixer> inner_;
  std::int64_t H_;
  mutable double sent_ = 0.0;
};

}  // namespace dposg
