#include "gan/cuda/resident_engine.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan::cuda {

namespace {

// The CPU twin of CudaResidentDevice (gan/cuda/device_gan.cu): every operation as a loop over the
// elements with the per-element functions of resident_device.hpp; parallel over workers, so the
// numbers do not depend on the thread count.
class HostResidentDevice final : public ResidentDevice {
 public:
  void reserve(const GanPlan& plan) override {
    plan_ = plan;
    d_ = plan.dim;
    M_ = plan.workers;
    const auto n = static_cast<std::size_t>(d_ * M_);
    for (auto& s : slots_) s.assign(n, 0.0);
    scratch_.assign(n, 0.0);
    arena_.assign(workspace_floats(plan), 0.f);
  }
  void upload(Slot s, const double* host) override { std::copy_n(host, slot(s).size(), slot(s).data()); }
  void download(Slot s, double* host) override { std::copy(slot(s).begin(), slot(s).end(), host); }
  void set_mixing(const double* W) override { W_.assign(W, W + M_ * M_); }

  // x_i <- sum_j W_ij x_j over the nonzero W_ij in increasing j: CpuMixer's order.
  void mix() override {
    const double* X = slot(Slot::X).data();
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < M_; ++i) {
      double* y = scratch_.data() + i * d_;
      bool first = true;
      for (long long j = 0; j < M_; ++j) {
        const double w = W_[static_cast<std::size_t>(i + j * M_)];
        if (w == 0.0) continue;
        const double* x = X + j * d_;
        if (first) {
          for (long long r = 0; r < d_; ++r) y[r] = w * x[r];
          first = false;
        } else {
          for (long long r = 0; r < d_; ++r) y[r] = y[r] + w * x[r];
        }
      }
    }
    slot(Slot::X).swap(scratch_);
  }

  void step(Slot out, Slot base, Slot dir, const StepEtas& s) override {
    double* o = slot(out).data();
    const double* b = slot(base).data();
    const double* g = slot(dir).data();
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < M_; ++i)
      for (long long r = 0; r < d_; ++r) o[i * d_ + r] = step_element(b[i * d_ + r], g[i * d_ + r], r, s);
  }

  void adam(const AdamConstants& a) override {
    const double* g = slot(Slot::G).data();
    double* m = slot(Slot::m).data();
    double* v = slot(Slot::v).data();
    double* dir = slot(Slot::dir).data();
    const long long n = d_ * M_;
#pragma omp parallel for schedule(static)
    for (long long k = 0; k < n; ++k) dir[k] = adam_element(g[k], m[k], v[k], a);
  }

  void copy(Slot to, Slot from) override { slot(to) = slot(from); }

  float* batch_inputs() override { return arena_.data() + input_layout(plan_).real; }

  void evaluate(double clip) override {
    const InputLayout in = input_layout(plan_);
    const double* Z = slot(Slot::Z).data();
    float* z = arena_.data() + in.z;
    const long long dim_u = plan_.disc.base;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < M_; ++i)
      for (long long r = 0; r < d_; ++r) z[i * d_ + r] = narrow_element(Z[i * d_ + r], r, dim_u, clip);
    const float* G = float_cpu_operator(plan_, arena_.data());
    double* out = slot(Slot::G).data();
    for (long long k = 0; k < d_ * M_; ++k) out[k] = static_cast<double>(G[k]);
  }

 private:
  std::vector<double>& slot(Slot s) { return slots_[static_cast<int>(s)]; }

  GanPlan plan_;
  long long d_ = 0, M_ = 0;
  std::vector<double> slots_[kSlots];
  std::vector<double> scratch_, W_;
  std::vector<float> arena_;
};

class ResidentEngine final : public IterationEngine {
 public:
  ResidentEngine(const GanProblem& p, MixingSchedule schedule, StepRuleOptions rule, DriverOptions opts,
                 std::unique_ptr<ResidentDevice> device)
      : p_(p), schedule_(std::move(schedule)), rule_(std::move(rule)), opts_(opts), device_(std::move(device)),
        etas_{rule_.step.eta_u, rule_.step.eta_v, static_cast<long long>(rule_.step.dim_u)},
        clip_(operator_clip(p)) {}

  void init(const Matrix& Z0) override {
    M_ = Z0.cols();
    plan_ = plan_for(p_, opts_.batch, M_);
    rngs_ = std::make_unique<WorkerRngs>(opts_.seed, M_, 0);
    device_->reserve(plan_);
    device_->upload(Slot::X, Z0.data());
    device_->upload(Slot::Z, Z0.data());
    if (!schedule_.is_random() && M_ > 1) set_mixing(schedule_.base());
    evaluate();
    if (adam()) {
      count_ = 0;
      advance();
    } else {
      device_->copy(Slot::dir, Slot::G);
    }
    stale();
  }

  // Algorithm 1's iteration with the host engine's mixing (CpuMixer: t rounds, one for the complete
  // W) and step (core/step_rule.cpp, Osg and OAdam).
  void iterate(std::int64_t k) override {
    const int rounds = M_ == 1 ? 0 : schedule_.is_complete() ? std::min(opts_.rounds, 1) : opts_.rounds;
    for (int r = 0; r < rounds; ++r) {
      if (schedule_.is_random()) set_mixing(schedule_.at(k, r));
      device_->mix();
    }
    device_->step(Slot::Z, Slot::X, Slot::dir, etas_);
    evaluate();
    if (adam()) {
      advance();
    } else {
      device_->copy(Slot::dir, Slot::G);
    }
    device_->step(Slot::X, Slot::X, Slot::dir, etas_);
    stale();
  }

  const Matrix& z() override { return fetch(Slot::Z, Z_, z_fresh_); }
  const Matrix& x() override { return fetch(Slot::X, X_, x_fresh_); }
  std::int64_t oracle_calls() const override { return calls_; }

 private:
  bool adam() const { return rule_.name == "oadam"; }

  void set_mixing(const Topology& W) {
    const Matrix dense = W.dense();
    device_->set_mixing(dense.data());
  }

  void evaluate() {
    stage_batches(p_, plan_, *rngs_, device_->batch_inputs());
    device_->evaluate(clip_);
    ++calls_;
  }

  void advance() {
    ++count_;
    const double c1 = 1.0 - std::pow(rule_.beta1, static_cast<double>(count_));
    const double c2 = 1.0 - std::pow(rule_.beta2, static_cast<double>(count_));
    device_->adam({rule_.beta1, rule_.beta2, rule_.eps, c1, c2});
  }

  void stale() { z_fresh_ = x_fresh_ = false; }

  const Matrix& fetch(Slot s, Matrix& host, bool& fresh) {
    if (!fresh) {
      host.resize(p_.dim(), M_);
      device_->download(s, host.data());
      fresh = true;
    }
    return host;
  }

  const GanProblem& p_;
  MixingSchedule schedule_;
  StepRuleOptions rule_;
  DriverOptions opts_;
  std::unique_ptr<ResidentDevice> device_;
  StepEtas etas_;
  double clip_;
  Index M_ = 0;
  GanPlan plan_;
  std::unique_ptr<WorkerRngs> rngs_;
  std::int64_t count_ = 0, calls_ = 0;
  Matrix Z_, X_;  // host copies, downloaded when the driver asks
  bool z_fresh_ = false, x_fresh_ = false;
};

}  // namespace

std::string resident_unsupported(const Problem& problem, const StepRuleOptions& rule, const DriverOptions& opts,
                                 const std::string& algorithm, bool compressed) {
  const auto* gan = dynamic_cast<const GanProblem*>(&problem);
  if (!gan) return "--engine: 'resident' runs the GAN problems (gan-*), whose operator has a device implementation";
  if (gan->device() != "cuda" && gan->device() != "cpu-float")
    return "--engine: 'resident' needs --device cuda (or cpu-float, its CPU twin), got '" + gan->device() + "'";
  if (rule.name != "osg" && rule.name != "oadam")
    return "--engine: 'resident' runs --step-rule osg or oadam, got '" + rule.name + "'";
  if (algorithm != "dposg") return "--engine: 'resident' runs --algorithm dposg, got '" + algorithm + "'";
  if (compressed) return "--engine: 'resident' runs exact gossip (no --compressor)";
  if (opts.overlap) return "--engine: 'resident' runs Algorithm 1 (no --overlap)";
  return "";
}

std::unique_ptr<ResidentDevice> make_host_resident_device() { return std::make_unique<HostResidentDevice>(); }

std::unique_ptr<IterationEngine> make_resident_engine(const Problem& problem, const MixingSchedule& schedule,
                                                      const StepRuleOptions& rule, const DriverOptions& opts) {
  const auto& gan = dynamic_cast<const GanProblem&>(problem);
  std::unique_ptr<ResidentDevice> device =
      gan.device() == "cuda" ? make_cuda_resident_device(gan.cuda_device()) : make_host_resident_device();
  return std::make_unique<ResidentEngine>(gan, schedule, rule, opts, std::move(device));
}

}  // namespace dposg::gan::cuda
