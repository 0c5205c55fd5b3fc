#pragma once
// The DCGAN-style networks of --gan-arch dcgan (gan/README.md "Convolutional GANs"), in double, with
// hand-written forward, backward and double-backward passes. Every layer is a convolution (conv) or a
// transposed convolution (conv-t) lowered to one matrix product over the whole batch (im2col/col2im),
// so that Eigen's GEMM does the work; the interface is Mlp's (gan/mlp.hpp), so that GanProblem runs
// both architectures through the same loss code.
//
// Image side S = the canvas, a power of two >= 8, n = log2(S / 4) resolution steps; base width w.
//   generator: latent (nz x 1 x 1) -conv-t k4 s1 p0-> w 2^(n-1) x 4 x 4 -> act
//              then n conv-t k4 s2 p1, each doubling the side and halving the channels, the last to
//              the image's C channels at S x S, tanh.
//   critic:    C x S x S -conv k4 s2 p1-> w x S/2 -> act -> ... (n convs, channels doubling)
//              -> w 2^(n-1) x 4 x 4 -conv k4 s1 p0-> 1 (the linear output; no normalisation: WGAN-GP
//              penalises each sample's input gradient, which batch norm would couple).
// act: relu or leaky-relu (slope 0.2); piecewise linear, so the critic's input gradient is piecewise
// constant in its input and in the biases — what makes the exact WGAN-GP double backward short.
//
// A data image of side H < S (Fashion-MNIST's 28 in a 32 canvas) sits at offset (S - H) / 2 in both
// directions: the generator's output is the canvas cropped to that window, the critic's input is the
// image placed in a canvas filled with -1 (the background of images in [-1, 1]).
//
// Layouts. A sample (an image, or the latent vector) is a column of features, channel-major then
// row-major (pixel (c, y, x) at c H W + y W + x): the data's layout. Inside, a layer's activation for
// a batch of B is a (P B) x C matrix, P = side^2, rows p + b P (column-major: memory [C][B][P]), so
// that a convolution for the whole batch is one product cols (P_out B x C_in k^2) * W (C_in k^2 x C_out).
// Parameters per layer, weights then biases (C_out): conv weights as PyTorch's Conv2d
// [C_out][C_in][k][k] row-major, i.e. a column-major (C_in k^2) x C_out matrix; conv-t weights as
// PyTorch's ConvTranspose2d [C_in][C_out][k][k], a column-major (C_out k^2) x C_in matrix.
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"
#include "gan/mlp.hpp"

namespace dposg::gan {

struct ConvGanShape {
  Index side = 32;      // S, the canvas (power of two >= 8)
  Index image_side = 32;  // H <= S, the data image's side
  Index channels = 1;   // C
  Index width = 64;     // w, base channels
  Index latent = 128;   // nz
  Activation activation = Activation::leaky_relu;  // relu | leaky_relu
  // Critic only. outputs = 1: the critic's scalar. A classifier (gan/classifier.hpp) has outputs =
  // classes and hidden > 0: the 4 x 4 conv then maps to `hidden` channels (act; the feature layer of
  // the image metrics) and a 1 x 1 conv to the outputs (logits).
  Index outputs = 1;
  Index hidden = 0;
};

// The smallest power-of-two canvas (>= 8) that holds an image of side h.
Index canvas_side(Index h);

// One convolution's geometry: a "big" grid (side big, channels c_big) and a "small" one (side small),
// small = (big + 2 pad - k) / stride + 1. A conv maps big -> small; a conv-t maps small -> big.
struct ConvLayer {
  bool transposed = false;
  Index c_in = 0, c_out = 0;
  Index in_side = 0, out_side = 0;
  Index k = 4, stride = 2, pad = 1;
  Index weight_offset = 0, bias_offset = 0, params = 0;
  Index big_side() const { return transposed ? out_side : in_side; }
  Index small_side() const { return transposed ? in_side : out_side; }
  Index big_channels() const { return transposed ? c_out : c_in; }
};

// im2col: for each small-grid pixel (rows p + b P_small) the k x k patch of the big grid it sees, all
// channels (columns c k^2 + ky k + kx); zero outside the grid. big is (P_big B) x C.
Matrix im2col(const ConvLayer& g, const Matrix& big, Index batch);
// col2im, its adjoint: adds every patch entry back to the big-grid pixel it came from.
Matrix col2im(const ConvLayer& g, const Matrix& cols, Index batch);

class ConvNet {
 public:
  enum class Role { generator, critic };
  using Mat = Matrix;

  struct Forward {
    std::vector<Matrix> h;  // h[l]: layer l's input, (P B) x C (h[0]: the canvas / the latent)
    std::vector<Matrix> a;  // a[l]: layer l's pre-activation
    Matrix out;             // generator: image features x B; critic: outputs x B
  };
  struct InputGradient {
    std::vector<Matrix> e;  // e[l] = d out / d a_l (l = 0..L-1), (P B) x C
  };

  ConvNet(const ConvGanShape& shape, Role role);

  const ConvGanShape& shape() const { return shape_; }
  Role role() const { return role_; }
  const std::vector<ConvLayer>& layers() const { return layers_; }
  Index num_params() const { return params_; }
  Index inputs() const;   // features of one input sample
  Index outputs() const;  // features of one output sample

  void forward(const double* params, const Matrix& X, Forward& f) const;
  // As Mlp::backward: adds d loss / d params to grad (if not null), writes d loss / d X to dX (if not null).
  void backward(const double* params, const Forward& f, const Matrix& d_out, double* grad, Matrix* dX) const;
  // Critic with one output only: S = d out / d X, one column per sample (the data's features).
  void input_gradient(const double* params, const Forward& f, InputGradient& ig, Matrix& S) const;
  // Critic only: for S_bar = d loss / d S, adds d loss / d params to grad; dX = 0 (piecewise-linear
  // activations: S does not change with X or the biases away from the kinks).
  void input_gradient_backward(const double* params, const Forward& f, const InputGradient& ig, const Matrix& S_bar,
                               double* grad, Matrix* dX) const;
  // He-uniform U(+-sqrt(6 / fan_in)) for hidden layers, Xavier-uniform U(+-sqrt(6 / (fan_in + fan_out)))
  // for the output layer, zero biases; fan_in = C_in times the kernel taps that reach one output pixel.
  void init_params(Rng& rng, double* params) const;

 private:
  ConvGanShape shape_;
  Role role_;
  std::vector<ConvLayer> layers_;
  Index params_ = 0;

  Matrix layer_forward(const ConvLayer& g, const double* params, const Matrix& x, Index batch) const;
  // Adds the weight gradient of layer g for input x and output adjoint delta.
  void weight_gradient(const ConvLayer& g, const Matrix& x, const Matrix& delta, Index batch, double* grad) const;
  // d loss / d x for output adjoint delta (the layer's linear map transposed).
  Matrix input_adjoint(const ConvLayer& g, const double* params, const Matrix& delta, Index batch) const;
  Matrix to_canvas(const Matrix& X, double fill) const;    // critic input features x B -> (S^2 B) x C
  Matrix from_canvas(const Matrix& canvas, Index batch) const;  // (S^2 B) x C -> cropped features x B
};

}  // namespace dposg::gan
