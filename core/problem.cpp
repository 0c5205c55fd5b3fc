#include "core/problem.hpp"

#include <stdexcept>

#include "core/error.hpp"

namespace dposg {

void check_exact_args(const Matrix& Z, Index d, const std::string& problem) {
  if (Z.rows() != d)
    throw std::invalid_argument(problem + ": Z has " + std::to_string(Z.rows()) +
                                " rows, the problem has dimension " + std::to_string(d));
}

void check_sample_args(const Matrix& Z, Index d, Index batch, const WorkerRngs& rngs,
                       const std::string& problem) {
  check_exact_args(Z, d, problem);
  if (batch < 1) throw InputError(setting("problem.batch") + ": must be >= 1, got " + std::to_string(batch));
  if (rngs.size() < Z.cols())
    throw std::invalid_argument(problem + ": " + std::to_string(Z.cols()) + " columns but only " +
                                std::to_string(rngs.size()) + " worker streams");
}

void write_constants(InstanceWriter& out, const ProblemConstants& c) {
  out.scalar("L", c.L);
  out.scalar("sigma", c.sigma);
  out.scalar("G", c.G);
  out.scalar("D", c.D);
  out.scalar("assumption_iv", c.assumption_iv ? 1.0 : 0.0);
  if (c.x_star) out.vector("x_star", *c.x_star);
}

}  // namespace dposg
