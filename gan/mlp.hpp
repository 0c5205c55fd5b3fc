#pragma once
// A multilayer perceptron with hand-written forward, backward and double-backward passes, batched
// over samples as matrix products (a batch is a features x batch matrix, one sample per column).
//
// Layers l = 1..L, L = depth + 1, widths n_0 = inputs, n_1 = ... = n_depth = width, n_L = outputs:
//   h_0 = X,   a_l = W_l h_{l-1} + b_l,   h_l = act(a_l)  (l < L),   out = a_L  (the last layer is linear).
// Parameter layout (a flat vector of num_params() scalars): for l = 1..L in order, W_l (n_l x n_{l-1},
// column-major, i.e. W_l(r, c) at offset weight_offset(l) + c * n_l + r), then b_l (n_l).
//
// Activations: relu max(a, 0); leaky-relu a > 0 ? a : 0.2 a; tanh. The derivative at a = 0 is taken as
// that of the a < 0 side (relu'(0) = 0, leaky'(0) = 0.2).
//
// Scalar is double (synthetic tests, the CPU problems) or float (explicitly instantiated for a float
// backend; everything is written for either).
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg::gan {

enum class Activation { relu, leaky_relu, tanh };
inline constexpr double kLeakySlope = 0.2;

// "relu" | "leaky-relu" | "tanh"; throws InputError naming --gan-activation otherwise.
Activation parse_activation(const std::string& name);
std::string to_string(Activation a);

struct MlpShape {
  Index inputs = 2;
  Index width = 128;
  Index depth = 2;  // hidden layers (>= 1)
  Index outputs = 1;
  Activation activation = Activation::relu;
};

template <class Scalar>
class Mlp {
 public:
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  // Intermediates of one forward pass: h[l] (l = 0..L-1) the input of layer l+1 (h[0] = X),
  // a[l] (l = 1..L-1) the hidden pre-activations, out = a_L.
  struct Forward {
    std::vector<Mat> h, a;
    Mat out;
  };
  // Intermediates of the input-gradient pass (outputs == 1): e[l] = d out / d a_l (l = 1..L, e[L] = 1),
  // q[l] = d out / d h_l (l = 0..L-1); q[0] is d out / d X.
  struct InputGradient {
    std::vector<Mat> e, q;
  };

  explicit Mlp(const MlpShape& shape);

  const MlpShape& shape() const { return shape_; }
  Index layers() const { return static_cast<Index>(sizes_.size()) - 1; }  // L
  Index units(Index l) const { return sizes_[static_cast<std::size_t>(l)]; }  // n_l, l = 0..L
  Index weight_offset(Index l) const { return offsets_[static_cast<std::size_t>(l)]; }  // l = 1..L
  Index bias_offset(Index l) const { return weight_offset(l) + units(l) * units(l - 1); }
  Index num_params() const { return offsets_.back(); }

  // out = net(X); keeps the intermediates in f for the backward passes.
  void forward(const Scalar* params, const Mat& X, Forward& f) const;

  // Reverse pass for d(loss)/d(out) = d_out (outputs x batch): adds d loss / d params to grad (when
  // not null) and writes d loss / d X to dX (when not null).
  void backward(const Scalar* params, const Forward& f, const Mat& d_out, Scalar* grad, Mat* dX) const;

  // S = d out / d X for every column (outputs == 1): column j is the gradient of the scalar output at
  // sample j with respect to that sample's input.
  void input_gradient(const Scalar* params, const Forward& f, InputGradient& ig, Mat& S) const;

  // Double backward: given S_bar = d loss / d S (inputs x batch) for S of input_gradient, adds
  // d loss / d params to grad (when not null) and writes d loss / d X to dX (when not null), through
  // both S's direct dependence on the weights and its dependence on the pre-activations (act'').
  void input_gradient_backward(const Scalar* params, const Forward& f, const InputGradient& ig, const Mat& S_bar,
                               Scalar* grad, Mat* dX) const;

  // Standard initialisation into params: hidden layers with relu / leaky-relu get He-uniform weights
  // U(-sqrt(6 / n_{l-1}), +sqrt(6 / n_{l-1})); tanh hidden layers and the linear output layer get
  // Xavier-uniform U(-sqrt(6 / (n_{l-1} + n_l)), +...). Biases are zero. Weights are drawn layer by
  // layer, column-major (the parameter order), from std::uniform_real_distribution<double>(-1, 1)
  // scaled by the bound.
  void init_params(Rng& rng, Scalar* params) const;

 private:
  MlpShape shape_;
  std::vector<Index> sizes_;    // n_0..n_L
  std::vector<Index> offsets_;  // offsets_[l] = start of layer l's parameters (l = 1..L), offsets_[L+1] = total
};

extern template class Mlp<double>;
extern template class Mlp<float>;

}  // namespace dposg::gan
