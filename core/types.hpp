#pragma once
// Shared numeric types. Column i of every d x M matrix is worker i (DESIGN.md §2).
#include <Eigen/Dense>
#include <cstdint>

namespace dposg {

using Index = Eigen::Index;
using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;

}  // namespace dposg
