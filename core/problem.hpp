#pragma once
// Problem: the stochastic operator g(z; xi) = [grad_u f, -grad_v f] of a min-max problem,
// batched over workers (DESIGN.md §2). Column i of Z is worker i's point z^i.
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg {

// Assumption 1 of the paper, as the problem states it. G and D refer to the ball
// ||z|| <= D/2 (Theorem 1 assumes ||x*|| <= D/2 and ||z̄_k|| <= D/2); an operator that grows
// without bound (e.g. bilinear) has a finite G only there.
struct ProblemConstants {
  double L = std::numeric_limits<double>::infinity();      // (i) Lipschitz constant of g
  double sigma = 0.0;                                        // (ii) per-sample noise std: E||g(x;xi)-g(x)||^2 <= sigma^2
  double G = std::numeric_limits<double>::infinity();      // (iii) sup ||g(z)|| over ||z|| <= D/2
  double D = std::numeric_limits<double>::infinity();      // radius bound of Theorem 1
  std::optional<Vector> x_star;                              // (iv) the point x*, where known
  bool assumption_iv = true;  // false for the negative control: no x* satisfies (iv)
};

// Where a problem writes its instance (matrices, vectors, x*) so that a result can be
// re-analysed without the code. Implemented by the HDF5 Recorder; tests may implement it too.
class InstanceWriter {
 public:
  virtual ~InstanceWriter() = default;
  virtual void matrix(const std::string& name, const Matrix& m) = 0;
  virtual void vector(const std::string& name, const Vector& v) = 0;
  virtual void scalar(const std::string& name, double value) = 0;
  virtual void text(const std::string& name, const std::string& value) = 0;
};

class Problem {
 public:
  virtual ~Problem() = default;

  virtual std::string name() const = 0;
  virtual Index dim() const = 0;    // d
  virtual Index dim_u() const = 0;  // the first dim_u() coordinates are u (min player), the rest v

  // Stochastic operator for every column of Z, minibatch of `batch` samples per worker, worker i
  // drawing from rngs[i]; a process holding only a block of workers builds its WorkerRngs with
  // the block's first global index, so worker streams do not depend on where a worker runs.
  // G is resized to Z's shape.
  virtual void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const = 0;

  // The exact operator E[g(z; xi)] column by column, where the problem knows it.
  virtual bool has_exact() const { return true; }
  virtual void exact(const Matrix& Z, Matrix& G) const = 0;

  virtual ProblemConstants constants() const = 0;

  // Writes the instance data and constants needed to recompute g without the code.
  virtual void write_instance(InstanceWriter& out) const = 0;

  // Problem-specific metrics at the worker average, added to every logged row (e.g. a GAN's
  // loss_g, loss_d, modes_covered). `rng` is an evaluation stream of its own.
  virtual void extra_metrics(const Vector& z_bar, Rng& rng, MetricsRow& row) const {
    (void)z_bar;
    (void)rng;
    (void)row;
  }
  // Where a problem has a natural random start (network weights), it draws it here; the default
  // is the zero start of Algorithm 1. Used by --init problem.
  // Scores of one worker's own iterate z^i (the GANs' is_classifier of that worker's generator), one
  // per name of worker_metric_names(); the driver reports <name>_min and <name>_max over the workers
  // that --eval-workers picks (the paper's band from the lowest to the highest learner). None by default.
  virtual std::vector<std::string> worker_metric_names() const { return {}; }
  virtual Vector worker_metrics(const Vector& z, Rng& rng) const {
    (void)z;
    (void)rng;
    return Vector();
  }
  virtual Vector initial_point(Rng& rng) const {
    (void)rng;
    return Vector::Zero(dim());
  }
  // Outputs a run stores under final/ next to z̄ (e.g. a GAN's generator samples), computed once
  // at the end from the final worker average with an evaluation stream of its own.
  virtual void final_outputs(const Vector& z_bar, Rng& rng, std::vector<std::pair<std::string, Matrix>>& out) const {
    (void)z_bar;
    (void)rng;
    (void)out;
  }
};

// Checks the arguments of Problem::sample / exact (shared by every problem): Z has d rows
// (std::invalid_argument: a programming error); batch >= 1 (InputError naming --batch); rngs holds at
// least Z.cols() streams (std::invalid_argument).
void check_exact_args(const Matrix& Z, Index d, const std::string& problem);
void check_sample_args(const Matrix& Z, Index d, Index batch, const WorkerRngs& rngs, const std::string& problem);

// Writes the scalar constants and x* (when known) of `c`.
void write_constants(InstanceWriter& out, const ProblemConstants& c);

}  // namespace dposg
