#pragma once
// The options of the synthetic problems (problems/README.md documents how each problem uses them).
// app/problem_catalog.hpp combines them with the GAN options into the run's problem choice.
#include <cstdint>
#include <string>

#include "core/types.hpp"

namespace dposg::problems {

struct SyntheticOptions {
  Index dim = 20;              // d (total, u and v together)
  double noise = 0.1;          // sigma: per-sample noise std of the stochastic operator
  std::string noise_normals = "std";  // std (std::normal_distribution) | ziggurat (core/counter_normals.hpp)
  double cond = 10.0;          // condition number of the coupling matrix A (singular values in [1/cond, 1]*scale)
  double coupling = 1.0;       // scale of A: its largest singular value
  double alpha = 1.0;          // weight of the nonconvex/nonconcave separable terms (star)
  std::string coupling_matrix = "dense";  // star: dense (A = U diag(s) V^T) | diagonal (A = diag(s), O(d))
  double solution_norm = 1.0;  // ||x*|| of the shift chosen from the seed
  std::string file;            // data file of file-based problems
  std::uint64_t seed = 0;      // instance seed (the run's seed)
};

}  // namespace dposg::problems
