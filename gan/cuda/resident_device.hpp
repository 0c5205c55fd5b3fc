#pragma once
// The device side of the resident engine (gan/cuda/resident_engine.hpp): the workers' iterates X and Z,
// the step's direction, Adam's moments and the GAN operator's arena stay in one memory across
// iterations; the host hands over W (M x M, when it changes) and each iteration's minibatches, and
// reads Z and X back only when the driver asks (logging, divergence checks). Two implementations,
// one algorithm: CudaResidentDevice (gan/cuda/device_gan.cu: cuBLAS Dgemm for X W, kernels for the
// rest) and HostResidentDevice (gan/cuda/resident_engine.cpp: the same operations as loops, the
// operator with Eigen's float GEMM), the CPU twin the tests check against the host engine.
// Plain C++ (no Eigen, no CUDA headers): nvcc and the host compiler both include it.
#include <cmath>

#include "gan/cuda/batched_gan.hpp"

namespace dposg::gan::cuda {

// d x M doubles each, column-major like Eigen (worker i's column at i * d).
enum class Slot : int { X, Z, G, dir, m, v };
inline constexpr int kSlots = 6;

// eta_u on rows < dim_u (the generator u), eta_v on the rest (apply_step of core/step_rule.hpp).
struct StepEtas {
  double eta_u, eta_v;
  long long dim_u;
};

// One element of apply_step: base - eta dir, eta by the row.
DPOSG_HD inline double step_element(double base, double dir, long long row, const StepEtas& s) {
  return base - (row < s.dim_u ? s.eta_u : s.eta_v) * dir;
}

// One element of adam_update (core/step_rule.cpp), the same expressions in the same order:
// c1 = 1 - beta1^count, c2 = 1 - beta2^count.
struct AdamConstants {
  double beta1, beta2, eps, c1, c2;
};
DPOSG_HD inline double adam_element(double g, double& m, double& v, const AdamConstants& a) {
  m = a.beta1 * m + (1.0 - a.beta1) * g;
  v = a.beta2 * v + (1.0 - a.beta2) * (g * g);
  return (m / a.c1) / (sqrt(v / a.c2) + a.eps);
}

// z as the operator sees it: float, v rows clipped to [-clip, clip] when clip > 0 (wgan-clip's
// acting critic; stage_inputs of gan/cuda/staging.hpp).
DPOSG_HD inline float narrow_element(double z, long long row, long long dim_u, double clip) {
  if (clip > 0.0 && row >= dim_u) z = z < -clip ? -clip : (z > clip ? clip : z);
  return static_cast<float>(z);
}

class ResidentDevice {
 public:
  virtual ~ResidentDevice() = default;
  // Every slot for plan.dim x plan.workers doubles (zeroed), and the operator's arena for `plan`.
  virtual void reserve(const GanPlan& plan) = 0;
  virtual void upload(Slot s, const double* host) = 0;
  virtual void download(Slot s, double* host) = 0;
  // W (M x M, column-major) for the following mix() calls.
  virtual void set_mixing(const double* W) = 0;
  // X <- X W^T, i.e. x_i <- sum_j W(i, j) x_j (the gossip round of CpuMixer).
  virtual void mix() = 0;
  // out <- base - eta dir, elementwise (out may be base).
  virtual void step(Slot out, Slot base, Slot dir, const StepEtas& s) = 0;
  // Adam on G: m and v advance, dir <- m_hat / (sqrt(v_hat) + eps).
  virtual void adam(const AdamConstants& a) = 0;
  virtual void copy(Slot to, Slot from) = 0;
  // Host staging of the minibatch part of input_layout(plan), [real, total) (gan/cuda/staging.hpp,
  // stage_batches), filled by the caller before evaluate().
  virtual float* batch_inputs() = 0;
  // G <- the operator at Z (narrow_element with clip), on the staged minibatches.
  virtual void evaluate(double clip) = 0;
};

}  // namespace dposg::gan::cuda
