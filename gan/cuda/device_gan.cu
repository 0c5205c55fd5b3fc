// libdposg_gan_cuda.so: the GPU executor of batched_gan_operator (gan/cuda/batched_gan.hpp) and
// batched_conv_operator (gan/cuda/batched_conv.hpp), where
// every product is one cublasSgemmStridedBatched over the M workers and everything else one of the
// kernels below, and the module's entry points (gan/cuda/device_gan.hpp). Each kernel
// is the loop of the same name in gan/cuda/host_executor.hpp (the CPU reference), with the same
// per-element functions (act_value, act_d1, act_d2, ns_output_grad, hinge_output_grad, gp_coefficient,
// im2col_element, col2im_element, to_canvas_element, from_canvas_element).
#include "gan/cuda/device_gan.hpp"

#include "gan/cuda/batched_conv.hpp"

#include "core/cuda_device_count.hpp"
#include "core/cuda_module.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace dposg::gan::cuda {

namespace {

using dposg::cuda_module::check;
using dposg::cuda_module::write_message;
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(s));
}

constexpr int kThreads = 256;
// Grid-stride loops: enough blocks to fill the GPU, never more than the work needs.
unsigned blocks_for(long long n) {
  const long long b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::clamp<long long>(b, 1, 1 << 16));
}
#define DPOSG_GRID_STRIDE(k, n) \
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < (n); \
       k += static_cast<long long>(gridDim.x) * blockDim.x)

// a(r, s) += bias of s's worker, row r; h = act(a) unless h is null. per_worker = rows * B.
__global__ void bias_act_kernel(float* a, float* h, const float* bias, long long bias_stride, int rows,
                                long long per_worker, long long n, Act act) {
  DPOSG_GRID_STRIDE(k, n) {
    const long long r = k % rows, worker = k / per_worker;
    const float v = a[k] + bias[worker * bias_stride + r];
    a[k] = v;
    if (h) h[k] = act_value(act, v);
  }
}

__global__ void mul_act_d1_kernel(float* out, const float* in, const float* a, long long n, Act act) {
  DPOSG_GRID_STRIDE(k, n) out[k] = in[k] * act_d1(act, a[k]);
}

__global__ void add_mul_act_d1_kernel(float* r, const float* in, const float* a, long long n, Act act) {
  DPOSG_GRID_STRIDE(k, n) r[k] += in[k] * act_d1(act, a[k]);
}

__global__ void double_backward_step_kernel(float* e_bar, float* a_bar, const float* q, const float* a, long long n,
                                            Act act) {
  DPOSG_GRID_STRIDE(k, n) {
    const float eb = e_bar[k], ak = a[k];
    if (a_bar) a_bar[k] = eb * q[k] * act_d2(act, ak);
    e_bar[k] = eb * act_d1(act, ak);
  }
}

// Bias gradients: out_w[r] += sum_j X_w(r, j), X_w = rows x B at w * rows * B. Block (32, 8): threadIdx.x
// walks 32 consecutive rows (coalesced reads of one column), threadIdx.y every 8th column; grid
// (M, ceil(rows / 32)). The 8 partial sums of a row are added in shared memory.
constexpr int kRowTile = 32, kColSlices = 8;
__global__ void row_sums_kernel(const float* X, int rows, int B, float* out, long long out_stride) {
  __shared__ float part[kColSlices][kRowTile + 1];
  const long long worker = blockIdx.x;
  const int r = static_cast<int>(blockIdx.y) * kRowTile + static_cast<int>(threadIdx.x);
  const float* Xw = X + worker * rows * static_cast<long long>(B);
  float s = 0.f;
  if (r < rows)
    for (int j = static_cast<int>(threadIdx.y); j < B; j += kColSlices) s += Xw[static_cast<long long>(j) * rows + r];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && r < rows) {
    float t = 0.f;
    for (int y = 0; y < kColSlices; ++y) t += part[y][threadIdx.x];
    out[worker * out_stride + r] += t;
  }
}

__global__ void fill_kernel(float* p, long long n, float value) {
  DPOSG_GRID_STRIDE(k, n) p[k] = value;
}

__global__ void scale_kernel(float* p, long long n, float s) {
  DPOSG_GRID_STRIDE(k, n) p[k] *= s;
}

__global__ void ns_output_grads_kernel(const float* l_real, const float* l_fake, long long S, float inv_b,
                                       float* d_real, float* d_fake_d, float* d_fake_g) {
  DPOSG_GRID_STRIDE(k, S) {
    const NsOutputGrad g = ns_output_grad(l_real[k], l_fake[k], inv_b);
    d_real[k] = g.real;
    d_fake_d[k] = g.fake_d;
    d_fake_g[k] = g.fake_g;
  }
}

__global__ void hinge_output_grads_kernel(const float* d_real_out, const float* d_fake_out, long long S, float inv_b,
                                          float* d_real, float* d_fake_d) {
  DPOSG_GRID_STRIDE(k, S) {
    const HingeOutputGrad g = hinge_output_grad(d_real_out[k], d_fake_out[k], inv_b);
    d_real[k] = g.real;
    d_fake_d[k] = g.fake_d;
  }
}

// The dcgan networks' kernels (batched_conv.hpp): one thread per output element.
__global__ void im2col_kernel(ConvGeom g, const float* big, float* cols, int B, long long n) {
  DPOSG_GRID_STRIDE(k, n) cols[k] = im2col_element(g, big, B, k);
}

__global__ void col2im_kernel(ConvGeom g, const float* cols, float* big, int B, long long n) {
  DPOSG_GRID_STRIDE(k, n) big[k] = col2im_element(g, cols, B, k);
}

__global__ void to_canvas_kernel(CanvasGeom c, const float* X, int B, float fill, float* canvas, long long n) {
  DPOSG_GRID_STRIDE(k, n) canvas[k] = to_canvas_element(c, X, B, fill, k);
}

__global__ void from_canvas_kernel(CanvasGeom c, const float* canvas, int B, float* X, long long n) {
  DPOSG_GRID_STRIDE(k, n) X[k] = from_canvas_element(c, canvas, B, k);
}

__global__ void channel_bias_act_kernel(float* a, float* h, const float* bias, long long bias_stride, int channels,
                                        long long plane, long long n, Act act) {
  DPOSG_GRID_STRIDE(k, n) {
    const long long q = k / plane;
    const float v = a[k] + bias[(q / channels) * bias_stride + q % channels];
    a[k] = v;
    if (h) h[k] = act_value(act, v);
  }
}

// One block per (worker, channel): kThreads partial sums over the plane, then a tree in shared memory
// (a fixed order: the same sums at every call).
__global__ void channel_sums_kernel(const float* X, int channels, long long plane, float* out, long long out_stride) {
  __shared__ float part[kThreads];
  const long long q = blockIdx.x;
  const float* Xq = X + q * plane;
  float s = 0.f;
  for (long long j = threadIdx.x; j < plane; j += kThreads) s += Xq[j];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[(q / channels) * out_stride + q % channels] += part[0];
}

// Per sample k (2-vectors at 2k, 2k + 1).
__global__ void interpolate_kernel(const float* real, const float* fake, const float* eps, long long S, int D,
                                   float* x_hat) {
  DPOSG_GRID_STRIDE(j, S * D) {
    const float e = eps[j / D];
    x_hat[j] = e * real[j] + (1.f - e) * fake[j];
  }
}

// One thread per sample: D is at most a few hundred (an image's pixels), S the large dimension.
__global__ void gp_adjoint_kernel(const float* s, long long S, int D, float lambda, float inv_b, float* s_bar) {
  DPOSG_GRID_STRIDE(k, S) {
    const float* sk = s + k * D;
    float n2 = 0.f;
    for (int c = 0; c < D; ++c) n2 += sk[c] * sk[c];
    const float coef = gp_coefficient(sqrtf(n2), lambda, inv_b);
    for (int c = 0; c < D; ++c) s_bar[k * D + c] = coef * sk[c];
  }
}

__global__ void gp_fake_update_kernel(float* d_fake, const float* dx_hat, const float* eps, long long S, int D) {
  DPOSG_GRID_STRIDE(j, S * D) { d_fake[j] -= (1.f - eps[j / D]) * dx_hat[j]; }
}

// The resident engine's elementwise passes, with the per-element functions of
// gan/cuda/resident_device.hpp (the device form of apply_step and adam_update, core/step_rule.cpp).
__global__ void narrow_kernel(float* z, const double* Z, long long d, long long n, long long dim_u, double clip) {
  DPOSG_GRID_STRIDE(k, n) z[k] = narrow_element(Z[k], k % d, dim_u, clip);
}

__global__ void widen_kernel(double* G, const float* g, long long n) {
  DPOSG_GRID_STRIDE(k, n) G[k] = static_cast<double>(g[k]);
}

__global__ void step_kernel(double* out, const double* base, const double* dir, long long d, long long n, StepEtas s) {
  DPOSG_GRID_STRIDE(k, n) out[k] = step_element(base[k], dir[k], k % d, s);
}

// One gossip round by neighbours: element k = (worker i, row r) of y = x W^T from row i of W (CSR).
__global__ void gather_kernel(double* y, const double* x, long long d, long long n, const long long* offsets,
                              const long long* cols, const double* weights) {
  DPOSG_GRID_STRIDE(k, n) {
    const long long i = k / d;
    y[k] = gather_element(x, d, k - i * d, offsets[i], offsets[i + 1], cols, weights);
  }
}

__global__ void adam_kernel(const double* g, double* m, double* v, double* dir, long long n, AdamConstants a) {
  DPOSG_GRID_STRIDE(k, n) {
    double mk = m[k], vk = v[k];
    dir[k] = adam_element(g[k], mk, vk, a);
    m[k] = mk;
    v[k] = vk;
  }
}

__global__ void add_difference_kernel(double* x, const double* a, const double* b, long long n) {
  DPOSG_GRID_STRIDE(k, n) x[k] = add_difference_element(x[k], a[k], b[k]);
}

#undef DPOSG_GRID_STRIDE

// The executor of batched_gan_operator: all launches on one stream, in order.
struct DeviceExecutor {
  cudaStream_t stream;
  cublasHandle_t blas;

  static void launched(const char* what) { check(cudaGetLastError(), what); }

  void gemm(const Gemm& g) {
    const float one = 1.f;
    check(cublasSgemmStridedBatched(blas, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    g.m, g.n, g.k, &one, g.A, g.lda, g.stride_a, g.B, g.ldb, g.stride_b, &g.beta, g.C,
                                    g.ldc, g.stride_c, g.batch),
          "cublasSgemmStridedBatched");
  }
  void bias_act(float* a, float* h, const float* bias, long long bias_stride, int rows, int B, int M, Act act) {
    const long long per_worker = static_cast<long long>(rows) * B, n = per_worker * M;
    bias_act_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, h, bias, bias_stride, rows, per_worker, n, act);
    launched("bias_act_kernel");
  }
  void mul_act_d1(float* out, const float* in, const float* a, long long n, Act act) {
    mul_act_d1_kernel<<<blocks_for(n), kThreads, 0, stream>>>(out, in, a, n, act);
    launched("mul_act_d1_kernel");
  }
  void add_mul_act_d1(float* r, const float* in, const float* a, long long n, Act act) {
    add_mul_act_d1_kernel<<<blocks_for(n), kThreads, 0, stream>>>(r, in, a, n, act);
    launched("add_mul_act_d1_kernel");
  }
  void double_backward_step(float* e_bar, float* a_bar, const float* q, const float* a, long long n, Act act) {
    double_backward_step_kernel<<<blocks_for(n), kThreads, 0, stream>>>(e_bar, a_bar, q, a, n, act);
    launched("double_backward_step_kernel");
  }
  void row_sums(const float* X, int rows, int B, int M, float* out, long long out_stride) {
    const dim3 grid(static_cast<unsigned>(M), static_cast<unsigned>((rows + kRowTile - 1) / kRowTile));
    const dim3 block(kRowTile, kColSlices);
    row_sums_kernel<<<grid, block, 0, stream>>>(X, rows, B, out, out_stride);
    launched("row_sums_kernel");
  }
  void fill(float* p, long long n, float value) {
    fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, n, value);
    launched("fill_kernel");
  }
  void scale(float* p, long long n, float s) {
    scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, n, s);
    launched("scale_kernel");
  }
  void ns_output_grads(const float* l_real, const float* l_fake, long long S, float inv_b, float* d_real,
                       float* d_fake_d, float* d_fake_g) {
    ns_output_grads_kernel<<<blocks_for(S), kThreads, 0, stream>>>(l_real, l_fake, S, inv_b, d_real, d_fake_d, d_fake_g);
    launched("ns_output_grads_kernel");
  }
  void hinge_output_grads(const float* d_real_out, const float* d_fake_out, long long S, float inv_b, float* d_real,
                          float* d_fake_d) {
    hinge_output_grads_kernel<<<blocks_for(S), kThreads, 0, stream>>>(d_real_out, d_fake_out, S, inv_b, d_real, d_fake_d);
    launched("hinge_output_grads_kernel");
  }
  void im2col(const ConvGeom& g, const float* big, float* cols, int B, int M) {
    const long long n = g.col_features() * B * M;
    im2col_kernel<<<blocks_for(n), kThreads, 0, stream>>>(g, big, cols, B, n);
    launched("im2col_kernel");
  }
  void col2im(const ConvGeom& g, const float* cols, float* big, int B, int M) {
    const long long n = g.big_channels() * g.big_pixels() * B * M;
    col2im_kernel<<<blocks_for(n), kThreads, 0, stream>>>(g, cols, big, B, n);
    launched("col2im_kernel");
  }
  void to_canvas(const float* X, const CanvasGeom& c, int B, int M, float fill, float* canvas) {
    const long long n = static_cast<long long>(c.channels) * c.side * c.side * B * M;
    to_canvas_kernel<<<blocks_for(n), kThreads, 0, stream>>>(c, X, B, fill, canvas, n);
    launched("to_canvas_kernel");
  }
  void from_canvas(const float* canvas, const CanvasGeom& c, int B, int M, float* X) {
    const long long n = c.features() * B * M;
    from_canvas_kernel<<<blocks_for(n), kThreads, 0, stream>>>(c, canvas, B, X, n);
    launched("from_canvas_kernel");
  }
  void channel_bias_act(float* a, float* h, const float* bias, long long bias_stride, int channels, long long plane,
                        int M, Act act) {
    const long long n = static_cast<long long>(channels) * M * plane;
    channel_bias_act_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, h, bias, bias_stride, channels, plane, n, act);
    launched("channel_bias_act_kernel");
  }
  void channel_sums(const float* X, int channels, long long plane, int M, float* out, long long out_stride) {
    channel_sums_kernel<<<static_cast<unsigned>(channels) * static_cast<unsigned>(M), kThreads, 0, stream>>>(
        X, channels, plane, out, out_stride);
    launched("channel_sums_kernel");
  }
  void interpolate(const float* real, const float* fake, const float* eps, long long S, int D, float* x_hat) {
    interpolate_kernel<<<blocks_for(S * D), kThreads, 0, stream>>>(real, fake, eps, S, D, x_hat);
    launched("interpolate_kernel");
  }
  void gp_adjoint(const float* s, long long S, int D, float lambda, float inv_b, float* s_bar) {
    gp_adjoint_kernel<<<blocks_for(S), kThreads, 0, stream>>>(s, S, D, lambda, inv_b, s_bar);
    launched("gp_adjoint_kernel");
  }
  void gp_fake_update(float* d_fake, const float* dx_hat, const float* eps, long long S, int D) {
    gp_fake_update_kernel<<<blocks_for(S * D), kThreads, 0, stream>>>(d_fake, dx_hat, eps, S, D);
    launched("gp_fake_update_kernel");
  }
};

// A stream on `device` and a cuBLAS handle bound to it, or an exception and neither (a constructor
// that throws runs no destructor, so what was created is released here).
void open_stream_and_blas(int device, cudaStream_t& stream, cublasHandle_t& blas) {
  try {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cublasCreate(&blas), "cublasCreate");
    check(cublasSetStream(blas, stream), "cublasSetStream");
    // Full float32 products: no TF32 tensor-op rounding of the inputs (CUBLAS_DEFAULT_MATH keeps at
    // least the requested precision), so the GPU matches the CPU within float rounding.
    check(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  } catch (...) {
    if (blas) cublasDestroy(blas);
    if (stream) cudaStreamDestroy(stream);
    blas = nullptr;
    stream = nullptr;
    throw;
  }
}

class CudaDeviceGanOperator final : public DeviceGanOperator {
 public:
  explicit CudaDeviceGanOperator(int device) : device_(device) { open_stream_and_blas(device_, stream_, blas_); }
  ~CudaDeviceGanOperator() override {
    // Errors while releasing are ignored: a destructor must not throw, and nothing is left to do.
    cudaSetDevice(device_);
    if (arena_) cudaFree(arena_);
    if (host_in_) cudaFreeHost(host_in_);
    if (host_out_) cudaFreeHost(host_out_);
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  CudaDeviceGanOperator(const CudaDeviceGanOperator&) = delete;
  CudaDeviceGanOperator& operator=(const CudaDeviceGanOperator&) = delete;

  float* inputs(const GanPlan& plan) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    grow_host(host_in_, host_in_floats_, input_layout(plan).total);
    return host_in_;
  }

  const float* evaluate(const GanPlan& plan) override {
    const InputLayout in = input_layout(plan);
    check(cudaSetDevice(device_), "cudaSetDevice");
    if (!host_in_ || host_in_floats_ < in.total)
      throw std::logic_error("DeviceGanOperator::evaluate: inputs(plan) was not called for this plan");
    grow_device(operator_floats(plan));
    check(cudaMemcpyAsync(arena_, host_in_, in.total * sizeof(float), cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (inputs)");
    DeviceExecutor x{stream_, blas_};
    const float* G = batched_operator_on(x, plan, arena_);
    const std::size_t out_floats = static_cast<std::size_t>(plan.dim) * static_cast<std::size_t>(plan.workers);
    grow_host(host_out_, host_out_floats_, out_floats);
    check(cudaMemcpyAsync(host_out_, G, out_floats * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync (G)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return host_out_;
  }

 private:
  // Buffers only grow: the operator alternates between the training batch and the driver's larger
  // evaluation batch, and keeping the larger size avoids reallocating on every call.
  void grow_device(std::size_t floats) {
    if (floats <= arena_floats_) return;
    if (arena_) check(cudaFree(arena_), "cudaFree");
    arena_ = nullptr;
    arena_floats_ = 0;
    check(cudaMalloc(&arena_, floats * sizeof(float)), "cudaMalloc");
    arena_floats_ = floats;
  }
  static void grow_host(float*& p, std::size_t& have, std::size_t floats) {
    if (floats <= have) return;
    if (p) check(cudaFreeHost(p), "cudaFreeHost");
    p = nullptr;
    have = 0;
    check(cudaMallocHost(&p, floats * sizeof(float)), "cudaMallocHost");
    have = floats;
  }

  int device_;  // the ordinal every call runs on (the current device is per host thread)
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  float* arena_ = nullptr;  // device: inputs, G, workspace (carve_workspace / carve_conv_workspace)
  std::size_t arena_floats_ = 0;
  float* host_in_ = nullptr;  // pinned staging of the inputs
  std::size_t host_in_floats_ = 0;
  float* host_out_ = nullptr;  // pinned staging of G
  std::size_t host_out_floats_ = 0;
};

// --engine resident on the GPU: the step rule's arrays (X, Z and its state) as d x M doubles in device
// memory for the whole run; X W^t as cuBLAS Dgemm (x_i <- sum_j W_ij x_j, i.e. X W^T); everything on one
// stream. The host's only traffic per iteration is the minibatches (and W for random rings).
class CudaResidentDevice final : public ResidentDevice {
 public:
  explicit CudaResidentDevice(int device) : device_(device) {
    open_stream_and_blas(device_, stream_, blas_);
    const cudaError_t e = cudaEventCreateWithFlags(&uploaded_, cudaEventDisableTiming);
    if (e != cudaSuccess) {
      cublasDestroy(blas_);
      cudaStreamDestroy(stream_);
      check(e, "cudaEventCreate");
    }
  }
  ~CudaResidentDevice() override {
    cudaSetDevice(device_);
    if (stream_) cudaStreamSynchronize(stream_);
    for (double* p : arrays_)
      if (p) cudaFree(p);
    if (scratch_) cudaFree(scratch_);
    if (W_) cudaFree(W_);
    if (offsets_) cudaFree(offsets_);
    if (cols_) cudaFree(cols_);
    if (weights_) cudaFree(weights_);
    if (arena_) cudaFree(arena_);
    if (host_batches_) cudaFreeHost(host_batches_);
    if (uploaded_) cudaEventDestroy(uploaded_);
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  CudaResidentDevice(const CudaResidentDevice&) = delete;
  CudaResidentDevice& operator=(const CudaResidentDevice&) = delete;

  void reserve(const GanPlan& plan) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    plan_ = plan;
    d_ = plan.dim;
    M_ = plan.workers;
    const std::size_t bytes = this->bytes();
    for (double* p : arrays_)
      if (p) check(cudaFree(p), "cudaFree");
    arrays_.clear();
    if (scratch_) check(cudaFree(scratch_), "cudaFree");
    scratch_ = nullptr;
    check(cudaMalloc(&scratch_, bytes), "cudaMalloc (mixing)");
    // W's storage comes with the first set_mixing / set_mixing_sparse: a dense W at M = 10^6 would be 8 TB.
    release_mixing();
    if (arena_) check(cudaFree(arena_), "cudaFree");
    arena_ = nullptr;
    check(cudaMalloc(&arena_, operator_floats(plan) * sizeof(float)), "cudaMalloc (arena)");
    const InputLayout in = input_layout(plan);
    batch_floats_ = in.total - in.real;
    if (host_batches_) check(cudaFreeHost(host_batches_), "cudaFreeHost");
    host_batches_ = nullptr;
    check(cudaMallocHost(&host_batches_, std::max<std::size_t>(batch_floats_, 1) * sizeof(float)), "cudaMallocHost");
  }
  DeviceArray allocate() override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    arrays_.push_back(nullptr);
    check(cudaMalloc(&arrays_.back(), bytes()), "cudaMalloc (iterates)");
    check(cudaMemsetAsync(arrays_.back(), 0, bytes(), stream_), "cudaMemsetAsync");
    return static_cast<DeviceArray>(arrays_.size() - 1);
  }
  void upload(DeviceArray s, const double* host) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cudaMemcpyAsync(slot(s), host, bytes(), cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (upload)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");  // `host` may go away after return
  }
  void download(DeviceArray s, double* host) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cudaMemcpyAsync(host, slot(s), bytes(), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (download)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void set_mixing(const double* W) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    if (!W_) check(cudaMalloc(&W_, static_cast<std::size_t>(M_ * M_) * sizeof(double)), "cudaMalloc (W)");
    sparse_ = false;
    check(cudaMemcpyAsync(W_, W, static_cast<std::size_t>(M_ * M_) * sizeof(double), cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (W)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");  // W is the caller's temporary
  }
  void set_mixing_sparse(const long long* offsets, const long long* cols, const double* weights) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const long long nnz = offsets[M_];
    if (nnz > nnz_capacity_) {
      if (cols_) check(cudaFree(cols_), "cudaFree");
      if (weights_) check(cudaFree(weights_), "cudaFree");
      cols_ = nullptr;
      weights_ = nullptr;
      check(cudaMalloc(&cols_, static_cast<std::size_t>(nnz) * sizeof(long long)), "cudaMalloc (W columns)");
      check(cudaMalloc(&weights_, static_cast<std::size_t>(nnz) * sizeof(double)), "cudaMalloc (W weights)");
      nnz_capacity_ = nnz;
    }
    if (!offsets_) check(cudaMalloc(&offsets_, static_cast<std::size_t>(M_ + 1) * sizeof(long long)), "cudaMalloc (W rows)");
    check(cudaMemcpyAsync(offsets_, offsets, static_cast<std::size_t>(M_ + 1) * sizeof(long long),
                          cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (W rows)");
    check(cudaMemcpyAsync(cols_, cols, static_cast<std::size_t>(nnz) * sizeof(long long), cudaMemcpyHostToDevice,
                          stream_), "cudaMemcpyAsync (W columns)");
    check(cudaMemcpyAsync(weights_, weights, static_cast<std::size_t>(nnz) * sizeof(double), cudaMemcpyHostToDevice,
                          stream_), "cudaMemcpyAsync (W weights)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");  // the caller's buffers
    sparse_ = true;
  }
  void mix(DeviceArray x) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    if (sparse_) {
      const long long n = d_ * M_;
      gather_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(scratch_, slot(x), d_, n, offsets_, cols_, weights_);
      check(cudaGetLastError(), "gather_kernel");
      std::swap(arrays_.at(static_cast<std::size_t>(x)), scratch_);
      return;
    }
    const double one = 1.0, zero = 0.0;
    const int d = static_cast<int>(d_), M = static_cast<int>(M_);
    check(cublasDgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, d, M, M, &one, slot(x), d, W_, M, &zero, scratch_, d),
          "cublasDgemm (mixing)");
    std::swap(arrays_.at(static_cast<std::size_t>(x)), scratch_);
  }
  void step(DeviceArray out, DeviceArray base, DeviceArray dir, const StepEtas& s) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const long long n = d_ * M_;
    step_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(slot(out), slot(base), slot(dir), d_, n, s);
    check(cudaGetLastError(), "step_kernel");
  }
  void adam(DeviceArray g, DeviceArray m, DeviceArray v, DeviceArray dir, const AdamConstants& a) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const long long n = d_ * M_;
    adam_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(slot(g), slot(m), slot(v), slot(dir), n, a);
    check(cudaGetLastError(), "adam_kernel");
  }
  void add_difference(DeviceArray x, DeviceArray a, DeviceArray b) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const long long n = d_ * M_;
    add_difference_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(slot(x), slot(a), slot(b), n);
    check(cudaGetLastError(), "add_difference_kernel");
  }
  void copy(DeviceArray to, DeviceArray from) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cudaMemcpyAsync(slot(to), slot(from), bytes(), cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync (copy)");
  }
  float* batch_inputs() override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    // The previous evaluate's upload reads this buffer: wait for that copy alone before the caller
    // refills it, so that drawing the next minibatches overlaps the GPU's work of this iteration.
    if (recorded_) check(cudaEventSynchronize(uploaded_), "cudaEventSynchronize");
    return host_batches_;
  }
  void evaluate(DeviceArray z, DeviceArray g, double clip) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const InputLayout in = input_layout(plan_);
    check(cudaMemcpyAsync(arena_ + in.real, host_batches_, batch_floats_ * sizeof(float), cudaMemcpyHostToDevice,
                          stream_),
          "cudaMemcpyAsync (minibatches)");
    check(cudaEventRecord(uploaded_, stream_), "cudaEventRecord");
    recorded_ = true;
    const long long n = d_ * M_;
    narrow_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(arena_ + in.z, slot(z), d_, n, plan_.disc.base, clip);
    check(cudaGetLastError(), "narrow_kernel");
    DeviceExecutor x{stream_, blas_};
    const float* G = batched_operator_on(x, plan_, arena_);
    widen_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(slot(g), G, n);
    check(cudaGetLastError(), "widen_kernel");
  }

 private:
  double* slot(DeviceArray a) const { return arrays_.at(static_cast<std::size_t>(a)); }
  std::size_t bytes() const { return static_cast<std::size_t>(d_ * M_) * sizeof(double); }
  void release_mixing() {
    for (void* p : {static_cast<void*>(W_), static_cast<void*>(offsets_), static_cast<void*>(cols_),
                    static_cast<void*>(weights_)})
      if (p) check(cudaFree(p), "cudaFree");
    W_ = nullptr;
    offsets_ = cols_ = nullptr;
    weights_ = nullptr;
    nnz_capacity_ = 0;
    sparse_ = false;
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  GanPlan plan_;
  long long d_ = 0, M_ = 0;
  std::vector<double*> arrays_;  // by DeviceArray
  double* scratch_ = nullptr;  // x W^T lands here, then trades places with x
  double* W_ = nullptr;  // dense W (M <= kDenseMixingMaxWorkers, complete)
  // W by rows for the gather (set_mixing_sparse), and which of the two mix() uses.
  long long* offsets_ = nullptr;
  long long* cols_ = nullptr;
  double* weights_ = nullptr;
  long long nnz_capacity_ = 0;
  bool sparse_ = false;
  float* arena_ = nullptr;  // the operator's inputs and workspace (carve_workspace)
  float* host_batches_ = nullptr;  // pinned: input_layout's [real, total)
  std::size_t batch_floats_ = 0;
  cudaEvent_t uploaded_ = nullptr;  // recorded after each minibatch upload
  bool recorded_ = false;
};

}  // namespace

}  // namespace dposg::gan::cuda

extern "C" dposg::gan::cuda::ResidentDevice* dposg_cuda_new_resident_on(int device, char* message, int size) {
  try {
    return new dposg::gan::cuda::CudaResidentDevice(device);
  } catch (const std::exception& e) {
    dposg::gan::cuda::write_message(e.what(), message, size);
    return nullptr;
  }
}

// 0 only for "no device": probe_cuda (gan/cuda/cuda_probe.hpp) reads a negative count as a broken set-up.
extern "C" int dposg_cuda_device_count(char* message, int size) { return dposg::cuda_module::device_count(message, size); }

extern "C" dposg::gan::cuda::DeviceGanOperator* dposg_cuda_new_operator_on(int device, char* message, int size) {
  try {
    return new dposg::gan::cuda::CudaDeviceGanOperator(device);
  } catch (const std::exception& e) {
    dposg::gan::cuda::write_message(e.what(), message, size);
    return nullptr;
  }
}
