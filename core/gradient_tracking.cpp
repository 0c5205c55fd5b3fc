#include "core/gradient_tracking.hpp"

#include <algorithm>
#include <chrono>

#include "core/checkpoint.hpp"
#include "core/error.hpp"

namespace dposg {
namespace {

enum class Estimator { plain, storm, spider };

class GradientTracking final : public StepRule {
 public:
  GradientTracking(const GradientTrackingOptions& o, std::shared_ptr<const Mixer> mixer)
      : o_(o),
        kind_(o.algorithm == "dm-hsgd" ? Estimator::storm
              : o.algorithm == "dgda-vr" ? Estimator::spider
                                         : Estimator::plain),
        mixer_(std::move(mixer)) {}
  std::string name() const override { return o_.algorithm; }
  int oracle_calls_per_iteration() const override { return kind_ == Estimator::plain ? 1 : 2; }
  void init(Matrix& Z, Matrix& X, Oracle& oracle) override {
    k_ = 0;
    bytes_ = 0.0;
    comm_ = 0.0;
    if (kind_ == Estimator::plain)
      oracle(X, V_);
    else
      oracle.with_batch(X, o_.large_batch, V_);
    Y_ = V_;
    Z = X;
  }
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    ++k_;
    const Index d = X.rows();
    const Index M = X.cols();
    const auto start = std::chrono::steady_clock::now();
    if (k_ == 1) {
      mixer_->mix(X, o_.rounds, k_);
      bytes_ += mixer_->bytes_busiest_per_iteration(d, o_.rounds);
    } else {
      // [z_{k-1}; y_{k-2} + v_{k-1} - v_{k-2}] W^t in one exchange (Y_ holds the pending tracker).
      stacked_.resize(2 * d, M);
      stacked_.topRows(d) = X;
      stacked_.bottomRows(d) = Y_;
      mixer_->mix(stacked_, o_.rounds, k_);
      bytes_ += mixer_->bytes_busiest_per_iteration(2 * d, o_.rounds);
      X = stacked_.topRows(d);
      Y_ = stacked_.bottomRows(d);
    }
    comm_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    X_prev_ = Z;  // z_{k-1}, unmixed
    apply_step(X, o_.step, Y_, X);
    V_prev_ = V_;
    switch (kind_) {
      case Estimator::plain:
        oracle(X, V_);
        break;
      case Estimator::storm:
        oracle.same_samples(X, X_prev_, G_, G_prev_);
        V_ = G_ + (1.0 - o_.momentum) * (V_prev_ - G_prev_);
        break;
      case Estimator::spider:
        if (k_ % o_.period == 0) {
          oracle.with_batch(X, o_.large_batch, V_);
        } else {
          oracle.same_samples(X, X_prev_, G_, G_prev_);
          V_ = V_prev_ + G_ - G_prev_;
        }
        break;
    }
    Y_ += V_ - V_prev_;
    Z = X;
  }
  double bytes_busiest_per_iteration(Index d, Index) const override {
    return mixer_->bytes_busiest_per_iteration(2 * d, o_.rounds);
  }
  std::optional<double> bytes_busiest_sent() const override { return bytes_; }
  double comm_seconds() const override { return comm_; }
  // V_prev_, G_, G_prev_, X_prev_ and stacked_ are written before they are read in every step.
  bool checkpointable() const override { return mixer_->checkpointable(); }
  void save_state(StateArchive& a) const override {
    a.put("rule/v", V_);
    a.put("rule/y", Y_);
    a.put_integer("rule/k", k_);
    a.put_real("rule/bytes", bytes_);
    a.put_real("rule/comm_s", comm_);
    mixer_->save_state(a, "rule/mixer/");
  }
  void load_state(const StateArchive& a) override {
    a.restore("rule/v", V_);
    a.restore("rule/y", Y_);
    k_ = a.integer("rule/k");
    bytes_ = a.real("rule/bytes");
    comm_ = a.real("rule/comm_s");
    mixer_->load_state(a, "rule/mixer/");
  }

 private:
  GradientTrackingOptions o_;
  Estimator kind_;
  std::shared_ptr<const Mixer> mixer_;
  Matrix V_, V_prev_, Y_, G_, G_prev_, X_prev_, stacked_;
  std::int64_t k_ = 0;
  double bytes_ = 0.0;
  double comm_ = 0.0;
};

}  // namespace

std::vector<std::string> gradient_tracking_names() { return {"gt-gda", "dm-hsgd", "dgda-vr"}; }

bool is_gradient_tracking(const std::string& algorithm) {
  const auto names = gradient_tracking_names();
  return std::find(names.begin(), names.end(), algorithm) != names.end();
}

std::unique_ptr<StepRule> make_gradient_tracking_rule(const GradientTrackingOptions& o, std::shared_ptr<const Mixer> mixer) {
  if (!is_gradient_tracking(o.algorithm)) throw InputError(setting("algorithm.name") + ": not a gradient-tracking method: '" + o.algorithm + "'");
  if (!(o.momentum > 0.0 && o.momentum <= 1.0)) throw InputError(setting("algorithm.momentum") + ": must be in (0, 1]");
  if (o.large_batch < 1) throw InputError(setting("algorithm.large_batch") + ": must be >= 1");
  if (o.period < 1) throw InputError(setting("algorithm.vr_period") + ": must be >= 1");
  if (!(o.step.eta_u > 0.0) || !(o.step.eta_v > 0.0)) throw InputError(setting("step.eta_u") + ": must be > 0");
  return std::make_unique<GradientTracking>(o, std::move(mixer));
}

}  // namespace dposg
