#pragma once
// The CPU reference of every operation that gan/cuda/device_gan.cu runs on the GPU (one loop per kernel,
// the GEMM as the definition of cublasSgemmStridedBatched), for batched_gan_operator (batched_gan.hpp) and batched_conv_operator (batched_conv.hpp).
// A unit test runs the whole batched operator through it and compares with GanProblem's double path,
// so the layout and the order of the passes are checked on machines without a GPU.
#include <cmath>

#include "gan/cuda/batched_conv.hpp"

namespace dposg::gan::cuda {

struct HostExecutor {
  static constexpr long long kParallelElements = 1 << 15;
  // The elementwise passes on all threads when they are large. Off for the dcgan in cpu-float: its
  // many short parallel regions each wait for a second thread, which on a shared machine costs more
  // than the loop (one worker, m = 64, load ~6 on 2 cores: 0.75 steps/s with them, 2.8 on one thread).
  bool parallel = true;
  void gemm(const Gemm& g) {
    for (int i = 0; i < g.batch; ++i) {
      const float* A = g.A + i * g.stride_a;
      const float* B = g.B + i * g.stride_b;
      float* C = g.C + i * g.stride_c;
      for (int c = 0; c < g.n; ++c)
        for (int r = 0; r < g.m; ++r) {
          float s = 0.f;
          for (int k = 0; k < g.k; ++k) {
            const float a = g.trans_a ? A[k + static_cast<long long>(r) * g.lda] : A[r + static_cast<long long>(k) * g.lda];
            const float b = g.trans_b ? B[c + static_cast<long long>(k) * g.ldb] : B[k + static_cast<long long>(c) * g.ldb];
            s += a * b;
          }
          float& out = C[r + static_cast<long long>(c) * g.ldc];
          out = g.beta == 0.f ? s : s + g.beta * out;  // beta = 0: C is not read (as cuBLAS)
        }
    }
  }
  // The elementwise passes run on all threads (every element on its own: the same results for any
  // thread count); --device cpu-float uses them as they are.
  void bias_act(float* a, float* h, const float* bias, long long bias_stride, int rows, int B, int M, Act act) {
    const long long columns = static_cast<long long>(B) * M;
#pragma omp parallel for schedule(static) if (parallel && columns * rows > kParallelElements)
    for (long long c = 0; c < columns; ++c) {
      const float* b = bias + (c / B) * bias_stride;
      float* ac = a + c * rows;
      for (int r = 0; r < rows; ++r) {
        ac[r] += b[r];
        if (h) h[c * rows + r] = act_value(act, ac[r]);
      }
    }
  }
  void mul_act_d1(float* out, const float* in, const float* a, long long n, Act act) {
#pragma omp parallel for schedule(static) if (parallel && n > kParallelElements)
    for (long long k = 0; k < n; ++k) out[k] = in[k] * act_d1(act, a[k]);
  }
  void add_mul_act_d1(float* r, const float* in, const float* a, long long n, Act act) {
#pragma omp parallel for schedule(static) if (parallel && n > kParallelElements)
    for (long long k = 0; k < n; ++k) r[k] += in[k] * act_d1(act, a[k]);
  }
  void double_backward_step(float* e_bar, float* a_bar, const float* q, const float* a, long long n, Act act) {
#pragma omp parallel for schedule(static) if (parallel && n > kParallelElements)
    for (long long k = 0; k < n; ++k) {
      if (a_bar) a_bar[k] = e_bar[k] * q[k] * act_d2(act, a[k]);
      e_bar[k] *= act_d1(act, a[k]);
    }
  }
  void row_sums(const float* X, int rows, int B, int M, float* out, long long out_stride) {
    for (int i = 0; i < M; ++i)
      for (int r = 0; r < rows; ++r) {
        float s = 0.f;
        for (int j = 0; j < B; ++j) s += X[static_cast<long long>(i) * rows * B + static_cast<long long>(j) * rows + r];
        out[i * out_stride + r] += s;
      }
  }
  void fill(float* p, long long n, float value) {
    for (long long k = 0; k < n; ++k) p[k] = value;
  }
  void scale(float* p, long long n, float s) {
    for (long long k = 0; k < n; ++k) p[k] *= s;
  }
  void ns_output_grads(const float* l_real, const float* l_fake, long long S, float inv_b, float* d_real,
                       float* d_fake_d, float* d_fake_g) {
    for (long long k = 0; k < S; ++k) {
      const NsOutputGrad g = ns_output_grad(l_real[k], l_fake[k], inv_b);
      d_real[k] = g.real;
      d_fake_d[k] = g.fake_d;
      d_fake_g[k] = g.fake_g;
    }
  }
  void hinge_output_grads(const float* d_real_out, const float* d_fake_out, long long S, float inv_b, float* d_real,
                          float* d_fake_d) {
    for (long long k = 0; k < S; ++k) {
      const HingeOutputGrad g = hinge_output_grad(d_real_out[k], d_fake_out[k], inv_b);
      d_real[k] = g.real;
      d_fake_d[k] = g.fake_d;
    }
  }
  // The dcgan networks' operations (batched_conv.hpp), through the per-element functions the CUDA
  // kernels call; the loops walk the decomposed index (the kernels' flat-index divisions would cost
  // more than the products here).
  void im2col(const ConvGeom& g, const float* big, float* cols, int B, int M) {
    const long long rows = static_cast<long long>(g.patch()) * M;  // (worker, patch column) pairs
    const int k = g.k, ss = g.small_side();
    const long long per_row = g.small_pixels() * B;
#pragma omp parallel for schedule(static) if (parallel && rows * per_row > kParallelElements)
    for (long long r = 0; r < rows; ++r) {
      const long long i = r / g.patch();
      const int col = static_cast<int>(r % g.patch());
      const int c = col / (k * k), ky = (col / k) % k, kx = col % k;
      float* out = cols + r * per_row;
      for (long long b = 0; b < B; ++b)
        for (int oy = 0; oy < ss; ++oy)
          for (int ox = 0; ox < ss; ++ox) {
            const long long src = im2col_source(g, B, i, c, ky, kx, b, oy, ox);
            *out++ = src < 0 ? 0.f : big[src];
          }
    }
  }
  void col2im(const ConvGeom& g, const float* cols, float* big, int B, int M) {
    const long long planes = static_cast<long long>(g.big_channels()) * M * B;  // (worker, channel, sample)
    const int bs = g.big_side();
#pragma omp parallel for schedule(static) if (parallel && planes * g.big_pixels() > kParallelElements)
    for (long long q = 0; q < planes; ++q) {
      const long long b = q % B, c = (q / B) % g.big_channels(), i = q / B / g.big_channels();
      float* out = big + q * g.big_pixels();
      for (int iy = 0; iy < bs; ++iy)
        for (int ix = 0; ix < bs; ++ix) *out++ = col2im_sum(g, cols, B, i, c, b, iy, ix);
    }
  }
  void to_canvas(const float* X, const CanvasGeom& c, int B, int M, float fill, float* canvas) {
    const long long n = static_cast<long long>(c.channels) * c.side * c.side * B * M;
#pragma omp parallel for schedule(static) if (parallel && n > kParallelElements)
    for (long long k = 0; k < n; ++k) canvas[k] = to_canvas_element(c, X, B, fill, k);
  }
  void from_canvas(const float* canvas, const CanvasGeom& c, int B, int M, float* X) {
    const long long n = c.features() * B * M;
#pragma omp parallel for schedule(static) if (parallel && n > kParallelElements)
    for (long long k = 0; k < n; ++k) X[k] = from_canvas_element(c, canvas, B, k);
  }
  void channel_bias_act(float* a, float* h, const float* bias, long long bias_stride, int channels, long long plane,
                        int M, Act act) {
    const long long blocks = static_cast<long long>(channels) * M;
#pragma omp parallel for schedule(static) if (parallel && blocks * plane > kParallelElements)
    for (long long q = 0; q < blocks; ++q) {
      const float b = bias[(q / channels) * bias_stride + q % channels];
      float* aq = a + q * plane;
      for (long long j = 0; j < plane; ++j) {
        aq[j] += b;
        if (h) h[q * plane + j] = act_value(act, aq[j]);
      }
    }
  }
  void channel_sums(const float* X, int channels, long long plane, int M, float* out, long long out_stride) {
    const long long blocks = static_cast<long long>(channels) * M;
#pragma omp parallel for schedule(static) if (parallel && blocks * plane > kParallelElements)
    for (long long q = 0; q < blocks; ++q) {
      float s = 0.f;
      for (long long j = 0; j < plane; ++j) s += X[q * plane + j];
      out[(q / channels) * out_stride + q % channels] += s;
    }
  }
  void interpolate(const float* real, const float* fake, const float* eps, long long S, int D, float* x_hat) {
    for (long long k = 0; k < S; ++k)
      for (int c = 0; c < D; ++c) x_hat[D * k + c] = eps[k] * real[D * k + c] + (1.f - eps[k]) * fake[D * k + c];
  }
  void gp_adjoint(const float* s, long long S, int D, float lambda, float inv_b, float* s_bar) {
    for (long long k = 0; k < S; ++k) {
      float n2 = 0.f;
      for (int c = 0; c < D; ++c) n2 += s[D * k + c] * s[D * k + c];
      const float coef = gp_coefficient(sqrtf(n2), lambda, inv_b);
      for (int c = 0; c < D; ++c) s_bar[D * k + c] = coef * s[D * k + c];
    }
  }
  void gp_fake_update(float* d_fake, const float* dx_hat, const float* eps, long long S, int D) {
    for (long long k = 0; k < S; ++k)
      for (int c = 0; c < D; ++c) d_fake[D * k + c] -= (1.f - eps[k]) * dx_hat[D * k + c];
  }
};

}  // namespace dposg::gan::cuda
