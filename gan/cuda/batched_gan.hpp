#pragma once
// The GAN operator of GanProblem::operator_on (gan/gan_problem.hpp) for ALL M workers at once, in
// float, written once against an executor: gan/cuda/device_gan.cu runs it with cuBLAS and CUDA kernels,
// gan/cuda/host_executor.hpp with plain loops (the CPU reference that a unit test checks against the
// double CPU path, so the layout, the strides and the order of the passes are tested without a GPU).
// Plain C++ (no Eigen, no CUDA headers): nvcc and the host compiler both include it.
//
// Layout (column-major throughout, as Eigen and cuBLAS):
// - Z, G: d x M, worker i's parameters z^i at i * d. Inside z, each network's parameters start at its
//   `base` (generator 0, discriminator dim_u); layer l's W_l (n_l x n_{l-1}, leading dimension n_l) at
//   base + weight_offset(l), b_l at base + bias_offset(l) (the layout of gan/mlp.hpp).
// - A batched activation with n rows: n x B per worker, workers back to back (worker i's block at
//   i * n * B), i.e. one n x (B M) matrix whose column k is sample k mod B of worker k / B.
// - Every layer's product for all workers is ONE strided batched GEMM (batch = M): the weights are
//   read from Z with stride d (strideA = d, lda = n_l), the activations with stride n * B.
#include <cmath>
#include <cstddef>
#include <vector>

#if defined(__CUDACC__)
#define DPOSG_HD __host__ __device__
#else
#define DPOSG_HD
#endif

namespace dposg::gan::cuda {

// The hidden activations of gan/mlp.hpp (same values and the same one-sided derivatives at 0).
enum class Act : int { relu, leaky_relu, tanh };
// The losses of gan/gan_problem.hpp; wgan-clip is `wgan` on clip(v) (the caller clips v when it fills
// Z), wgan-gp with lambda = 0 is `wgan` too.
enum class BatchedLoss : int { ns, wgan, wgan_gp, hinge };

inline constexpr float kLeaky = 0.2f;  // gan::kLeakySlope

DPOSG_HD inline float act_value(Act k, float a) {
  switch (k) {
    case Act::relu: return a > 0.f ? a : 0.f;
    case Act::leaky_relu: return a > 0.f ? a : kLeaky * a;
    case Act::tanh: return tanhf(a);
  }
  return a;
}
DPOSG_HD inline float act_d1(Act k, float a) {
  switch (k) {
    case Act::relu: return a > 0.f ? 1.f : 0.f;
    case Act::leaky_relu: return a > 0.f ? 1.f : kLeaky;
    case Act::tanh: {
      const float t = tanhf(a);
      return 1.f - t * t;
    }
  }
  return 1.f;
}
DPOSG_HD inline float act_d2(Act k, float a) {
  if (k != Act::tanh) return 0.f;
  const float t = tanhf(a);
  return -2.f * t * (1.f - t * t);
}
DPOSG_HD inline float sigmoid_f(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}
// ns: d/d logit of L_D's real term, of L_D's fake term and of L_G, each divided by B.
struct NsOutputGrad {
  float real, fake_d, fake_g;
};
DPOSG_HD inline NsOutputGrad ns_output_grad(float logit_real, float logit_fake, float inv_b) {
  const float s = sigmoid_f(logit_fake);
  return {(sigmoid_f(logit_real) - 1.f) * inv_b, s * inv_b, (s - 1.f) * inv_b};
}
// hinge: d/d D of L_D's real term relu(1 - D(x)) and fake term relu(1 + D(G(z))), each divided by B
// (relu'(0) = 0, as gan_problem.cpp).
struct HingeOutputGrad {
  float real, fake_d;
};
DPOSG_HD inline HingeOutputGrad hinge_output_grad(float d_real, float d_fake, float inv_b) {
  return {1.f - d_real > 0.f ? -inv_b : 0.f, 1.f + d_fake > 0.f ? inv_b : 0.f};
}
// wgan-gp: d (lambda E (||s|| - 1)^2) / d s = coefficient * s for one sample's D-vector s of norm n
// (0 where s = 0).
DPOSG_HD inline float gp_coefficient(float n, float lambda, float inv_b) {
  return n > 0.f ? lambda * 2.f * (n - 1.f) * inv_b / n : 0.f;
}

// One network inside z.
struct NetLayout {
  std::vector<int> units;  // n_0..n_L
  long long base = 0;      // offset of the network's first parameter inside z
  Act act = Act::relu;

  int layers() const { return static_cast<int>(units.size()) - 1; }  // L
  int n(int l) const { return units[static_cast<std::size_t>(l)]; }
  long long weight_offset(int l) const {  // l = 1..L, relative to the start of z
    long long off = base;
    for (int k = 1; k < l; ++k) off += static_cast<long long>(n(k)) * n(k - 1) + n(k);
    return off;
  }
  long long bias_offset(int l) const { return weight_offset(l) + static_cast<long long>(n(l)) * n(l - 1); }
  long long num_params() const { return weight_offset(layers() + 1) - base; }
  int max_units() const {
    int m = 0;
    for (int u : units) m = u > m ? u : m;
    return m;
  }
};

// --gan-arch dcgan: one convolution of gan/conv_net.hpp (ConvLayer), its parameters at absolute
// offsets inside z. A conv maps the big grid (side big_side(), big_channels()) to the small one, a
// conv-t the small to the big; both store W as a column-major (big_channels k^2) x small_channels
// matrix (PyTorch's order), so that every product below has the same three shapes.
struct ConvGeom {
  bool transposed = false;
  int c_in = 0, c_out = 0, in_side = 0, out_side = 0, k = 4, stride = 2, pad = 1;
  long long weight_offset = 0, bias_offset = 0;

  DPOSG_HD int big_side() const { return transposed ? out_side : in_side; }
  DPOSG_HD int small_side() const { return transposed ? in_side : out_side; }
  DPOSG_HD int big_channels() const { return transposed ? c_out : c_in; }
  DPOSG_HD int small_channels() const { return transposed ? c_in : c_out; }
  DPOSG_HD long long big_pixels() const { return static_cast<long long>(big_side()) * big_side(); }
  DPOSG_HD long long small_pixels() const { return static_cast<long long>(small_side()) * small_side(); }
  DPOSG_HD int patch() const { return big_channels() * k * k; }  // columns of im2col
  long long in_features() const { return static_cast<long long>(c_in) * in_side * in_side; }
  long long out_features() const { return static_cast<long long>(c_out) * out_side * out_side; }
  long long col_features() const { return static_cast<long long>(patch()) * small_pixels(); }  // per sample
};

// The canvas of gan/conv_net.hpp: images of side image_side centred in a side x side grid.
struct CanvasGeom {
  int side = 1, image_side = 1, channels = 1;
  DPOSG_HD int offset() const { return (side - image_side) / 2; }
  DPOSG_HD long long features() const { return static_cast<long long>(channels) * image_side * image_side; }
};

struct ConvNetLayout {
  std::vector<ConvGeom> layers;
  bool generator = false;
  CanvasGeom canvas;      // the generator's output / the critic's input
  Act act = Act::leaky_relu;  // hidden layers (relu or leaky-relu); the generator's output is tanh
  int layer_count() const { return static_cast<int>(layers.size()); }
  const ConvGeom& layer(int l) const { return layers[static_cast<std::size_t>(l)]; }
};

struct GanPlan {
  // gen: latent -> D, disc: D -> 1 (D = data_dim(): 2 for mixtures, pixels for images). For a dcgan
  // plan (conv()) these carry only the inputs' sizes (units = {latent, D} and {D, 1}) and disc.base;
  // the networks are cgen and cdisc.
  NetLayout gen, disc;
  ConvNetLayout cgen, cdisc;  // --gan-arch dcgan (empty for the MLP)
  long long dim = 0;    // d
  int batch = 1;        // B, per worker
  int workers = 1;      // M
  BatchedLoss loss = BatchedLoss::ns;
  float gp_lambda = 0.f;

  bool conv() const { return !cgen.layers.empty(); }
  long long samples() const { return static_cast<long long>(batch) * workers; }  // B M
  int latent() const { return gen.n(0); }
  int data_dim() const { return disc.n(0); }
};

// C_i = op(A_i) op(B_i) + beta C_i for i = 0..batch-1 (alpha = 1), X_i = X + i * stride_x: exactly the
// arguments of cublasSgemmStridedBatched.
struct Gemm {
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0;
  const float* A = nullptr;
  int lda = 0;
  long long stride_a = 0;
  const float* B = nullptr;
  int ldb = 0;
  long long stride_b = 0;
  float beta = 0.f;
  float* C = nullptr;
  int ldc = 0;
  long long stride_c = 0;
  int batch = 0;
};

// Y_i = W_l,i X_i (X: n_{l-1} x B per worker, Y: n_l x B); W_l,i read from Z with stride d.
inline Gemm weights_times(const NetLayout& net, int l, const float* Z, long long d, const float* X, float* Y,
                          int B, int M) {
  Gemm g;
  g.m = net.n(l);
  g.n = B;
  g.k = net.n(l - 1);
  g.A = Z + net.weight_offset(l);
  g.lda = net.n(l);
  g.stride_a = d;
  g.B = X;
  g.ldb = net.n(l - 1);
  g.stride_b = static_cast<long long>(net.n(l - 1)) * B;
  g.C = Y;
  g.ldc = net.n(l);
  g.stride_c = static_cast<long long>(net.n(l)) * B;
  g.batch = M;
  return g;
}

// Y_i = W_l,i^T D_i (D: n_l x B per worker, Y: n_{l-1} x B): the backward product.
inline Gemm weights_transposed_times(const NetLayout& net, int l, const float* Z, long long d, const float* D,
                                     float* Y, int B, int M) {
  Gemm g;
  g.trans_a = true;
  g.m = net.n(l - 1);
  g.n = B;
  g.k = net.n(l);
  g.A = Z + net.weight_offset(l);
  g.lda = net.n(l);  // W_l is stored n_l x n_{l-1}
  g.stride_a = d;
  g.B = D;
  g.ldb = net.n(l);
  g.stride_b = static_cast<long long>(net.n(l)) * B;
  g.C = Y;
  g.ldc = net.n(l - 1);
  g.stride_c = static_cast<long long>(net.n(l - 1)) * B;
  g.batch = M;
  return g;
}

// grad W_l,i += Left_i Right_i^T (Left: n_l x B, Right: n_{l-1} x B per worker), written into G with
// stride d: the weight gradient, a sum over the worker's B samples.
inline Gemm weight_gradient(const NetLayout& net, int l, float* G, long long d, const float* left,
                            const float* right, int B, int M) {
  Gemm g;
  g.trans_b = true;
  g.m = net.n(l);
  g.n = net.n(l - 1);
  g.k = B;
  g.A = left;
  g.lda = net.n(l);
  g.stride_a = static_cast<long long>(net.n(l)) * B;
  g.B = right;
  g.ldb = net.n(l - 1);
  g.stride_b = static_cast<long long>(net.n(l - 1)) * B;
  g.beta = 1.f;
  g.C = G + net.weight_offset(l);
  g.ldc = net.n(l);
  g.stride_c = d;
  g.batch = M;
  return g;
}

// --- the device arena --------------------------------------------------------------------------
// Inputs, uploaded in one copy: Z (d M, v already clipped for wgan-clip), the real samples (D x B per
// worker), the latent codes (latent x B per worker), eps (B per worker, wgan-gp only).
struct InputLayout {
  std::size_t z = 0, real = 0, latent = 0, eps = 0, total = 0;  // offsets and total, in floats
};
inline InputLayout input_layout(const GanPlan& p) {
  InputLayout in;
  const std::size_t S = static_cast<std::size_t>(p.samples());
  in.z = 0;
  in.real = in.z + static_cast<std::size_t>(p.dim) * static_cast<std::size_t>(p.workers);
  in.latent = in.real + static_cast<std::size_t>(p.data_dim()) * S;
  in.eps = in.latent + static_cast<std::size_t>(p.latent()) * S;
  in.total = in.eps + (p.loss == BatchedLoss::wgan_gp ? S : 0);
  return in;
}

// Intermediates of one batched forward pass: h[l] (l = 0..L-1, h[0] the input, not owned), a[l]
// (l = 1..L-1), out (n_L x B per worker).
struct ForwardBufs {
  std::vector<float*> h, a;
  float* out = nullptr;
};
// Intermediates of the input-gradient pass: e[l] (l = 1..L), q[l] (l = 0..L-1); q[0] = d out / d X.
struct InputGradBufs {
  std::vector<float*> e, q;
};

struct Workspace {
  float *Z = nullptr, *real = nullptr, *latent = nullptr, *eps = nullptr;  // the inputs
  float* G = nullptr;                                                      // d x M, the result
  ForwardBufs fg, fr, ff, fh;  // generator; critic on real, fake, x^
  InputGradBufs ig;            // critic at x^ (wgan-gp)
  std::vector<float*> a_bar;   // wgan-gp: adjoints of the critic's hidden pre-activations
  float *ping = nullptr, *pong = nullptr;                    // max_units x B per worker each
  float *d_real = nullptr, *d_fake_d = nullptr, *d_fake_g = nullptr;  // 1 x B per worker
  float *d_fake = nullptr, *dx_hat = nullptr, *x_hat = nullptr, *s_bar = nullptr;  // D x B per worker
};

// Carves `base` (or only counts, when base is null) into the workspace of p: the inputs first, exactly
// at input_layout(p), then every other buffer rounded up to 64 floats (256 bytes).
class Carver {
 public:
  explicit Carver(float* base) : base_(base) {}
  float* take(std::size_t n) {
    float* p = base_ ? base_ + used_ : nullptr;
    used_ += (n + 63) / 64 * 64;
    return p;
  }
  float* at(std::size_t offset) const { return base_ ? base_ + offset : nullptr; }
  void skip_to(std::size_t offset) { used_ = (offset + 63) / 64 * 64; }
  std::size_t used() const { return used_; }

 private:
  float* base_;
  std::size_t used_ = 0;
};

// The start of every workspace (W: Workspace or ConvWorkspace of batched_conv.hpp): the inputs exactly
// at input_layout(p), then G.
template <class W>
void carve_inputs(const GanPlan& p, Carver& c, W& w) {
  const InputLayout in = input_layout(p);
  w.Z = c.at(in.z);
  w.real = c.at(in.real);
  w.latent = c.at(in.latent);
  w.eps = p.loss == BatchedLoss::wgan_gp ? c.at(in.eps) : nullptr;
  c.skip_to(in.total);
  w.G = c.take(static_cast<std::size_t>(p.dim) * static_cast<std::size_t>(p.workers));
}

inline Workspace carve_workspace(const GanPlan& p, float* base, std::size_t* total_floats = nullptr) {
  Carver c(base);
  Workspace w;
  carve_inputs(p, c, w);
  const std::size_t S = static_cast<std::size_t>(p.samples());
  auto forward_bufs = [&](const NetLayout& net, float* input) {
    ForwardBufs f;
    const int L = net.layers();
    f.h.assign(static_cast<std::size_t>(L), nullptr);
    f.a.assign(static_cast<std::size_t>(L), nullptr);
    f.h[0] = input;
    for (int l = 1; l < L; ++l) {
      f.h[static_cast<std::size_t>(l)] = c.take(static_cast<std::size_t>(net.n(l)) * S);
      f.a[static_cast<std::size_t>(l)] = c.take(static_cast<std::size_t>(net.n(l)) * S);
    }
    f.out = c.take(static_cast<std::size_t>(net.n(L)) * S);
    return f;
  };
  w.fg = forward_bufs(p.gen, w.latent);
  w.fr = forward_bufs(p.disc, w.real);
  w.ff = forward_bufs(p.disc, w.fg.out);
  const int max_units = p.gen.max_units() > p.disc.max_units() ? p.gen.max_units() : p.disc.max_units();
  w.ping = c.take(static_cast<std::size_t>(max_units) * S);
  w.pong = c.take(static_cast<std::size_t>(max_units) * S);
  w.d_real = c.take(S);
  w.d_fake_d = c.take(S);
  w.d_fake_g = c.take(S);
  const std::size_t DS = static_cast<std::size_t>(p.data_dim()) * S;
  w.d_fake = c.take(DS);
  if (p.loss == BatchedLoss::wgan_gp) {
    w.x_hat = c.take(DS);
    w.fh = forward_bufs(p.disc, w.x_hat);
    const int L = p.disc.layers();
    w.ig.e.assign(static_cast<std::size_t>(L + 1), nullptr);
    w.ig.q.assign(static_cast<std::size_t>(L), nullptr);
    for (int l = 1; l <= L; ++l) w.ig.e[static_cast<std::size_t>(l)] = c.take(static_cast<std::size_t>(p.disc.n(l)) * S);
    for (int l = 0; l < L; ++l) w.ig.q[static_cast<std::size_t>(l)] = c.take(static_cast<std::size_t>(p.disc.n(l)) * S);
    w.a_bar.assign(static_cast<std::size_t>(L), nullptr);
    for (int l = 1; l < L; ++l) w.a_bar[static_cast<std::size_t>(l)] = c.take(static_cast<std::size_t>(p.disc.n(l)) * S);
    w.s_bar = c.take(DS);
    w.dx_hat = c.take(DS);
  }
  if (total_floats) *total_floats = c.used();
  return w;
}

inline std::size_t workspace_floats(const GanPlan& p) {
  std::size_t n = 0;
  carve_workspace(p, nullptr, &n);
  return n;
}

// --- the passes (the batched counterparts of Mlp::forward, backward, input_gradient and
// input_gradient_backward in gan/mlp.cpp, in the same order). The executor X provides:
//   gemm(Gemm)                                            one strided batched GEMM
//   bias_act(a, h, bias, bias_stride, rows, B, M, act)    a_i += b_i per row; h = act(a) unless h is null
//   mul_act_d1(out, in, a, n, act)                        out = in * act'(a) (out may be in)
//   add_mul_act_d1(r, in, a, n, act)                      r += in * act'(a)
//   double_backward_step(e_bar, a_bar, q, a, n, act)      a_bar = e_bar q act''(a) unless a_bar is null;
//                                                         then e_bar *= act'(a)
//   row_sums(X, rows, B, M, out, out_stride)              out_i[r] += sum_j X_i(r, j)
//   fill(p, n, value), scale(p, n, s)
//   ns_output_grads(l_real, l_fake, S, inv_b, d_real, d_fake_d, d_fake_g)
//   hinge_output_grads(d_real_out, d_fake_out, S, inv_b, d_real, d_fake_d)
//   interpolate(real, fake, eps, S, D, x_hat)             x^_k = eps_k real_k + (1 - eps_k) fake_k
//   gp_adjoint(s, S, D, lambda, inv_b, s_bar)             d(lambda P)/d s_k
//   gp_fake_update(d_fake, dx_hat, eps, S, D)             d_fake_k -= (1 - eps_k) dx_hat_k
// (sample k's D-vectors are columns k of D x S matrices).
// Elementwise operations run over a flat n = rows * B * M (activations of all workers are contiguous).
// The dcgan networks (batched_conv.hpp) add im2col, col2im, to_canvas, from_canvas, channel_bias_act
// and channel_sums.

template <class X>
void batched_forward(X& x, const GanPlan& p, const NetLayout& net, const float* Z, ForwardBufs& f) {
  const int L = net.layers();
  for (int l = 1; l <= L; ++l) {
    float* a = l < L ? f.a[static_cast<std::size_t>(l)] : f.out;
    x.gemm(weights_times(net, l, Z, p.dim, f.h[static_cast<std::size_t>(l - 1)], a, p.batch, p.workers));
    x.bias_act(a, l < L ? f.h[static_cast<std::size_t>(l)] : nullptr, Z + net.bias_offset(l), p.dim, net.n(l), p.batch,
               p.workers, net.act);
  }
}

// d_out: n_L x B per worker. Adds the parameter gradient to G (unless null), writes d/dX to dX (unless null).
template <class X>
void batched_backward(X& x, const GanPlan& p, const NetLayout& net, const float* Z, const ForwardBufs& f,
                      const float* d_out, float* G, float* dX, float* ping, float* pong) {
  const int L = net.layers();
  const long long S = p.samples();
  float* bufs[2] = {ping, pong};
  int next = 0;
  const float* delta = d_out;  // d loss / d a_l
  for (int l = L; l >= 1; --l) {
    if (G) {
      x.gemm(weight_gradient(net, l, G, p.dim, delta, f.h[static_cast<std::size_t>(l - 1)], p.batch, p.workers));
      x.row_sums(delta, net.n(l), p.batch, p.workers, G + net.bias_offset(l), p.dim);
    }
    if (l > 1) {
      float* up = bufs[next];
      next ^= 1;
      x.gemm(weights_transposed_times(net, l, Z, p.dim, delta, up, p.batch, p.workers));
      x.mul_act_d1(up, up, f.a[static_cast<std::size_t>(l - 1)], net.n(l - 1) * S, net.act);
      delta = up;
    } else if (dX) {
      x.gemm(weights_transposed_times(net, 1, Z, p.dim, delta, dX, p.batch, p.workers));
    }
  }
}

// ig.q[0] = d out / d X per sample (n_L == 1).
template <class X>
void batched_input_gradient(X& x, const GanPlan& p, const NetLayout& net, const float* Z, const ForwardBufs& f,
                            InputGradBufs& ig) {
  const int L = net.layers();
  const long long S = p.samples();
  x.fill(ig.e[static_cast<std::size_t>(L)], S, 1.f);
  for (int l = L; l >= 1; --l) {
    float* q = ig.q[static_cast<std::size_t>(l - 1)];
    x.gemm(weights_transposed_times(net, l, Z, p.dim, ig.e[static_cast<std::size_t>(l)], q, p.batch, p.workers));
    if (l - 1 >= 1)
      x.mul_act_d1(ig.e[static_cast<std::size_t>(l - 1)], q, f.a[static_cast<std::size_t>(l - 1)], net.n(l - 1) * S,
                   net.act);
  }
}

// Double backward for S_bar = d loss / d S (n_0 x B per worker).
template <class X>
void batched_input_gradient_backward(X& x, const GanPlan& p, const NetLayout& net, const float* Z,
                                     const ForwardBufs& f, const InputGradBufs& ig, const float* s_bar, float* G,
                                     float* dX, float* ping, float* pong, std::vector<float*>& a_bar) {
  const int L = net.layers();
  const long long S = p.samples();
  const bool curved = net.act == Act::tanh;  // act'' != 0
  float* bufs[2] = {ping, pong};
  int next = 0;
  const float* q_bar = s_bar;  // d loss / d q_{l-1}
  for (int l = 1; l <= L; ++l) {
    const float* e = ig.e[static_cast<std::size_t>(l)];
    if (G) x.gemm(weight_gradient(net, l, G, p.dim, e, q_bar, p.batch, p.workers));
    if (l == L) break;
    float* e_bar = bufs[next];
    next ^= 1;
    x.gemm(weights_times(net, l, Z, p.dim, q_bar, e_bar, p.batch, p.workers));
    x.double_backward_step(e_bar, curved ? a_bar[static_cast<std::size_t>(l)] : nullptr,
                           ig.q[static_cast<std::size_t>(l)], f.a[static_cast<std::size_t>(l)], net.n(l) * S, net.act);
    q_bar = e_bar;
  }
  if (!curved) {
    // act'' = 0: the input gradient is piecewise constant in X and does not depend on the biases.
    if (dX) x.fill(dX, net.n(0) * S, 0.f);
    return;
  }
  float* r = a_bar[static_cast<std::size_t>(L - 1)];  // d loss / d a_l (nothing reaches a_L)
  for (int l = L - 1; l >= 1; --l) {
    if (G) {
      x.gemm(weight_gradient(net, l, G, p.dim, r, f.h[static_cast<std::size_t>(l - 1)], p.batch, p.workers));
      x.row_sums(r, net.n(l), p.batch, p.workers, G + net.bias_offset(l), p.dim);
    }
    if (l > 1) {
      float* h_bar = bufs[next];
      next ^= 1;
      x.gemm(weights_transposed_times(net, l, Z, p.dim, r, h_bar, p.batch, p.workers));
      float* r_next = a_bar[static_cast<std::size_t>(l - 1)];
      x.add_mul_act_d1(r_next, h_bar, f.a[static_cast<std::size_t>(l - 1)], net.n(l - 1) * S, net.act);
      r = r_next;
    } else if (dX) {
      x.gemm(weights_transposed_times(net, 1, Z, p.dim, r, dX, p.batch, p.workers));
    }
  }
}

// The MLP's passes in the form the loss code below calls (batched_conv.hpp has the dcgan networks').
struct MlpPasses {
  const GanPlan& p;
  const NetLayout& net;
  Workspace& w;

  template <class X>
  void forward(X& x, ForwardBufs& f) const {
    batched_forward(x, p, net, w.Z, f);
  }
  template <class X>
  void backward(X& x, const ForwardBufs& f, const float* d_out, float* G, float* dX) const {
    batched_backward(x, p, net, w.Z, f, d_out, G, dX, w.ping, w.pong);
  }
  // Returns d out / d X (D x B per worker).
  template <class X>
  const float* input_gradient(X& x, const ForwardBufs& f, InputGradBufs& ig) const {
    batched_input_gradient(x, p, net, w.Z, f, ig);
    return ig.q[0];
  }
  template <class X>
  void input_gradient_backward(X& x, const ForwardBufs& f, const InputGradBufs& ig, const float* s_bar, float* G,
                               float* dX) const {
    batched_input_gradient_backward(x, p, net, w.Z, f, ig, s_bar, G, dX, w.ping, w.pong, w.a_bar);
  }
};

// G = g(Z) column by column: GanProblem::operator_on (network_operator of gan_problem.cpp) for every
// worker, w's inputs already in place; written once for both architectures: Net is MlpPasses or
// ConvPasses (batched_conv.hpp), W the matching workspace. The generator's output w.fg.out is the
// fake batch in the data's layout (D x B per worker) for both.
template <class X, class Net, class W>
void gan_operator_passes(X& x, const GanPlan& p, const Net& gen, const Net& disc, W& w) {
  const long long S = p.samples();
  const float inv_b = 1.f / static_cast<float>(p.batch);
  x.fill(w.G, p.dim * p.workers, 0.f);
  gen.forward(x, w.fg);
  disc.forward(x, w.fr);
  disc.forward(x, w.ff);
  if (p.loss == BatchedLoss::ns) {
    x.ns_output_grads(w.fr.out, w.ff.out, S, inv_b, w.d_real, w.d_fake_d, w.d_fake_g);
    disc.backward(x, w.fr, w.d_real, w.G, nullptr);
    disc.backward(x, w.ff, w.d_fake_d, w.G, nullptr);
    disc.backward(x, w.ff, w.d_fake_g, nullptr, w.d_fake);
  } else if (p.loss == BatchedLoss::hinge) {
    x.hinge_output_grads(w.fr.out, w.ff.out, S, inv_b, w.d_real, w.d_fake_d);
    x.fill(w.d_fake_g, S, -inv_b);  // L_G = -E D(G(z))
    disc.backward(x, w.fr, w.d_real, w.G, nullptr);
    disc.backward(x, w.ff, w.d_fake_d, w.G, nullptr);
    disc.backward(x, w.ff, w.d_fake_g, nullptr, w.d_fake);
  } else {
    x.fill(w.d_real, S, -inv_b);
    x.fill(w.d_fake_d, S, inv_b);
    disc.backward(x, w.fr, w.d_real, w.G, nullptr);
    disc.backward(x, w.ff, w.d_fake_d, w.G, w.d_fake);
    const int D = p.data_dim();
    x.scale(w.d_fake, D * S, -1.f);
    if (p.loss == BatchedLoss::wgan_gp) {
      x.interpolate(w.real, w.fg.out, w.eps, S, D, w.x_hat);
      disc.forward(x, w.fh);
      const float* s = disc.input_gradient(x, w.fh, w.ig);
      x.gp_adjoint(s, S, D, p.gp_lambda, inv_b, w.s_bar);
      disc.input_gradient_backward(x, w.fh, w.ig, w.s_bar, w.G, w.dx_hat);
      x.gp_fake_update(w.d_fake, w.dx_hat, w.eps, S, D);
    }
  }
  gen.backward(x, w.fg, w.d_fake, w.G, nullptr);
}

template <class X>
void batched_gan_operator(X& x, const GanPlan& p, Workspace& w) {
  gan_operator_passes(x, p, MlpPasses{p, p.gen, w}, MlpPasses{p, p.disc, w}, w);
}

}  // namespace dposg::gan::cuda
