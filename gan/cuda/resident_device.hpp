#pragma once
// The device side of the resident engine (gan/cuda/resident_engine.hpp): the arrays of the step rules
// (core/array_ops.hpp: X, Z and whatever state a rule allocates) and the GAN operator's arena stay in
// device memory across iterations; the host hands over W (M x M, when it changes) and each iteration's
// minibatches, and reads arrays back only when the driver asks (logging, divergence checks).
// CudaResidentDevice (gan/cuda/device_gan.cu: cuBLAS Dgemm for X W, kernels for the rest) implements
// it; DeviceArrays (gan/cuda/resident_engine.cpp) turns it into the ArrayOps the rules are written
// against. The CPU twin (--device cpu-float) is the host ArrayOps itself, not a second device.
// Plain C++ (no Eigen, no CUDA headers): nvcc and the host compiler both include it.
#include <cmath>

#include "gan/cuda/batched_gan.hpp"

namespace dposg::gan::cuda {

// A d x M array of doubles, column-major like Eigen (worker i's column at i * d), by the index
// allocate() returned.
using DeviceArray = int;

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

// One element of the overlapped iteration's X + (X_local - X_prev) (core/driver.cpp, HostEngine).
DPOSG_HD inline double add_difference_element(double x, double a, double b) { return x + (a - b); }

// The gossip round by neighbours (issue #20: a dense W is M^2 doubles, 8 TB at M = 10^6): row r of
// worker i's column of x W^T is sum_e W_e x[col_e][r] over row i's entries e in [begin, end), added
// left to right as CpuMixer adds them (core/mixer.cpp), each product and sum rounded on its own
// (no fused multiply-add on the device), so the gather equals the host's gossip bit for bit.
DPOSG_HD inline double gather_element(const double* x, long long d, long long r, long long begin, long long end,
                                      const long long* cols, const double* weights) {
#ifdef __CUDA_ARCH__
  double s = __dmul_rn(weights[begin], x[cols[begin] * d + r]);
  for (long long e = begin + 1; e < end; ++e) s = __dadd_rn(s, __dmul_rn(weights[e], x[cols[e] * d + r]));
#else
  double s = weights[begin] * x[cols[begin] * d + r];
  for (long long e = begin + 1; e < end; ++e) s = s + weights[e] * x[cols[e] * d + r];
#endif
  return s;
}

// Above this M the resident engine mixes by neighbours (set_mixing_sparse), at or below it with
// the dense W (set_mixing: one Dgemm, the faster for small M); complete always dense (M^2 entries
// either way).
inline constexpr long long kDenseMixingMaxWorkers = 64;

class ResidentDevice {
 public:
  virtual ~ResidentDevice() = default;
  // Arrays of plan.dim x plan.workers doubles from now on (earlier ones are released), and the
  // operator's arena for `plan`.
  virtual void reserve(const GanPlan& plan) = 0;
  // A new array, zeroed.
  virtual DeviceArray allocate() = 0;
  virtual void upload(DeviceArray a, const double* host) = 0;
  virtual void download(DeviceArray a, double* host) = 0;
  // W (M x M, column-major) for the following mix() calls.
  virtual void set_mixing(const double* W) = 0;
  // W by rows (CSR: row i's entries are cols/weights [offsets[i], offsets[i+1]), columns increasing)
  // for the following mix() calls, which then gather (gather_element) instead of the dense product.
  virtual void set_mixing_sparse(const long long* offsets, const long long* cols, const double* weights) = 0;
  // x <- x W^T, i.e. x_i <- sum_j W(i, j) x_j (the gossip round of CpuMixer), with the W of the last
  // set_mixing or set_mixing_sparse.
  virtual void mix(DeviceArray x) = 0;
  // out <- base - eta dir, elementwise (out may be base).
  virtual void step(DeviceArray out, DeviceArray base, DeviceArray dir, const StepEtas& s) = 0;
  // Adam on g: m and v advance, dir <- m_hat / (sqrt(v_hat) + eps).
  virtual void adam(DeviceArray g, DeviceArray m, DeviceArray v, DeviceArray dir, const AdamConstants& a) = 0;
  // x <- x + (a - b).
  virtual void add_difference(DeviceArray x, DeviceArray a, DeviceArray b) = 0;
  virtual void copy(DeviceArray to, DeviceArray from) = 0;
  // Host staging of the minibatch part of input_layout(plan), [real, total) (gan/cuda/staging.hpp,
  // stage_batches), filled by the caller before evaluate().
  virtual float* batch_inputs() = 0;
  // g <- the operator at z (narrow_element with clip), on the staged minibatches.
  virtual void evaluate(DeviceArray z, DeviceArray g, double clip) = 0;
};

}  // namespace dposg::gan::cuda
