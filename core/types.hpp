#pragma once
// Shared numeric types. Column i of every d x M matrix is worker i (DESIGN.md §2).
#include <Eigen/Dense>
#include <cstdint>

namespace dposg {

using Index = Eigen::Index;
using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;

// Below this many scalar operations a loop runs on one thread: waking an OpenMP team costs more
// than the work, and on a loaded machine a spinning team can cost milliseconds.
inline constexpr Index kParallelMinWork = 1 << 16;

}  // namespace dposg
