#pragma once
// --topology-v: the two players gossip on different graphs (a generator and a discriminator need not
// share a network). The rows of z = (u, v) that belong to u (the first dim_u of every block of d
// rows: the iterate, or an iterate stacked on its tracker, core/gradient_tracking.cpp) are mixed by
// the u-mixer, the rest by the v-mixer, each with its own W. Algorithm 1's consensus step then
// contracts the u-block by ||W_u^t - J|| and the v-block by ||W_v^t - J||, so Theorem 1's rho^t is
// their maximum (app/experiment.cpp).
#include <memory>
#include <stdexcept>

#include "core/mixer.hpp"

namespace dposg {

class PlayerSplitMixer final : public Mixer {
 public:
  PlayerSplitMixer(std::unique_ptr<Mixer> u, std::unique_ptr<Mixer> v, Index d, Index dim_u)
      : u_(std::move(u)), v_(std::move(v)), d_(d), du_(dim_u) {}
  // The run's schedule is u's (--topology); v's is v_schedule().
  const MixingSchedule& schedule() const override { return u_->schedule(); }
  const MixingSchedule& v_schedule() const { return v_->schedule(); }

  void mix(Matrix& X, int rounds, std::int64_t iteration) const override {
    split(X);
    u_->mix(U_, rounds, iteration);
    v_->mix(V_, rounds, iteration);
    join(X);
  }
  void mix_while(Matrix& X, int rounds, std::int64_t iteration, const std::function<void()>& work) const override {
    split(X);
    u_->mix_while(U_, rounds, iteration, work);
    v_->mix(V_, rounds, iteration);
    join(X);
  }
  double bytes_busiest_per_iteration(Index n, int rounds) const override {
    const Index blocks = n / d_;
    return static_cast<double>(blocks) *
           (u_->bytes_busiest_per_iteration(du_, rounds) + v_->bytes_busiest_per_iteration(d_ - du_, rounds));
  }
  // The sum of the two networks' busiest nodes (an upper bound where they are different nodes).
  std::optional<double> bytes_busiest_sent() const override {
    const auto a = u_->bytes_busiest_sent(), b = v_->bytes_busiest_sent();
    if (!a && !b) return std::nullopt;
    return a.value_or(0.0) + b.value_or(0.0);
  }

 private:
  void split(const Matrix& X) const {
    if (X.rows() % d_ != 0) throw std::logic_error("PlayerSplitMixer: rows are not a multiple of d");
    const Index blocks = X.rows() / d_, M = X.cols();
    U_.resize(blocks * du_, M);
    V_.resize(blocks * (d_ - du_), M);
    for (Index b = 0; b < blocks; ++b) {
      U_.middleRows(b * du_, du_) = X.middleRows(b * d_, du_);
      V_.middleRows(b * (d_ - du_), d_ - du_) = X.middleRows(b * d_ + du_, d_ - du_);
    }
  }
  void join(Matrix& X) const {
    for (Index b = 0; b < X.rows() / d_; ++b) {
      X.middleRows(b * d_, du_) = U_.middleRows(b * du_, du_);
      X.middleRows(b * d_ + du_, d_ - du_) = V_.middleRows(b * (d_ - du_), d_ - du_);
    }
  }
  std::unique_ptr<Mixer> u_, v_;
  Index d_, du_;
  mutable Matrix U_, V_;
};

}  // namespace dposg
