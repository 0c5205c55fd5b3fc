#include "gan/mlp.hpp"

#include <cmath>
#include <random>
#include <stdexcept>

#include "core/error.hpp"
#include "gan/activation.hpp"

namespace dposg::gan {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "leaky-relu") return Activation::leaky_relu;
  if (name == "tanh") return Activation::tanh;
  throw InputError("--gan-activation: expected 'relu', 'leaky-relu' or 'tanh', got '" + name + "'");
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky-relu";
    case Activation::tanh: return "tanh";
  }
  return "relu";
}

template <class Scalar>
Mlp<Scalar>::Mlp(const MlpShape& shape) : shape_(shape) {
  if (shape.inputs < 1 || shape.outputs < 1 || shape.width < 1 || shape.depth < 1)
    throw std::invalid_argument("Mlp: inputs, outputs, width and depth must be >= 1");
  sizes_.push_back(shape.inputs);
  for (Index l = 0; l < shape.depth; ++l) sizes_.push_back(shape.width);
  sizes_.push_back(shape.outputs);
  offsets_.assign(sizes_.size() + 1, 0);
  for (Index l = 1; l <= layers(); ++l)
    offsets_[static_cast<std::size_t>(l + 1)] = offsets_[static_cast<std::size_t>(l)] + units(l) * units(l - 1) + units(l);
}

template <class Scalar>
void Mlp<Scalar>::forward(const Scalar* params, const Mat& X, Forward& f) const {
  if (X.rows() != units(0)) throw std::invalid_argument("Mlp::forward: X has the wrong number of rows");
  const Index L = layers();
  f.h.resize(static_cast<std::size_t>(L));
  f.a.resize(static_cast<std::size_t>(L));
  f.h[0] = X;
  for (Index l = 1; l <= L; ++l) {
    const Eigen::Map<const Mat> W(params + weight_offset(l), units(l), units(l - 1));
    const Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> b(params + bias_offset(l), units(l));
    Mat a(units(l), X.cols());
    a.noalias() = W * f.h[static_cast<std::size_t>(l - 1)];
    a.colwise() += b;
    if (l < L) {
      f.h[static_cast<std::size_t>(l)] = act(shape_.activation, a);
      f.a[static_cast<std::size_t>(l)] = std::move(a);
    } else {
      f.out = std::move(a);
    }
  }
}

template <class Scalar>
void Mlp<Scalar>::backward(const Scalar* params, const Forward& f, const Mat& d_out, Scalar* grad, Mat* dX) const {
  const Index L = layers();
  Mat delta = d_out;  // d loss / d a_l, starting at l = L
  for (Index l = L; l >= 1; --l) {
    const Eigen::Map<const Mat> W(params + weight_offset(l), units(l), units(l - 1));
    const Mat& h_prev = f.h[static_cast<std::size_t>(l - 1)];
    if (grad) {
      Eigen::Map<Mat> gW(grad + weight_offset(l), units(l), units(l - 1));
      Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> gb(grad + bias_offset(l), units(l));
      gW.noalias() += delta * h_prev.transpose();
      gb += delta.rowwise().sum();
    }
    if (l > 1) {
      Mat up(units(l - 1), delta.cols());
      up.noalias() = W.transpose() * delta;
      delta = up.cwiseProduct(act_d1(shape_.activation, f.a[static_cast<std::size_t>(l - 1)]));
    } else if (dX) {
      dX->noalias() = W.transpose() * delta;
    }
  }
}

template <class Scalar>
void Mlp<Scalar>::input_gradient(const Scalar* params, const Forward& f, InputGradient& ig, Mat& S) const {
  if (units(layers()) != 1) throw std::invalid_argument("Mlp::input_gradient: needs a scalar output");
  const Index L = layers();
  const Index B = f.h[0].cols();
  ig.e.resize(static_cast<std::size_t>(L + 1));
  ig.q.resize(static_cast<std::size_t>(L));
  ig.e[static_cast<std::size_t>(L)] = Mat::Ones(1, B);
  for (Index l = L; l >= 1; --l) {
    const Eigen::Map<const Mat> W(params + weight_offset(l), units(l), units(l - 1));
    Mat& q = ig.q[static_cast<std::size_t>(l - 1)];
    q.resize(units(l - 1), B);
    q.noalias() = W.transpose() * ig.e[static_cast<std::size_t>(l)];
    if (l - 1 >= 1)
      ig.e[static_cast<std::size_t>(l - 1)] = q.cwiseProduct(act_d1(shape_.activation, f.a[static_cast<std::size_t>(l - 1)]));
  }
  S = ig.q[0];
}

template <class Scalar>
void Mlp<Scalar>::input_gradient_backward(const Scalar* params, const Forward& f, const InputGradient& ig,
                                          const Mat& S_bar, Scalar* grad, Mat* dX) const {
  const Index L = layers();
  const Index B = S_bar.cols();
  const bool curved = shape_.activation == Activation::tanh;  // act'' != 0
  // Reverse through the input-gradient pass, from q_0 up to e_L (which is the constant 1).
  std::vector<Mat> a_bar(static_cast<std::size_t>(L));  // adjoints reaching a_l through act'(a_l), l = 1..L-1
  Mat q_bar = S_bar;  // d loss / d q_{l-1}
  for (Index l = 1; l <= L; ++l) {
    const Eigen::Map<const Mat> W(params + weight_offset(l), units(l), units(l - 1));
    const Mat& e = ig.e[static_cast<std::size_t>(l)];
    // q_{l-1} = W_l^T e_l.
    if (grad) {
      Eigen::Map<Mat> gW(grad + weight_offset(l), units(l), units(l - 1));
      gW.noalias() += e * q_bar.transpose();
    }
    if (l == L) break;
    Mat e_bar(units(l), B);
    e_bar.noalias() = W * q_bar;
    // e_l = q_l * act'(a_l).
    const Mat& a = f.a[static_cast<std::size_t>(l)];
    if (curved)
      a_bar[static_cast<std::size_t>(l)] =
          e_bar.cwiseProduct(ig.q[static_cast<std::size_t>(l)]).cwiseProduct(act_d2(shape_.activation, a));
    q_bar = e_bar.cwiseProduct(act_d1(shape_.activation, a));
  }
  if (!curved) {
    // act'' = 0: the input gradient is piecewise constant in X and does not depend on the biases.
    if (dX) dX->setZero(units(0), B);
    return;
  }
  // Reverse through the forward pass with the adjoints a_bar injected at every hidden layer.
  Mat r = a_bar[static_cast<std::size_t>(L - 1)];  // d loss / d a_l, l = L-1 (nothing reaches a_L)
  for (Index l = L - 1; l >= 1; --l) {
    const Eigen::Map<const Mat> W(params + weight_offset(l), units(l), units(l - 1));
    if (grad) {
      Eigen::Map<Mat> gW(grad + weight_offset(l), units(l), units(l - 1));
      Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> gb(grad + bias_offset(l), units(l));
      gW.noalias() += r * f.h[static_cast<std::size_t>(l - 1)].transpose();
      gb += r.rowwise().sum();
    }
    Mat h_bar(units(l - 1), B);
    h_bar.noalias() = W.transpose() * r;
    if (l > 1)
      r = a_bar[static_cast<std::size_t>(l - 1)] + h_bar.cwiseProduct(act_d1(shape_.activation, f.a[static_cast<std::size_t>(l - 1)]));
    else if (dX)
      *dX = std::move(h_bar);
  }
}

template <class Scalar>
void Mlp<Scalar>::init_params(Rng& rng, Scalar* params) const {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  const Index L = layers();
  for (Index l = 1; l <= L; ++l) {
    const double fan_in = static_cast<double>(units(l - 1)), fan_out = static_cast<double>(units(l));
    const bool he = l < L && shape_.activation != Activation::tanh;
    const double bound = he ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
    Scalar* w = params + weight_offset(l);
    for (Index k = 0; k < units(l) * units(l - 1); ++k) w[k] = static_cast<Scalar>(bound * unit(rng));
    Scalar* b = params + bias_offset(l);
    for (Index k = 0; k < units(l); ++k) b[k] = Scalar(0);
  }
}

template class Mlp<double>;
template class Mlp<float>;

}  // namespace dposg::gan
