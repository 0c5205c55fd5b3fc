#include "problems/robust_regression.hpp"

#include <cmath>
#include <random>

#include "core/error.hpp"

namespace dposg::problems {

RobustRegressionProblem::RobustRegressionProblem(const SyntheticOptions& opts) : lambda_(opts.alpha), file_(opts.file) {
  if (opts.file.empty()) throw InputError("--problem-file: robust-regression needs a LIBSVM file");
  if (!(opts.alpha >= 0.0) || !std::isfinite(opts.alpha)) throw InputError("--alpha: must be finite and >= 0");
  data_ = data::read_libsvm(opts.file);
  p_ = data_.features;
  if (p_ < 1) throw InputError("--problem-file: '" + opts.file + "' has no features");
}

void RobustRegressionProblem::operator_at(const Eigen::Ref<const Vector>& z, const Index* rows, Index count,
                                          Eigen::Ref<Vector> g) const {
  const auto x = z.head(p_), y = z.tail(p_);
  const double yx = y.dot(x);
  auto gx = g.head(p_);
  gx.setZero();
  double c_sum = 0.0;
  const Index n = rows ? count : data_.rows();
  const std::size_t* start = data_.row_start.data();
  for (Index q = 0; q < n; ++q) {
    const std::size_t r = static_cast<std::size_t>(rows ? rows[q] : q);
    // Minibatch rows are random: fetch the rows a few ahead, whose misses would otherwise come one
    // after the other (row offset, then its indices and values).
    if (rows) {
      if (q + 8 < n) __builtin_prefetch(start + rows[q + 8]);
      if (q + 4 < n) {
        const std::size_t ahead = start[static_cast<std::size_t>(rows[q + 4])];
        __builtin_prefetch(data_.index.data() + ahead);
        __builtin_prefetch(data_.value.data() + ahead);
      }
    }
    double ax = 0.0;
    for (std::size_t k = data_.row_start[r]; k < data_.row_start[r + 1]; ++k) ax += data_.value[k] * x[data_.index[k]];
    const double res = data_.labels[r] - ax - yx;
    const double c = 2.0 * res / (2.0 + res * res);
    c_sum += c;
    for (std::size_t k = data_.row_start[r]; k < data_.row_start[r + 1]; ++k) gx[data_.index[k]] -= c * data_.value[k];
  }
  const double inv = 1.0 / static_cast<double>(n);
  gx = gx * inv - (c_sum * inv) * y;
  g.tail(p_) = (c_sum * inv) * x + lambda_ * y;
}

void RobustRegressionProblem::exact(const Matrix& Z, Matrix& G) const {
  check_exact_args(Z, dim(), name());
  G.resize(Z.rows(), Z.cols());
#pragma omp parallel for schedule(static) if (Z.cols() > 1)
  for (Index i = 0; i < Z.cols(); ++i) operator_at(Z.col(i), nullptr, 0, G.col(i));
}

void RobustRegressionProblem::sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const {
  check_sample_args(Z, dim(), batch, rngs, name());
  G.resize(Z.rows(), Z.cols());
  // Indices are drawn serially (stream i only for column i), the operator in parallel.
  std::vector<Index> rows(static_cast<std::size_t>(batch * Z.cols()));
  for (Index i = 0; i < Z.cols(); ++i) {
    std::uniform_int_distribution<Index> pick(0, data_.rows() - 1);
    for (Index q = 0; q < batch; ++q) rows[static_cast<std::size_t>(i * batch + q)] = pick(rngs[i]);
  }
#pragma omp parallel for schedule(static) if (Z.cols() > 1)
  for (Index i = 0; i < Z.cols(); ++i) operator_at(Z.col(i), rows.data() + i * batch, batch, G.col(i));
}

double RobustRegressionProblem::value(const Vector& z) const {
  const auto x = z.head(p_), y = z.tail(p_);
  double sum = 0.0;
  for (Index r = 0; r < data_.rows(); ++r) {
    double ax = 0.0;
    for (std::size_t k = data_.row_start[static_cast<std::size_t>(r)]; k < data_.row_start[static_cast<std::size_t>(r) + 1]; ++k)
      ax += data_.value[k] * x[data_.index[k]];
    const double res = data_.labels[static_cast<std::size_t>(r)] - ax - y.dot(x);
    sum += std::log1p(res * res / 2.0);
  }
  return sum / static_cast<double>(data_.rows()) - 0.5 * lambda_ * y.squaredNorm();
}

ProblemConstants RobustRegressionProblem::constants() const {
  ProblemConstants c;
  c.assumption_iv = false;  // not known to hold: the solution is unknown
  return c;
}

void RobustRegressionProblem::write_instance(InstanceWriter& out) const {
  out.text("formula",
           "robust-regression: z = (x, y), x = z[0:p], y = z[p:2p]; f = (1/n) sum_i log(1 + r_i^2/2) - lambda/2 ||y||^2, "
           "r_i = b_i - (a_i + y)^T x; g = [grad_x f, -grad_y f]; stochastic: batch rows uniform with replacement.");
  out.text("file", file_);
  out.scalar("rows", static_cast<double>(data_.rows()));
  out.scalar("features", static_cast<double>(p_));
  out.scalar("nonzeros", static_cast<double>(data_.value.size()));
  out.scalar("lambda", lambda_);
}

}  // namespace dposg::problems
