#pragma once
// robust-regression: the robust nonconvex regression of DGDA-VR's experiments (Mancino-Ball et al.;
// reference code gmancino/DGDA-VR, cpu/models/base.py) on a LIBSVM file (--problem-file, data/libsvm.hpp):
// the model x in R^p against an adversary y in R^p that perturbs every feature vector,
//     f(x, y) = (1/n) sum_i log(1 + r_i^2 / 2) - (lambda/2) ||y||^2,   r_i = b_i - (a_i + y)^T x,
//     g(z) = [grad_x f, -grad_y f] = [-(1/n) sum_i c_i (a_i + y),  (1/n)(sum_i c_i) x + lambda y],
//     c_i = 2 r_i / (2 + r_i^2)  (d/dr log(1 + r^2/2)),
// z = (x, y), d = 2p with p the file's number of features; --dim is ignored; lambda = --alpha (the
// reference code's y_penalty, 1 by default). The reference code's coefficient is 4 r/(r^2 + 2), twice the
// derivative of its own loss; this is the derivative.
// Stochastic: every worker draws `batch` rows uniformly with replacement from the whole file (i.i.d.
// workers, the paper's setting; the reference code gives each node a block of rows instead), from its
// own stream. exact: the mean over all n rows.
//
// Assumption 1: the loss is nonconvex in x and f is lambda-strongly concave in y. (i) g is Lipschitz on
// bounded sets only (the terms c_i y and (sum c_i) x are products of the two players), so no global L is
// stated; (ii) no closed-form sigma; (iii) |c_i| <= 1/sqrt(2), so on ||z|| <= R
// ||g|| <= (max_i ||a_i|| + R)/sqrt(2) + R/sqrt(2) + lambda R, but D (the solution's radius) is unknown;
// (iv) the solution is unknown. Every constant is left unstated (infinite, no x*).
#include <memory>

#include "core/problem.hpp"
#include "data/libsvm.hpp"
#include "problems/options.hpp"

namespace dposg::problems {

class RobustRegressionProblem final : public Problem {
 public:
  explicit RobustRegressionProblem(const SyntheticOptions& opts);
  std::string name() const override { return "robust-regression"; }
  Index dim() const override { return 2 * p_; }
  Index dim_u() const override { return p_; }
  void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const override;
  void exact(const Matrix& Z, Matrix& G) const override;
  ProblemConstants constants() const override;
  void write_instance(InstanceWriter& out) const override;
  double value(const Vector& z) const;  // f(x, y), for the checks

 private:
  // g at z over the rows `rows` (size count), or over all rows when rows is null.
  void operator_at(const Eigen::Ref<const Vector>& z, const Index* rows, Index count, Eigen::Ref<Vector> g) const;

  data::SparseSamples data_;
  Index p_ = 0;
  double lambda_ = 1.0;
  std::string file_;
};

}  // namespace dposg::problems
