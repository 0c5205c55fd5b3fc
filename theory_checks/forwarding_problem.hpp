#pragma once
// A problem that forwards every call to the problem it wraps: the verifier's deliberate faults
// (theory_checks/) derive from it and override only what they change.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.hpp"

namespace dposg::verify {

class ForwardingProblem : public Problem {
 public:
  explicit ForwardingProblem(std::unique_ptr<Problem> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  Index dim() const override { return inner_->dim(); }
  Index dim_u() const override { return inner_->dim_u(); }
  void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const override {
    inner_->sample(Z, batch, rngs, G);
  }
  bool has_exact() const override { return inner_->has_exact(); }
  void exact(const Matrix& Z, Matrix& G) const override { inner_->exact(Z, G); }
  ProblemConstants constants() const override { return inner_->constants(); }
  void write_instance(InstanceWriter& out) const override { inner_->write_instance(out); }
  void extra_metrics(const Vector& z_bar, Rng& rng, MetricsRow& row) const override {
    inner_->extra_metrics(z_bar, rng, row);
  }
  Vector initial_point(Rng& rng) const override { return inner_->initial_point(rng); }
  void final_outputs(const Vector& z_bar, Rng& rng, std::vector<std::pair<std::string, Matrix>>& out) const override {
    inner_->final_outputs(z_bar, rng, out);
  }

 protected:
  const Problem& inner() const { return *inner_; }

 private:
  std::unique_ptr<Problem> inner_;
};

}  // namespace dposg::verify
