#pragma once
// Helpers shared by the synthetic problems (problems/README.md has the conventions in full).
//
// Conventions every problem in problems/ follows:
// - d = opts.dim is the total dimension; z = (u, v) with u the first dim_u coordinates (the min
//   player) and v the rest (the max player); g(z) = [grad_u f, -grad_v f] (paper, Sec. 3).
// - Algorithm 1 starts at z = 0, so a problem places its solution x* away from 0: x* is a Gaussian
//   vector drawn from make_rng(seed, StreamPurpose::instance, 0) rescaled to norm
//   opts.solution_norm, and f(z) = f0(z - x*) with f0's solution at 0. Other instance data
//   (random orthogonal factors) come from make_rng(seed, StreamPurpose::instance, k), k >= 1, so
//   that x* never depends on what else was drawn.
// - Additive Gaussian noise: g(z; xi) = g(z) + e, e the average of m = batch i.i.d. isotropic
//   Gaussians of total variance sigma^2 = noise^2, drawn directly as N(0, sigma^2/(d m)) per
//   coordinate, so E||g(z; xi) - g(z)||^2 = sigma^2/m exactly. Column i draws only from rngs[i].
//   With noise == 0 nothing is drawn.
// - Columns are evaluated independently (one matrix-vector product per column, in an
//   `omp parallel for` over columns), so column i depends only on Z.col(i) and rngs[i]: the result
//   does not depend on the number of threads nor on which block of workers a process holds.
#include <cstdint>
#include <string>

#include "core/problem.hpp"
#include "core/rng.hpp"
#include "core/types.hpp"
#include "problems/options.hpp"

namespace dposg::problems {

// --- option validation (throws InputError naming the CLI option) ---------------------------------
void require_even_dim(const SyntheticOptions& o, const std::string& problem);  // --dim even, >= 2
void require_noise(const SyntheticOptions& o);          // --noise finite, >= 0
void require_cond(const SyntheticOptions& o);           // --cond finite, >= 1
void require_coupling(const SyntheticOptions& o);       // --coupling finite, > 0
void require_alpha(const SyntheticOptions& o);          // --alpha finite, >= 0
void require_solution_norm(const SyntheticOptions& o);  // --solution-norm finite, >= 0

// How the additive noise turns a worker's stream into normals (--noise-normals).
enum class NoiseNormals {
  std_polar,  // std::normal_distribution<double>: ~2.5 words of the stream a normal (a problem's default)
  ziggurat,   // WorkerRngs' counter-based key a call, keying core/counter_normals.hpp's ziggurat
};
NoiseNormals noise_normals(const SyntheticOptions& o);  // --noise-normals std | ziggurat

// check_exact_args, check_sample_args and write_constants are core/problem.hpp's (every problem uses them).

// --- instance construction ----------------------------------------------------------------------
// Gaussian vector of length `len` from make_rng(seed, instance, 0), rescaled to norm `norm`
// (the zero vector when norm == 0).
Vector draw_shift(std::uint64_t seed, Index len, double norm);

// Haar-distributed n x n orthogonal matrix: Householder QR of a Gaussian matrix drawn from
// make_rng(seed, instance, k), columns of Q multiplied by sign(R_jj).
Matrix random_orthogonal(std::uint64_t seed, std::uint64_t k, Index n);

// n singular values log-spaced from coupling/cond (last) to coupling (first), descending;
// n == 1 gives {coupling}.
Vector log_spaced_singular_values(Index n, double coupling, double cond);

// A = U diag(s) V^T with U from instance stream k=1, V from k=2 (bilinear and star share it).
Matrix coupling_matrix(std::uint64_t seed, const Vector& s);

// --- noise --------------------------------------------------------------------------------------
// Adds N(0, noise^2/(len*batch)) to every entry of `col` (len = col.size()), drawing from rng.
// Nothing is drawn when noise == 0.
// (--noise-normals std; ziggurat's normals are drawn in AdditiveNoiseProblem::sample.)
void add_isotropic_noise(Rng& rng, double noise, Index batch, Eigen::Ref<Vector> col);

// z - x* in a buffer of the calling thread's, valid until its next call on that thread: an operator
// column costs a few hundred flops, and a heap vector per column (with the product's temporary) was
// a fifth of an iteration at M = 10^6 (issue #20).
const Vector& shifted(const Eigen::Ref<const Vector>& z, const Vector& x_star);

// A problem whose stochastic operator is its exact operator plus isotropic Gaussian noise of
// per-sample variance noise^2 (the common convention), evaluated column by column; subclasses
// give the exact operator of one column.
class AdditiveNoiseProblem : public Problem {
 public:
  void exact(const Matrix& Z, Matrix& G) const final;
  void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const final;

 protected:
  virtual void exact_column(const Eigen::Ref<const Vector>& z, Eigen::Ref<Vector> g) const = 0;
  // Scalar operations of one exact_column call: small batches of columns run on one thread.
  virtual Index column_work() const = 0;
  // --noise and --noise-normals, validated.
  void set_noise(const SyntheticOptions& o);
  double noise_ = 0.0;
  NoiseNormals normals_ = NoiseNormals::std_polar;
};

}  // namespace dposg::problems
