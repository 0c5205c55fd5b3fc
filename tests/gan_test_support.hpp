#pragma once
// Helpers shared by the GAN backend tests (test_gan_batched: the float host reference; test_gan_cuda:
// the GPU): building a GanProblem, worker points around its initialisation, the column error of a
// float operator against the double one, and a tiny labelled image set for the image path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>

#include "app/problem_catalog.hpp"
#include "core/rng.hpp"
#include "core/types.hpp"
#include "gan/classifier.hpp"
#include "gan/gan_data.hpp"
#include "gan/gan_problem.hpp"
#include "gan/mlp.hpp"

namespace dposg::test {

inline std::unique_ptr<gan::GanProblem> make_gan(const ProblemOptions& o) {
  auto p = make_problem(o);
  auto* g = dynamic_cast<gan::GanProblem*>(p.get());
  REQUIRE(g != nullptr);
  p.release();
  return std::unique_ptr<gan::GanProblem>(g);
}

// M workers at the problem's initialisation, each column perturbed differently (biases included), so
// that every worker's block of the batched products is distinct. For wgan-clip some critic weights
// leave the box [-0.05, 0.05].
inline Matrix worker_points(const gan::GanProblem& p, Index M, std::uint64_t seed) {
  Rng rng(seed);
  const Vector z0 = p.initial_point(rng);
  std::normal_distribution<double> n(0.0, 0.05);
  Matrix Z(p.dim(), M);
  for (Index i = 0; i < M; ++i)
    for (Index r = 0; r < p.dim(); ++r) Z(r, i) = z0[r] + n(rng);
  return Z;
}

// max_i ||G_i - R_i|| / ||R_i||: the relative error of every column against the double CPU column R_i.
inline double worst_column_error(const Matrix& G, const Matrix& R) {
  double worst = 0.0;
  for (Index i = 0; i < R.cols(); ++i) worst = std::max(worst, (G.col(i) - R.col(i)).norm() / R.col(i).norm());
  return worst;
}

// A small labelled image set (6 x 6 pixels in [-1, 1], 4 classes) and a random classifier: the image
// GAN's data path without Fashion-MNIST. D = 36 exercises every D x B buffer of the batched layout.
inline std::shared_ptr<const gan::GanData> tiny_images() {
  Rng rng(4);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  data::ImageSet train, test;
  for (auto* set : {&train, &test}) {
    set->height = set->width = 6;
    set->images.resize(36, 24);
    for (Index k = 0; k < 24; ++k) {
      for (Index r = 0; r < 36; ++r) set->images(r, k) = u(rng);
      set->labels.push_back(static_cast<int>(k % 4));
    }
  }
  gan::MlpShape shape;
  shape.inputs = 36;
  shape.width = 8;
  shape.depth = 1;
  shape.outputs = 4;
  const gan::Mlp<double> net(shape);
  Vector params(net.num_params());
  for (Index r = 0; r < params.size(); ++r) params[r] = 0.1 * u(rng);
  return std::make_shared<gan::ImageData>("tiny-images", train, test, gan::Classifier(shape, params, 1));
}

}  // namespace dposg::test
