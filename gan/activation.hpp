#pragma once
// The networks' activations and their derivatives, elementwise on Eigen matrices (mlp.hpp's
// Activation): one definition for the MLP and the convolutional networks.
#include "gan/mlp.hpp"

namespace dposg::gan {

template <class Mat>
Mat act(Activation kind, const Mat& a) {
  using S = typename Mat::Scalar;
  switch (kind) {
    case Activation::relu: return a.cwiseMax(S(0));
    case Activation::leaky_relu: return (a.array() > S(0)).select(a, S(kLeakySlope) * a);
    case Activation::tanh: return a.array().tanh().matrix();
  }
  return a;
}

// act'(a), elementwise.
template <class Mat>
Mat act_d1(Activation kind, const Mat& a) {
  using S = typename Mat::Scalar;
  switch (kind) {
    case Activation::relu: return (a.array() > S(0)).template cast<S>().matrix();
    case Activation::leaky_relu: return (a.array() > S(0)).select(Mat::Ones(a.rows(), a.cols()), Mat::Constant(a.rows(), a.cols(), S(kLeakySlope)));
    case Activation::tanh: {
      const auto t = a.array().tanh();
      return (S(1) - t * t).matrix();
    }
  }
  return a;
}

// act''(a), elementwise (zero for the piecewise-linear activations).
template <class Mat>
Mat act_d2(Activation kind, const Mat& a) {
  using S = typename Mat::Scalar;
  if (kind != Activation::tanh) return Mat::Zero(a.rows(), a.cols());
  const auto t = a.array().tanh();
  return (S(-2) * t * (S(1) - t * t)).matrix();
}


}  // namespace dposg::gan
