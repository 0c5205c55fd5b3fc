#include "gan/cuda/resident_engine.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/array_ops.hpp"
#include "core/error.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan::cuda {

namespace {

// The ArrayOps of the step rules (core/array_ops.hpp) over a ResidentDevice: the device's arrays,
// the mixing as the device's X W^T per round with the schedule's W (CpuMixer's rounds), the operator
// on the minibatches drawn here from the workers' streams in the host engine's order (and saved under
// its keys: oracle/calls, oracle/rng/<i>).
class DeviceArrays final : public ArrayOps {
 public:
  DeviceArrays(const GanProblem& p, MixingSchedule schedule, const DriverOptions& opts,
               std::unique_ptr<ResidentDevice> device)
      : p_(p), schedule_(std::move(schedule)), device_(std::move(device)), d_(p.dim()), M_(schedule_.workers()),
        plan_(plan_for(p, opts.batch, M_)), rngs_(opts.seed, M_, 0), clip_(operator_clip(p)) {
    device_->reserve(plan_);
    if (!schedule_.is_time_varying() && M_ > 1) set_mixing(schedule_.base());
  }

  Index rows() const override { return d_; }
  Index cols() const override { return M_; }
  Array allocate() override { return device_->allocate(); }
  void assign(Array a, const Matrix& host) override {
    if (host.rows() != d_ || host.cols() != M_) throw std::logic_error("DeviceArrays::assign: not d x M");
    device_->upload(a, host.data());
  }
  const Matrix& read(Array a, Matrix& buffer) override {
    buffer.resize(d_, M_);
    device_->download(a, buffer.data());
    return buffer;
  }
  void copy(Array to, Array from) override { device_->copy(to, from); }
  void step(Array out, Array base, Array dir, const StepSize& s) override {
    // apply_step's split of the rows, clamped the same way.
    const Index du = std::clamp<Index>(s.dim_u, 0, d_);
    device_->step(out, base, dir, {s.eta_u, s.eta_v, static_cast<long long>(du)});
  }
  void adam(Array g, Array m, Array v, Array dir, std::int64_t count, const AdamParams& p) override {
    // adam_update's bias corrections, computed on the host as there.
    const double c1 = 1.0 - std::pow(p.beta1, static_cast<double>(count));
    const double c2 = 1.0 - std::pow(p.beta2, static_cast<double>(count));
    device_->adam(g, m, v, dir, {p.beta1, p.beta2, p.eps, c1, c2});
  }
  void add_difference(Array x, Array a, Array b) override { device_->add_difference(x, a, b); }
  void evaluate(Array z, Array g) override {
    stage_batches(p_, plan_, rngs_, device_->batch_inputs());
    device_->evaluate(z, g, clip_);
    ++calls_;
  }
  std::int64_t evaluations() const override { return calls_; }
  // The streams and the count; the mixing has no state (a time-varying W is drawn from the
  // iteration and the round, a fixed one was handed to the device at construction).
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a) const override { save_oracle_state(a, calls_, rngs_, 0); }
  void load_state(const StateArchive& a) override { calls_ = load_oracle_state(a, rngs_, 0); }
  std::string arithmetic() const override { return "device"; }
  void mix(Array x, int rounds, std::int64_t iteration) override {
    if (M_ == 1) return;
    const int applied = schedule_.effective_rounds(rounds);
    for (int r = 0; r < applied; ++r) {
      if (schedule_.is_time_varying()) set_mixing(schedule_.at(iteration, r));
      device_->mix(x);
    }
  }

 private:
  void set_mixing(const Topology& W) {
    if (schedule_.is_complete() || M_ <= kDenseMixingMaxWorkers) {
      const Matrix dense = W.dense();
      device_->set_mixing(dense.data());
      return;
    }
    offsets_.assign(1, 0);
    cols_.clear();
    weights_.clear();
    for (const auto& row : W.rows) {
      for (const auto& [j, w] : row) {
        cols_.push_back(static_cast<long long>(j));
        weights_.push_back(w);
      }
      offsets_.push_back(static_cast<long long>(cols_.size()));
    }
    device_->set_mixing_sparse(offsets_.data(), cols_.data(), weights_.data());
  }
  std::vector<long long> offsets_, cols_;
  std::vector<double> weights_;

  const GanProblem& p_;
  MixingSchedule schedule_;
  std::unique_ptr<ResidentDevice> device_;
  Index d_, M_;
  GanPlan plan_;
  WorkerRngs rngs_;
  double clip_;
  std::int64_t calls_ = 0;
};

}  // namespace

// Every step rule and the overlapped iteration run resident (the shared StepProgram and ArrayEngine):
// the rule and the driver's options no longer restrict it.
std::string resident_unsupported(const Problem& problem, const StepRuleOptions& /*rule*/,
                                 const DriverOptions& /*opts*/, const std::string& algorithm, bool compressed) {
  const auto* gan = dynamic_cast<const GanProblem*>(&problem);
  if (!gan) return "--engine: 'resident' runs the GAN problems (gan-*), whose operator has a device implementation";
  if (gan->device() != "cuda" && gan->device() != "cpu-float")
    return "--engine: 'resident' needs --device cuda (or cpu-float, its CPU twin), got '" + gan->device() + "'";
  if (algorithm != "dposg") return "--engine: 'resident' runs --algorithm dposg, got '" + algorithm + "'";
  if (compressed) return "--engine: 'resident' runs exact gossip (no --compressor)";
  return "";
}

std::unique_ptr<ArrayOps> make_device_arrays(const Problem& problem, const MixingSchedule& schedule,
                                             const DriverOptions& opts, std::unique_ptr<ResidentDevice> device) {
  return std::make_unique<DeviceArrays>(dynamic_cast<const GanProblem&>(problem), schedule, opts, std::move(device));
}

std::unique_ptr<ArrayOps> make_resident_arrays(const Problem& problem, const MixingSchedule& schedule,
                                               const DriverOptions& opts) {
  const auto& gan = dynamic_cast<const GanProblem&>(problem);
  if (gan.device() == "cuda")
    return make_device_arrays(gan, schedule, opts, make_cuda_resident_device(gan.cuda_device()));
  // The CPU twin is the host engine's own arithmetic (HostArrays: apply_step, adam_update, CpuMixer,
  // the problem's oracle), so it equals --engine host by construction and checks the shared code.
  const Index M = schedule.workers();
  return std::make_unique<HostArrays>(gan.dim(), M,
                                      std::make_unique<ProblemOracle>(gan, opts.batch, opts.seed, M, 0),
                                      std::make_unique<CpuMixer>(schedule));
}

std::unique_ptr<IterationEngine> make_resident_engine(const Problem& problem, const MixingSchedule& schedule,
                                                      const StepRuleOptions& rule, const DriverOptions& opts) {
  return std::make_unique<ArrayEngine>(make_resident_arrays(problem, schedule, opts), make_step_program(rule),
                                       opts.rounds, opts.overlap);
}

}  // namespace dposg::gan::cuda
