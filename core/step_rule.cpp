#include "core/step_rule.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

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
class Osg final : public StepRule {
 public:
  explicit Osg(StepSize s) : step_(s) {}
  std::string name() const override { return "osg"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(Matrix& Z, Matrix&, Oracle& oracle) override { oracle(Z, g_prev_); }
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    apply_step(X, step_, g_prev_, Z);
    oracle(Z, g_prev_);
    apply_step(X, step_, g_prev_, X);
  }

 private:
  StepSize step_;
  Matrix g_prev_;
};

// Optimistic Adam (CP-/DP-/Rand-DP-OAdam): OSG's two sequences with the Adam direction
// m_hat / (sqrt(v_hat) + eps) in place of g; moments advance once per new operator value.
// For M = 1 this is z_{k+1} = z_k - 2 eta D_k + eta D_{k-1}, the optimistic Adam of
// Daskalakis et al. (2018).
class OAdam final : public StepRule {
 public:
  explicit OAdam(const StepRuleOptions& o) : step_(o.step), beta1_(o.beta1), beta2_(o.beta2), eps_(o.eps) {}
  std::string name() const override { return "oadam"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(Matrix& Z, Matrix&, Oracle& oracle) override {
    m_.setZero(Z.rows(), Z.cols());
    v_.setZero(Z.rows(), Z.cols());
    count_ = 0;
    oracle(Z, g_);
    advance(g_, dir_prev_);
  }
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    apply_step(X, step_, dir_prev_, Z);
    oracle(Z, g_);
    advance(g_, dir_prev_);
    apply_step(X, step_, dir_prev_, X);
  }

 private:
  // The moments and direction of every entry, on all threads (adam_update per range).
  void advance(const Matrix& g, Matrix& dir) {
    ++count_;
    const Index d = g.rows();
    dir.resize(d, g.cols());
    const AdamParams p{beta1_, beta2_, eps_};
    for_each_flat_range(d, g.cols(), [&](Index col, Index r0, Index r1) {
      const Index at = col * d + r0;
      adam_update(g.data() + at, m_.data() + at, v_.data() + at, dir.data() + at, r1 - r0, count_, p);
    });
  }
  StepSize step_;
  double beta1_, beta2_, eps_;
  Matrix m_, v_, g_, dir_prev_;
  std::int64_t count_ = 0;
};

// Extragradient (Korpelevich; stochastic version of Iusem et al.): two operator calls.
//   Z_k = X_{k-1}W^t - eta g(X_{k-1}W^t),   X_k = X_{k-1}W^t - eta g(Z_k).
class Extragradient final : public StepRule {
 public:
  explicit Extragradient(StepSize s) : step_(s) {}
  std::string name() const override { return "extragradient"; }
  int oracle_calls_per_iteration() const override { return 2; }
  void init(Matrix&, Matrix&, Oracle&) override {}
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    oracle(X, g_);
    apply_step(X, step_, g_, Z);
    oracle(Z, g_);
    apply_step(X, step_, g_, X);
  }

 private:
  StepSize step_;
  Matrix g_;
};

// Simultaneous gradient descent-ascent: X_k = X_{k-1}W^t - eta g(X_{k-1}W^t); Z_k = X_k.
class Gda final : public StepRule {
 public:
  explicit Gda(StepSize s) : step_(s) {}
  std::string name() const override { return "gda"; }
  int oracle_calls_per_iteration() const override { return 1; }
  void init(Matrix&, Matrix&, Oracle&) override {}
  void step(Matrix& Z, Matrix& X, Oracle& oracle) override {
    oracle(X, g_);
    apply_step(X, step_, g_, X);
    Z = X;
  }

 private:
  StepSize step_;
  Matrix g_;
};

}  // namespace

std::vector<std::string> step_rule_names() { return {"osg", "oadam", "extragradient", "gda"}; }

std::unique_ptr<StepRule> make_step_rule(const StepRuleOptions& o) {
  auto positive = [](double v, const char* opt) {
    if (!(v > 0.0) || !std::isfinite(v)) {
      std::ostringstream s;
      s << opt << ": must be a positive number, got " << v;
      throw InputError(s.str());
    }
  };
  positive(o.step.eta_u, "--lr");
  positive(o.step.eta_v, "--lr-v");
  if (o.name == "osg") return std::make_unique<Osg>(o.step);
  if (o.name == "extragradient") return std::make_unique<Extragradient>(o.step);
  if (o.name == "gda") return std::make_unique<Gda>(o.step);
  if (o.name == "oadam") {
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) throw InputError("--beta1: must be in [0, 1)");
    if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) throw InputError("--beta2: must be in [0, 1)");
    positive(o.eps, "--eps");
    return std::make_unique<OAdam>(o);
  }
  std::string known;
  for (const auto& n : step_rule_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("--step-rule: unknown step rule '" + o.name + "' (known: " + known + ")");
}

}  // namespace dposg
