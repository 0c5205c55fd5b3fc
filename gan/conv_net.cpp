#include "gan/conv_net.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "gan/activation.hpp"

namespace dposg::gan {

Index canvas_side(Index h) {
  Index s = 8;
  while (s < h) s *= 2;
  return s;
}

Matrix im2col(const ConvLayer& g, const Matrix& big, Index batch) {
  const Index bs = g.big_side(), ss = g.small_side(), C = g.big_channels(), k = g.k;
  const Index Pb = bs * bs, Ps = ss * ss;
  Matrix cols(Ps * batch, C * k * k);
  for (Index c = 0; c < C; ++c)
    for (Index ky = 0; ky < k; ++ky)
      for (Index kx = 0; kx < k; ++kx) {
        double* out = cols.col(c * k * k + ky * k + kx).data();
        const double* in = big.col(c).data();
        for (Index b = 0; b < batch; ++b)
          for (Index oy = 0; oy < ss; ++oy) {
            const Index iy = oy * g.stride - g.pad + ky;
            double* row = out + b * Ps + oy * ss;
            if (iy < 0 || iy >= bs) {
              std::fill(row, row + ss, 0.0);
              continue;
            }
            const double* src = in + b * Pb + iy * bs;
            for (Index ox = 0; ox < ss; ++ox) {
              const Index ix = ox * g.stride - g.pad + kx;
              row[ox] = (ix >= 0 && ix < bs) ? src[ix] : 0.0;
            }
          }
      }
  return cols;
}

Matrix col2im(const ConvLayer& g, const Matrix& cols, Index batch) {
  const Index bs = g.big_side(), ss = g.small_side(), C = g.big_channels(), k = g.k;
  const Index Pb = bs * bs, Ps = ss * ss;
  Matrix big = Matrix::Zero(Pb * batch, C);
  for (Index c = 0; c < C; ++c)
    for (Index ky = 0; ky < k; ++ky)
      for (Index kx = 0; kx < k; ++kx) {
        const double* in = cols.col(c * k * k + ky * k + kx).data();
        double* out = big.col(c).data();
        for (Index b = 0; b < batch; ++b)
          for (Index oy = 0; oy < ss; ++oy) {
            const Index iy = oy * g.stride - g.pad + ky;
            if (iy < 0 || iy >= bs) continue;
            const double* row = in + b * Ps + oy * ss;
            double* dst = out + b * Pb + iy * bs;
            for (Index ox = 0; ox < ss; ++ox) {
              const Index ix = ox * g.stride - g.pad + kx;
              if (ix >= 0 && ix < bs) dst[ix] += row[ox];
            }
          }
      }
  return big;
}

namespace {

ConvLayer layer(bool transposed, Index c_in, Index c_out, Index in_side, Index k, Index stride, Index pad, Index& offset) {
  ConvLayer g;
  g.transposed = transposed;
  g.c_in = c_in;
  g.c_out = c_out;
  g.in_side = in_side;
  g.k = k;
  g.stride = stride;
  g.pad = pad;
  g.out_side = transposed ? (in_side - 1) * stride - 2 * pad + k : (in_side + 2 * pad - k) / stride + 1;
  g.weight_offset = offset;
  g.bias_offset = offset + c_in * c_out * k * k;
  g.params = c_in * c_out * k * k + c_out;
  offset += g.params;
  return g;
}

}  // namespace

ConvNet::ConvNet(const ConvGanShape& s, Role role) : shape_(s), role_(role) {
  Index n = 0;
  while ((Index{4} << n) < s.side) ++n;
  if ((Index{4} << n) != s.side || n < 1) throw std::invalid_argument("ConvNet: the canvas side must be 8, 16, 32, ...");
  if (s.image_side < 1 || s.image_side > s.side || s.channels < 1 || s.width < 1 || s.latent < 1 || s.outputs < 1 ||
      s.hidden < 0)
    throw std::invalid_argument("ConvNet: image side, channels, width and latent must be >= 1");
  if (s.activation == Activation::tanh) throw std::invalid_argument("ConvNet: relu or leaky-relu only");
  Index off = 0;
  if (role == Role::generator) {
    Index c = s.width << (n - 1);
    layers_.push_back(layer(true, s.latent, c, 1, 4, 1, 0, off));
    for (Index j = 1; j <= n; ++j) {
      const Index next = j == n ? s.channels : c / 2;
      layers_.push_back(layer(true, c, next, Index{4} << (j - 1), 4, 2, 1, off));
      c = next;
    }
  } else {
    Index c = s.channels, side = s.side;
    for (Index j = 1; j <= n; ++j) {
      const Index next = s.width << (j - 1);
      layers_.push_back(layer(false, c, next, side, 4, 2, 1, off));
      c = next;
      side /= 2;
    }
    if (s.hidden > 0) {
      layers_.push_back(layer(false, c, s.hidden, 4, 4, 1, 0, off));
      layers_.push_back(layer(false, s.hidden, s.outputs, 1, 1, 1, 0, off));
    } else {
      layers_.push_back(layer(false, c, s.outputs, 4, 4, 1, 0, off));
    }
  }
  params_ = off;
}

Index ConvNet::inputs() const {
  return role_ == Role::generator ? shape_.latent : shape_.channels * shape_.image_side * shape_.image_side;
}
Index ConvNet::outputs() const {
  return role_ == Role::generator ? shape_.channels * shape_.image_side * shape_.image_side : shape_.outputs;
}

Matrix ConvNet::to_canvas(const Matrix& X, double fill) const {
  const Index S = shape_.side, H = shape_.image_side, C = shape_.channels, B = X.cols(), o = (S - H) / 2;
  Matrix canvas = Matrix::Constant(S * S * B, C, fill);
  for (Index c = 0; c < C; ++c)
    for (Index b = 0; b < B; ++b)
      for (Index y = 0; y < H; ++y)
        for (Index x = 0; x < H; ++x) canvas((y + o) * S + x + o + b * S * S, c) = X(c * H * H + y * H + x, b);
  return canvas;
}

Matrix ConvNet::from_canvas(const Matrix& canvas, Index B) const {
  const Index S = shape_.side, H = shape_.image_side, C = shape_.channels, o = (S - H) / 2;
  Matrix X(C * H * H, B);
  for (Index c = 0; c < C; ++c)
    for (Index b = 0; b < B; ++b)
      for (Index y = 0; y < H; ++y)
        for (Index x = 0; x < H; ++x) X(c * H * H + y * H + x, b) = canvas((y + o) * S + x + o + b * S * S, c);
  return X;
}

Matrix ConvNet::layer_forward(const ConvLayer& g, const double* params, const Matrix& x, Index B) const {
  if (g.transposed) {
    const Eigen::Map<const Matrix> W(params + g.weight_offset, g.c_out * g.k * g.k, g.c_in);
    Matrix cols(x.rows(), W.rows());
    cols.noalias() = x * W.transpose();
    return col2im(g, cols, B);
  }
  const Eigen::Map<const Matrix> W(params + g.weight_offset, g.c_in * g.k * g.k, g.c_out);
  const Matrix cols = im2col(g, x, B);
  Matrix a(cols.rows(), g.c_out);
  a.noalias() = cols * W;
  return a;
}

void ConvNet::weight_gradient(const ConvLayer& g, const Matrix& x, const Matrix& delta, Index B, double* grad) const {
  if (g.transposed) {
    Eigen::Map<Matrix> gW(grad + g.weight_offset, g.c_out * g.k * g.k, g.c_in);
    gW.noalias() += im2col(g, delta, B).transpose() * x;
  } else {
    Eigen::Map<Matrix> gW(grad + g.weight_offset, g.c_in * g.k * g.k, g.c_out);
    gW.noalias() += im2col(g, x, B).transpose() * delta;
  }
}

Matrix ConvNet::input_adjoint(const ConvLayer& g, const double* params, const Matrix& delta, Index B) const {
  if (g.transposed) {
    const Eigen::Map<const Matrix> W(params + g.weight_offset, g.c_out * g.k * g.k, g.c_in);
    const Matrix cols = im2col(g, delta, B);
    Matrix dx(cols.rows(), g.c_in);
    dx.noalias() = cols * W;
    return dx;
  }
  const Eigen::Map<const Matrix> W(params + g.weight_offset, g.c_in * g.k * g.k, g.c_out);
  Matrix cols(delta.rows(), W.rows());
  cols.noalias() = delta * W.transpose();
  return col2im(g, cols, B);
}

void ConvNet::forward(const double* params, const Matrix& X, Forward& f) const {
  if (X.rows() != inputs()) throw std::invalid_argument("ConvNet::forward: X has the wrong number of rows");
  const Index B = X.cols(), L = static_cast<Index>(layers_.size());
  f.h.assign(static_cast<std::size_t>(L + 1), Matrix());
  f.a.assign(static_cast<std::size_t>(L), Matrix());
  f.h[0] = role_ == Role::generator ? Matrix(X.transpose()) : to_canvas(X, -1.0);
  for (Index l = 0; l < L; ++l) {
    const ConvLayer& g = layers_[static_cast<std::size_t>(l)];
    const auto u = static_cast<std::size_t>(l);
    f.a[u] = layer_forward(g, params, f.h[u], B);
    f.a[u].rowwise() += Eigen::Map<const Vector>(params + g.bias_offset, g.c_out).transpose();
    if (l + 1 < L)
      f.h[u + 1] = act(shape_.activation, f.a[u]);
    else if (role_ == Role::generator)
      f.h[u + 1] = f.a[u].array().tanh().matrix();
  }
  f.out = role_ == Role::generator ? from_canvas(f.h[static_cast<std::size_t>(L)], B)
                                   : Matrix(f.a[static_cast<std::size_t>(L - 1)].transpose());
}

void ConvNet::backward(const double* params, const Forward& f, const Matrix& d_out, double* grad, Matrix* dX) const {
  const Index L = static_cast<Index>(layers_.size()), B = d_out.cols();
  Matrix delta;  // d loss / d a_l
  if (role_ == Role::generator) {
    const Matrix& y = f.h[static_cast<std::size_t>(L)];
    delta = to_canvas(d_out, 0.0).cwiseProduct((1.0 - y.array().square()).matrix());
  } else {
    delta = d_out.transpose();
  }
  for (Index l = L - 1; l >= 0; --l) {
    const ConvLayer& g = layers_[static_cast<std::size_t>(l)];
    const Matrix& x = f.h[static_cast<std::size_t>(l)];
    if (grad) {
      weight_gradient(g, x, delta, B, grad);
      Eigen::Map<Vector>(grad + g.bias_offset, g.c_out) += delta.colwise().sum().transpose();
    }
    if (l > 0) {
      delta = input_adjoint(g, params, delta, B).cwiseProduct(act_d1(shape_.activation, f.a[static_cast<std::size_t>(l - 1)]));
    } else if (dX) {
      const Matrix dx = input_adjoint(g, params, delta, B);
      *dX = role_ == Role::generator ? Matrix(dx.transpose()) : from_canvas(dx, B);
    }
  }
}

void ConvNet::input_gradient(const double* params, const Forward& f, InputGradient& ig, Matrix& S) const {
  if (role_ != Role::critic || shape_.outputs != 1) throw std::logic_error("ConvNet::input_gradient: critic only");
  const Index L = static_cast<Index>(layers_.size()), B = f.out.cols();
  ig.e.assign(static_cast<std::size_t>(L), Matrix());
  ig.e[static_cast<std::size_t>(L - 1)] = Matrix::Ones(B, 1);
  for (Index l = L - 1; l >= 0; --l) {
    const Matrix q = input_adjoint(layers_[static_cast<std::size_t>(l)], params, ig.e[static_cast<std::size_t>(l)], B);
    if (l > 0)
      ig.e[static_cast<std::size_t>(l - 1)] = q.cwiseProduct(act_d1(shape_.activation, f.a[static_cast<std::size_t>(l - 1)]));
    else
      S = from_canvas(q, B);
  }
}

void ConvNet::input_gradient_backward(const double* params, const Forward& f, const InputGradient& ig,
                                      const Matrix& S_bar, double* grad, Matrix* dX) const {
  if (role_ != Role::critic) throw std::logic_error("ConvNet::input_gradient_backward: critic only");
  const Index L = static_cast<Index>(layers_.size()), B = S_bar.cols();
  // S = J_0^T D_0 J_1^T ... D_{L-2} J_{L-1}^T 1 with J_l the layers' linear maps and D_l the activation
  // masks, constant away from the kinks: reverse through this product, one weight gradient per layer.
  Matrix q_bar = to_canvas(S_bar, 0.0);  // d loss / d (d out / d h_l)
  for (Index l = 0; l < L; ++l) {
    const ConvLayer& g = layers_[static_cast<std::size_t>(l)];
    if (grad) weight_gradient(g, q_bar, ig.e[static_cast<std::size_t>(l)], B, grad);
    if (l + 1 < L)
      q_bar = layer_forward(g, params, q_bar, B).cwiseProduct(act_d1(shape_.activation, f.a[static_cast<std::size_t>(l)]));
  }
  if (dX) dX->setZero(inputs(), B);
}

void ConvNet::init_params(Rng& rng, double* params) const {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  const auto L = layers_.size();
  for (std::size_t l = 0; l < L; ++l) {
    const ConvLayer& g = layers_[l];
    // Kernel taps that reach one pixel: k^2 for a conv's output pixel, (k / stride)^2 for a conv-t's
    // (at most its input grid); the same counted from the other side for fan_out.
    const Index spread = std::min((g.k / g.stride) * (g.k / g.stride), g.small_side() * g.small_side());
    const double fan_in = static_cast<double>(g.c_in * (g.transposed ? spread : g.k * g.k));
    const double fan_out = static_cast<double>(g.c_out * (g.transposed ? g.k * g.k : spread));
    const double bound = l + 1 < L ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
    for (Index k = 0; k < g.bias_offset - g.weight_offset; ++k) params[g.weight_offset + k] = bound * unit(rng);
    for (Index k = 0; k < g.c_out; ++k) params[g.bias_offset + k] = 0.0;
  }
}

}  // namespace dposg::gan
