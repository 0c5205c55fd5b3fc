#pragma once
// --gan-arch dcgan for ALL M workers at once, in float: the batched counterparts of ConvNet's forward,
// backward, input_gradient and input_gradient_backward (gan/conv_net.cpp, same order of passes), run
// through the loss code of batched_gan.hpp (gan_operator_passes) on the same executors:
// gan/cuda/device_gan.cu (cuBLAS and CUDA kernels) and gan/cuda/host_executor.hpp (the CPU reference
// of every kernel, which the default tests compare with the double ConvNet).
// Plain C++ (no Eigen, no CUDA headers): nvcc and the host compiler both include it.
//
// Layout (column-major, as conv_net.hpp, with the workers back to back). A layer's activation with C
// channels on a grid of P pixels is, per worker, ConvNet's (P B) x C matrix: memory [C][B][P], worker i's
// block at i * C B P. im2col's result per worker is the (P_small B) x patch matrix of conv_net.hpp,
// memory [patch][B][P_small]. Inputs and outputs in the data's layout (features x B per worker, as the
// MLP's) are moved onto and off the canvas by to_canvas / from_canvas; the generator's latent codes go
// through the same operation on a 1 x 1 canvas with `latent` channels (a transposition per worker).
//
// Every product is one strided batched GEMM over the M workers, W_i read from Z with stride d, in one
// of three shapes (W: patch x small_channels, column-major):
//   cols_times_weights      out_i  = cols_i W_i          (conv forward, conv-t input adjoint)
//   small_times_weights_t   cols_i = small_i W_i^T       (conv-t forward, conv input adjoint; col2im after)
//   conv_weight_gradient    gW_i  += cols_i^T small_i    (cols = im2col of the big side)
//
// The executor X provides, beyond batched_gan.hpp's operations:
//   im2col(g, big, cols, B, M)                         cols = im2col of every worker's big grid
//   col2im(g, cols, big, B, M)                         big = col2im (overwritten, not accumulated)
//   to_canvas(X, canvas, B, M, fill, out)              data layout -> [C][B][side^2], `fill` outside
//   from_canvas(in, canvas, B, M, X)                   the image window of a canvas -> data layout
//   channel_bias_act(a, h, bias, bias_stride, C, plane, M, act)  a += bias of the channel; h = act(a)
//   channel_sums(X, C, plane, M, out, out_stride)      out_i[c] += sum of worker i's channel c
// Each element of im2col, col2im and the canvas moves is computed by the DPOSG_HD functions below, which
// the host loops and the CUDA kernels share.
#include <cstddef>
#include <vector>

#include "gan/cuda/batched_gan.hpp"

namespace dposg::gan::cuda {

// --- per-element definitions (host and device) ------------------------------------------------
// The big-grid entry that patch column (c, ky, kx) of small-grid pixel (oy, ox), sample b, worker i
// reads; -1 where the patch leaves the grid (a zero).
DPOSG_HD inline long long im2col_source(const ConvGeom& g, int B, long long i, int c, int ky, int kx, long long b,
                                        int oy, int ox) {
  const int iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx, bs = g.big_side();
  if (iy < 0 || iy >= bs || ix < 0 || ix >= bs) return -1;
  return ((i * g.big_channels() + c) * B + b) * g.big_pixels() + static_cast<long long>(iy) * bs + ix;
}

// Entry n of the M workers' cols (n < M patch B P_small), as the CUDA kernel indexes it.
DPOSG_HD inline float im2col_element(const ConvGeom& g, const float* big, int B, long long n) {
  const long long Ps = g.small_pixels();
  const long long p = n % Ps;
  long long r = n / Ps;
  const long long b = r % B;
  r /= B;
  const int patch = g.patch();
  const int col = static_cast<int>(r % patch);
  const long long i = r / patch;
  const int k = g.k, ss = g.small_side();
  const long long src =
      im2col_source(g, B, i, col / (k * k), (col / k) % k, col % k, b, static_cast<int>(p / ss), static_cast<int>(p % ss));
  return src < 0 ? 0.f : big[src];
}

// Big-grid pixel (iy, ix) of channel c, sample b, worker i after col2im: the sum, in increasing
// (ky, kx), of the patch entries im2col took from it (a gather, so no two threads write one element).
// Only the taps with (iy + pad - ky) divisible by the stride reach it.
DPOSG_HD inline float col2im_sum(const ConvGeom& g, const float* cols, int B, long long i, long long c, long long b,
                                 int iy, int ix) {
  const long long Ps = g.small_pixels();
  const int k = g.k, st = g.stride, ss = g.small_side();
  float s = 0.f;
  for (int ky = (iy + g.pad) % st; ky < k; ky += st) {
    const int oy = (iy + g.pad - ky) / st;
    if (oy < 0 || oy >= ss) continue;
    for (int kx = (ix + g.pad) % st; kx < k; kx += st) {
      const int ox = (ix + g.pad - kx) / st;
      if (ox < 0 || ox >= ss) continue;
      const long long col = ((i * g.big_channels() + c) * k + ky) * k + kx;
      s += cols[(col * B + b) * Ps + static_cast<long long>(oy) * ss + ox];
    }
  }
  return s;
}

// Entry n of the M workers' big grids (n < M big_channels B P_big), as the CUDA kernel indexes it.
DPOSG_HD inline float col2im_element(const ConvGeom& g, const float* cols, int B, long long n) {
  const long long Pb = g.big_pixels();
  const long long p = n % Pb;
  long long r = n / Pb;
  const long long b = r % B;
  r /= B;
  const int Cb = g.big_channels(), bs = g.big_side();
  return col2im_sum(g, cols, B, r / Cb, r % Cb, b, static_cast<int>(p / bs), static_cast<int>(p % bs));
}

// Entry n of the M workers' canvases (n < M C B side^2); X: features x B per worker.
DPOSG_HD inline float to_canvas_element(const CanvasGeom& g, const float* X, int B, float fill, long long n) {
  const long long P = static_cast<long long>(g.side) * g.side;
  const long long p = n % P;
  long long r = n / P;
  const long long b = r % B;
  r /= B;
  const long long c = r % g.channels, i = r / g.channels;
  const int H = g.image_side, o = g.offset();
  const int y = static_cast<int>(p / g.side) - o, x = static_cast<int>(p % g.side) - o;
  if (y < 0 || y >= H || x < 0 || x >= H) return fill;
  return X[(i * B + b) * g.features() + (c * H + y) * H + x];
}

// Entry n of the M workers' data-layout samples (n < M B features).
DPOSG_HD inline float from_canvas_element(const CanvasGeom& g, const float* canvas, int B, long long n) {
  const long long F = g.features();
  const long long f = n % F;
  long long r = n / F;
  const long long b = r % B, i = r / B;
  const int H = g.image_side, o = g.offset();
  const long long c = f / (static_cast<long long>(H) * H);
  const int y = static_cast<int>((f / H) % H), x = static_cast<int>(f % H);
  const long long P = static_cast<long long>(g.side) * g.side;
  return canvas[((i * g.channels + c) * B + b) * P + static_cast<long long>(y + o) * g.side + x + o];
}

// --- the three products -------------------------------------------------------------------------
inline Gemm cols_times_weights(const ConvGeom& g, const float* Z, long long d, const float* cols, float* out, int B,
                               int M) {
  const long long rows = g.small_pixels() * B;
  Gemm m;
  m.m = static_cast<int>(rows);
  m.n = g.small_channels();
  m.k = g.patch();
  m.A = cols;
  m.lda = m.m;
  m.stride_a = rows * g.patch();
  m.B = Z + g.weight_offset;
  m.ldb = g.patch();
  m.stride_b = d;
  m.C = out;
  m.ldc = m.m;
  m.stride_c = rows * g.small_channels();
  m.batch = M;
  return m;
}

inline Gemm small_times_weights_t(const ConvGeom& g, const float* Z, long long d, const float* small, float* cols,
                                  int B, int M) {
  const long long rows = g.small_pixels() * B;
  Gemm m;
  m.trans_b = true;
  m.m = static_cast<int>(rows);
  m.n = g.patch();
  m.k = g.small_channels();
  m.A = small;
  m.lda = m.m;
  m.stride_a = rows * g.small_channels();
  m.B = Z + g.weight_offset;
  m.ldb = g.patch();
  m.stride_b = d;
  m.C = cols;
  m.ldc = m.m;
  m.stride_c = rows * g.patch();
  m.batch = M;
  return m;
}

inline Gemm conv_weight_gradient(const ConvGeom& g, float* G, long long d, const float* cols, const float* small,
                                 int B, int M) {
  const long long rows = g.small_pixels() * B;
  Gemm m;
  m.trans_a = true;
  m.m = g.patch();
  m.n = g.small_channels();
  m.k = static_cast<int>(rows);
  m.A = cols;
  m.lda = m.k;
  m.stride_a = rows * g.patch();
  m.B = small;
  m.ldb = m.k;
  m.stride_b = rows * g.small_channels();
  m.beta = 1.f;
  m.C = G + g.weight_offset;
  m.ldc = g.patch();
  m.stride_c = d;
  m.batch = M;
  return m;
}

// --- the workspace --------------------------------------------------------------------------------
// One batched forward pass: h[l] the input of layer l (l = 0..L-1; h[0] on the canvas; h[L] the
// generator's tanh output), a[l] its pre-activation, `in` the pass's input in the data layout.
struct ConvForwardBufs {
  const float* in = nullptr;
  std::vector<float*> h, a;
  float* out = nullptr;  // generator: D x B per worker (its own buffer); critic: a[L-1] (1 x B)
};
// e[l] = d out / d a_l (l = 0..L-1, sized as a[l]); s = d out / d X in the data layout.
struct ConvInputGradBufs {
  std::vector<float*> e;
  float* s = nullptr;
};

struct ConvWorkspace {
  float *Z = nullptr, *real = nullptr, *latent = nullptr, *eps = nullptr;  // the inputs
  float* G = nullptr;                                                      // d x M, the result
  ConvForwardBufs fg, fr, ff, fh;  // generator; critic on real, fake, x^
  ConvInputGradBufs ig;            // critic at x^ (wgan-gp)
  float *ping = nullptr, *pong = nullptr;  // the largest activation of either network, each
  float* cols = nullptr;                   // the largest im2col matrix
  float *d_real = nullptr, *d_fake_d = nullptr, *d_fake_g = nullptr;               // 1 x B per worker
  float *d_fake = nullptr, *dx_hat = nullptr, *x_hat = nullptr, *s_bar = nullptr;  // D x B per worker
};

// Carves `base` (or only counts) as carve_workspace does for the MLP: carve_inputs, then every other
// buffer.
inline ConvWorkspace carve_conv_workspace(const GanPlan& p, float* base, std::size_t* total_floats = nullptr) {
  Carver c(base);
  ConvWorkspace w;
  carve_inputs(p, c, w);
  const std::size_t S = static_cast<std::size_t>(p.samples());
  const std::size_t DS = static_cast<std::size_t>(p.data_dim()) * S;
  auto take = [&](long long per_sample) { return c.take(static_cast<std::size_t>(per_sample) * S); };
  auto forward_bufs = [&](const ConvNetLayout& net, const float* input) {
    ConvForwardBufs f;
    const int L = net.layer_count();
    f.in = input;
    f.h.assign(static_cast<std::size_t>(L + 1), nullptr);
    f.a.assign(static_cast<std::size_t>(L), nullptr);
    for (int l = 0; l < L; ++l) {
      f.h[static_cast<std::size_t>(l)] = take(net.layer(l).in_features());
      f.a[static_cast<std::size_t>(l)] = take(net.layer(l).out_features());
    }
    if (net.generator) {
      f.h[static_cast<std::size_t>(L)] = take(net.layer(L - 1).out_features());
      f.out = c.take(DS);
    } else {
      f.out = f.a[static_cast<std::size_t>(L - 1)];
    }
    return f;
  };
  w.fg = forward_bufs(p.cgen, w.latent);
  w.fr = forward_bufs(p.cdisc, w.real);
  w.ff = forward_bufs(p.cdisc, w.fg.out);
  long long act = 0, cols = 0;
  for (const ConvNetLayout* net : {&p.cgen, &p.cdisc})
    for (const ConvGeom& g : net->layers) {
      act = g.in_features() > act ? g.in_features() : act;
      act = g.out_features() > act ? g.out_features() : act;
      cols = g.col_features() > cols ? g.col_features() : cols;
    }
  w.ping = take(act);
  w.pong = take(act);
  w.cols = take(cols);
  w.d_real = c.take(S);
  w.d_fake_d = c.take(S);
  w.d_fake_g = c.take(S);
  w.d_fake = c.take(DS);
  if (p.loss == BatchedLoss::wgan_gp) {
    w.x_hat = c.take(DS);
    w.fh = forward_bufs(p.cdisc, w.x_hat);
    const int L = p.cdisc.layer_count();
    w.ig.e.assign(static_cast<std::size_t>(L), nullptr);
    for (int l = 0; l < L; ++l) w.ig.e[static_cast<std::size_t>(l)] = take(p.cdisc.layer(l).out_features());
    w.ig.s = c.take(DS);
    w.s_bar = c.take(DS);
    w.dx_hat = c.take(DS);
  }
  if (total_floats) *total_floats = c.used();
  return w;
}

// --- the passes -----------------------------------------------------------------------------------
struct ConvPasses {
  const GanPlan& p;
  const ConvNetLayout& net;
  ConvWorkspace& w;

  long long samples() const { return p.samples(); }
  // The canvas of the network's input: the critic's image canvas, the generator's 1 x 1 latent grid.
  CanvasGeom input_canvas() const {
    if (!net.generator) return net.canvas;
    CanvasGeom c;
    c.channels = p.latent();
    return c;
  }
  long long act_size(int l) const { return net.layer(l).out_features() * samples(); }  // a[l]

  // big grid -> small grid (a conv's forward, a conv-t's input adjoint).
  template <class X>
  void to_small(X& x, const ConvGeom& g, const float* big, float* small) const {
    x.im2col(g, big, w.cols, p.batch, p.workers);
    x.gemm(cols_times_weights(g, w.Z, p.dim, w.cols, small, p.batch, p.workers));
  }
  // small grid -> big grid (a conv-t's forward, a conv's input adjoint).
  template <class X>
  void to_big(X& x, const ConvGeom& g, const float* small, float* big) const {
    x.gemm(small_times_weights_t(g, w.Z, p.dim, small, w.cols, p.batch, p.workers));
    x.col2im(g, w.cols, big, p.batch, p.workers);
  }
  template <class X>
  void linear(X& x, const ConvGeom& g, const float* in, float* out) const {
    if (g.transposed) to_big(x, g, in, out);
    else to_small(x, g, in, out);
  }
  template <class X>
  void adjoint(X& x, const ConvGeom& g, const float* delta, float* out) const {
    if (g.transposed) to_small(x, g, delta, out);
    else to_big(x, g, delta, out);
  }
  // G += d/dW of <delta, layer(in)>.
  template <class X>
  void weight_gradient(X& x, const ConvGeom& g, const float* in, const float* delta, float* G) const {
    x.im2col(g, g.transposed ? delta : in, w.cols, p.batch, p.workers);
    x.gemm(conv_weight_gradient(g, G, p.dim, w.cols, g.transposed ? in : delta, p.batch, p.workers));
  }

  template <class X>
  void forward(X& x, ConvForwardBufs& f) const {
    const int L = net.layer_count();
    x.to_canvas(f.in, input_canvas(), p.batch, p.workers, -1.f, f.h[0]);  // -1: the images' background
    for (int l = 0; l < L; ++l) {
      const ConvGeom& g = net.layer(l);
      const auto u = static_cast<std::size_t>(l);
      linear(x, g, f.h[u], f.a[u]);
      const bool hidden = l + 1 < L;
      x.channel_bias_act(f.a[u], hidden || net.generator ? f.h[u + 1] : nullptr, w.Z + g.bias_offset, p.dim, g.c_out,
                         g.out_features() / g.c_out * p.batch, p.workers, hidden ? net.act : Act::tanh);
    }
    if (net.generator) x.from_canvas(f.h[static_cast<std::size_t>(L)], net.canvas, p.batch, p.workers, f.out);
  }

  template <class X>
  void backward(X& x, const ConvForwardBufs& f, const float* d_out, float* G, float* dX) const {
    const int L = net.layer_count();
    float* bufs[2] = {w.ping, w.pong};
    int next = 0;
    const float* delta = d_out;  // d loss / d a_l; the critic's a_{L-1} is its output
    if (net.generator) {
      x.to_canvas(d_out, net.canvas, p.batch, p.workers, 0.f, w.ping);
      x.mul_act_d1(w.ping, w.ping, f.a[static_cast<std::size_t>(L - 1)], act_size(L - 1), Act::tanh);
      delta = w.ping;
      next = 1;
    }
    for (int l = L - 1; l >= 0; --l) {
      const ConvGeom& g = net.layer(l);
      if (G) {
        weight_gradient(x, g, f.h[static_cast<std::size_t>(l)], delta, G);
        x.channel_sums(delta, g.c_out, g.out_features() / g.c_out * p.batch, p.workers, G + g.bias_offset, p.dim);
      }
      if (l > 0) {
        float* up = bufs[next];
        next ^= 1;
        adjoint(x, g, delta, up);
        x.mul_act_d1(up, up, f.a[static_cast<std::size_t>(l - 1)], act_size(l - 1), net.act);
        delta = up;
      } else if (dX) {
        adjoint(x, g, delta, bufs[next]);
        x.from_canvas(bufs[next], input_canvas(), p.batch, p.workers, dX);
      }
    }
  }

  // Critic only: returns d out / d X (D x B per worker).
  template <class X>
  const float* input_gradient(X& x, const ConvForwardBufs& f, ConvInputGradBufs& ig) const {
    const int L = net.layer_count();
    x.fill(ig.e[static_cast<std::size_t>(L - 1)], act_size(L - 1), 1.f);
    for (int l = L - 1; l >= 0; --l) {
      adjoint(x, net.layer(l), ig.e[static_cast<std::size_t>(l)], w.ping);
      if (l > 0)
        x.mul_act_d1(ig.e[static_cast<std::size_t>(l - 1)], w.ping, f.a[static_cast<std::size_t>(l - 1)],
                     act_size(l - 1), net.act);
      else
        x.from_canvas(w.ping, net.canvas, p.batch, p.workers, ig.s);
    }
    return ig.s;
  }

  // Critic only, piecewise-linear act: S = J_0^T D_0 ... J_{L-1}^T 1 does not move with X or the
  // biases, so the reverse pass through it gives weight gradients only (ConvNet::input_gradient_backward).
  template <class X>
  void input_gradient_backward(X& x, const ConvForwardBufs& f, const ConvInputGradBufs& ig, const float* s_bar,
                               float* G, float* dX) const {
    const int L = net.layer_count();
    float* bufs[2] = {w.ping, w.pong};
    x.to_canvas(s_bar, net.canvas, p.batch, p.workers, 0.f, w.ping);
    const float* q_bar = w.ping;  // d loss / d (d out / d h_l)
    int next = 1;
    for (int l = 0; l < L; ++l) {
      const ConvGeom& g = net.layer(l);
      if (G) weight_gradient(x, g, q_bar, ig.e[static_cast<std::size_t>(l)], G);
      if (l + 1 < L) {
        float* nb = bufs[next];
        next ^= 1;
        linear(x, g, q_bar, nb);
        x.mul_act_d1(nb, nb, f.a[static_cast<std::size_t>(l)], act_size(l), net.act);
        q_bar = nb;
      }
    }
    if (dX) x.fill(dX, p.data_dim() * samples(), 0.f);
  }
};

template <class X>
void batched_conv_operator(X& x, const GanPlan& p, ConvWorkspace& w) {
  gan_operator_passes(x, p, ConvPasses{p, p.cgen, w}, ConvPasses{p, p.cdisc, w}, w);
}

// --- either architecture ----------------------------------------------------------------------------
inline std::size_t operator_floats(const GanPlan& p) {
  std::size_t n = 0;
  if (p.conv()) carve_conv_workspace(p, nullptr, &n);
  else carve_workspace(p, nullptr, &n);
  return n;
}

// The batched operator of p on `arena` (operator_floats(p) floats, its inputs filled at
// input_layout(p)); returns the arena's G (d x M).
template <class X>
float* batched_operator_on(X& x, const GanPlan& p, float* arena) {
  if (p.conv()) {
    ConvWorkspace w = carve_conv_workspace(p, arena);
    batched_conv_operator(x, p, w);
    return w.G;
  }
  Workspace w = carve_workspace(p, arena);
  batched_gan_operator(x, p, w);
  return w.G;
}

}  // namespace dposg::gan::cuda
