#include "core/step_rule.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/array_ops.hpp"
#include "core/error.hpp"
#include "core/parallel_ranges.hpp"

namespace dposg {

void adam_update(const double* g, double* m, double* v, double* dir, Index n, std::int64_t count, const AdamParams& p) {
  const double c1 = 1.0 - std::pow(p.beta1, static_cast<double>(count));
  const double c2 = 1.0 - std::pow(p.beta2, static_cast<double>(count));
  const double b1 = p.beta1, b2 = p.beta2, ob1 = 1.0 - p.beta1, ob2 = 1.0 - p.beta2, eps = p.eps;
  // Chunks small enough for L1, so that the three expressions make one pass over memory.
  constexpr Index kChunk = 512;
  for (Index c0 = 0; c0 < n; c0 += kChunk) {
    const Index k = std::min(kChunk, n - c0);
    const Eigen::Map<const Eigen::ArrayXd> gc(g + c0, k);
    Eigen::Map<Eigen::ArrayXd> mc(m + c0, k), vc(v + c0, k), dc(dir + c0, k);
    mc = b1 * mc + ob1 * gc;
    vc = b2 * vc + ob2 * (gc * gc);
    dc = (mc / c1) / ((vc / c2).sqrt() + eps);
  }
}

void apply_step(const Matrix& base, const StepSize& step, const Matrix& dir, Matrix& out) {
  const Index d = base.rows();
  const Index du = std::clamp<Index>(step.dim_u, 0, d);
  out.resize(d, base.cols());
  const double* b = base.data();
  const double* g = dir.data();
  double* o = out.data();  // may be base itself (X <- X - eta g): each element is read before it is written
  const double eu = step.eta_u, ev = step.eta_v;
  for_each_flat_range(d, base.cols(), [&](Index col, Index r0, Index r1) {
    const Index off = col * d;
    const Index mid = std::clamp(du, r0, r1);
    for (Index r = r0; r < mid; ++r) o[off + r] = b[off + r] - eu * g[off + r];
    for (Index r = mid; r < r1; ++r) o[off + r] = b[off + r] - ev * g[off + r];
  });
}

namespace {

// Algorithm 1, lines 3-4:  Z_k = X_{k-1}W^t - eta g(Z_{k-1}; xi_{k-1}),  X_k = X_{k-1}W^t - eta g(Z_k; xi_k).
// The operator of line 4 at iteration k is reused in line 3 at k+1 (the paper's remark): one call.
class Osg final : public StepProgram {
 public:
  explicit Osg(StepSize s) : step_(s) {}
  std::string name() const override { return "osg"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(ArrayOps& a, Array Z, Array) override {
    g_prev_ = a.allocate();
    a.evaluate(Z, g_prev_);
  }
  void step(ArrayOps& a, Array Z, Array X) override {
    a.step(Z, X, g_prev_, step_);
    a.evaluate(Z, g_prev_);
    a.step(X, X, g_prev_, step_);
  }
  std::vector<std::pair<std::string, Array>> state() const override { return {{"g_prev", g_prev_}}; }

 private:
  StepSize step_;
  Array g_prev_ = -1;
};

// Optimistic Adam (CP-/DP-/Rand-DP-OAdam): OSG's two sequences with the Adam direction
// m_hat / (sqrt(v_hat) + eps) in place of g; moments advance once per new operator value.
// For M = 1 this is z_{k+1} = z_k - 2 eta D_k + eta D_{k-1}, the optimistic Adam of
// Daskalakis et al. (2018).
class OAdam final : public StepProgram {
 public:
  explicit OAdam(const StepRuleOptions& o) : step_(o.step), adam_{o.beta1, o.beta2, o.eps} {}
  std::string name() const override { return "oadam"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(ArrayOps& a, Array Z, Array) override {
    m_ = a.allocate();
    v_ = a.allocate();
    g_ = a.allocate();
    dir_prev_ = a.allocate();
    count_ = 0;
    a.evaluate(Z, g_);
    a.adam(g_, m_, v_, dir_prev_, ++count_, adam_);
  }
  void step(ArrayOps& a, Array Z, Array X) override {
    a.step(Z, X, dir_prev_, step_);
    a.evaluate(Z, g_);
    a.adam(g_, m_, v_, dir_prev_, ++count_, adam_);
    a.step(X, X, dir_prev_, step_);
  }
  std::vector<std::pair<std::string, Array>> state() const override {
    return {{"m", m_}, {"v", v_}, {"g", g_}, {"dir_prev", dir_prev_}};
  }
  std::vector<std::pair<std::string, std::int64_t*>> counters() override { return {{"count", &count_}}; }

 private:
  StepSize step_;
  AdamParams adam_;
  Array m_ = -1, v_ = -1, g_ = -1, dir_prev_ = -1;
  std::int64_t count_ = 0;
};

// Extragradient (Korpelevich; stochastic version of Iusem et al.): two operator calls.
//   Z_k = X_{k-1}W^t - eta g(X_{k-1}W^t),   X_k = X_{k-1}W^t - eta g(Z_k).
class Extragradient final : public StepProgram {
 public:
  explicit Extragradient(StepSize s) : step_(s) {}
  std::string name() const override { return "extragradient"; }
  int oracle_calls_per_iteration() const override { return 2; }
  void init(ArrayOps& a, Array, Array) override { g_ = a.allocate(); }
  void step(ArrayOps& a, Array Z, Array X) override {
    a.evaluate(X, g_);
    a.step(Z, X, g_, step_);
    a.evaluate(Z, g_);
    a.step(X, X, g_, step_);
  }
  std::vector<std::pair<std::string, Array>> state() const override { return {{"g", g_}}; }

 private:
  StepSize step_;
  Array g_ = -1;
};

// Simultaneous gradient descent-ascent: X_k = X_{k-1}W^t - eta g(X_{k-1}W^t); Z_k = X_k.
class Gda final : public StepProgram {
 public:
  explicit Gda(StepSize s) : step_(s) {}
  std::string name() const override { return "gda"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(ArrayOps& a, Array, Array) override { g_ = a.allocate(); }
  void step(ArrayOps& a, Array Z, Array X) override {
    a.evaluate(X, g_);
    a.step(X, X, g_, step_);
    a.copy(Z, X);
  }
  std::vector<std::pair<std::string, Array>> state() const override { return {{"g", g_}}; }

 private:
  StepSize step_;
  Array g_ = -1;
};

// A program as a StepRule: its arrays are the caller's Z and X (rebound at every call, since the
// driver hands over X_local under overlap) and host matrices for its state.
class HostStepRule final : public StepRule {
 public:
  explicit HostStepRule(std::unique_ptr<StepProgram> p) : program_(std::move(p)) {}
  std::string name() const override { return program_->name(); }
  int oracle_calls_per_iteration() const override { return program_->oracle_calls_per_iteration(); }
  void init(Matrix& Z, Matrix& X, Oracle& oracle) override {
    arrays_ = std::make_unique<HostArrays>(Z.rows(), Z.cols());
    z_ = arrays_->bind(Z);
    x_ = arrays_->bind(X);
    arrays_->use_oracle(oracle);
    program_->init(*arrays_, z_, x_);
  }
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    if (!arrays_) throw std::logic_error("StepRule::step before init");
    arrays_->rebind(z_, Z);
    arrays_->rebind(x_, X);
    arrays_->use_oracle(oracle);
    program_->step(*arrays_, z_, x_);
  }
  bool checkpointable() const override { return true; }
  void save_state(StateArchive& a) const override {
    if (!arrays_) throw std::logic_error("StepRule::save_state before init");
    save_program_state(*program_, *arrays_, a);
  }
  void load_state(const StateArchive& a) override {
    if (!arrays_) throw std::logic_error("StepRule::load_state before init");
    load_program_state(*program_, *arrays_, a);
  }

 private:
  std::unique_ptr<StepProgram> program_;
  std::unique_ptr<HostArrays> arrays_;
  Array z_ = -1, x_ = -1;
};

}  // namespace

std::vector<std::string> step_rule_names() { return {"osg", "oadam", "extragradient", "gda"}; }

std::unique_ptr<StepProgram> make_step_program(const StepRuleOptions& o) {
  auto positive = [](double v, const std::string& opt) {
    if (!(v > 0.0) || !std::isfinite(v)) {
      std::ostringstream s;
      s << opt << ": must be a positive number, got " << v;
      throw InputError(s.str());
    }
  };
  positive(o.step.eta_u, setting("step.eta_u"));
  positive(o.step.eta_v, setting("step.eta_v"));
  if (o.name == "osg") return std::make_unique<Osg>(o.step);
  if (o.name == "extragradient") return std::make_unique<Extragradient>(o.step);
  if (o.name == "gda") return std::make_unique<Gda>(o.step);
  if (o.name == "oadam") {
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) throw InputError(setting("step_rule.beta1") + ": must be in [0, 1)");
    if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) throw InputError(setting("step_rule.beta2") + ": must be in [0, 1)");
    positive(o.eps, setting("step_rule.eps"));
    return std::make_unique<OAdam>(o);
  }
  std::string known;
  for (const auto& n : step_rule_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError(setting("step_rule.name") + ": unknown step rule '" + o.name + "' (known: " + known + ")");
}

std::unique_ptr<StepRule> make_step_rule(const StepRuleOptions& o) {
  return std::make_unique<HostStepRule>(make_step_program(o));
}

}  // namespace dposg
