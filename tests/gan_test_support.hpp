#pragma once
// Helpers shared by the GAN backend tests (test_gan_batched: the float host reference; test_gan_cuda:
// the GPU): building a GanProblem, worker points around its initialisation, the column and block
// errors of a float operator against a reference, and a tiny labelled image set for the image path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

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

// ||g - r|| / ||r|| (the absolute error where r = 0, so that two zero blocks agree); NaN when g or r
// holds one.
template <class A, class B>
double relative_error(const A& g, const B& r) {
  const double diff = (g - r).norm(), norm = r.norm();
  return norm > 0.0 ? diff / norm : diff;
}

// The larger of two errors, NaN if either is: std::max(worst, NaN) keeps `worst`, so a NaN column
// would vanish from the maximum and a test comparing it with a tolerance would pass.
inline double worse(double a, double b) { return std::isnan(a) || std::isnan(b) ? std::nan("") : std::max(a, b); }

// max_i ||G_i - R_i|| / ||R_i||: the relative error of every column against the double CPU column R_i.
inline double worst_column_error(const Matrix& G, const Matrix& R) {
  double worst = 0.0;
  for (Index i = 0; i < R.cols(); ++i) worst = worse(worst, relative_error(G.col(i), R.col(i)));
  return worst;
}

// The worst relative error of the generator block u (rows [0, dim_u)) and of the discriminator block v
// over all columns, each against its own norm: over a whole column, a wrong generator block could hide
// under a discriminator block a thousand times larger.
struct BlockErrors {
  double u = 0.0, v = 0.0;
  double worst() const { return worse(u, v); }
};

inline BlockErrors worst_block_error(const Matrix& G, const Matrix& R, Index dim_u) {
  BlockErrors e;
  const Index dim_v = R.rows() - dim_u;
  for (Index i = 0; i < R.cols(); ++i) {
    e.u = worse(e.u, relative_error(G.col(i).head(dim_u), R.col(i).head(dim_u)));
    e.v = worse(e.v, relative_error(G.col(i).tail(dim_v), R.col(i).tail(dim_v)));
  }
  return e;
}

// A labelled image set: `count` images of side H with `channels` planes, pixels uniform in [-1, 1],
// labels k mod 4, and a random MLP classifier of the given width: ImageData without files.
inline std::shared_ptr<const gan::GanData> image_set(const std::string& name, Index H, Index channels, Index count,
                                                     Index classifier_width) {
  Rng rng(4);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  data::ImageSet train, test;
  for (auto* set : {&train, &test}) {
    set->height = set->width = H;
    set->channels = channels;
    set->images.resize(channels * H * H, count);
    for (Index k = 0; k < count; ++k) {
      for (Index r = 0; r < set->images.rows(); ++r) set->images(r, k) = u(rng);
      set->labels.push_back(static_cast<int>(k % 4));
    }
  }
  gan::MlpShape shape;
  shape.inputs = channels * H * H;
  shape.width = classifier_width;
  shape.depth = 1;
  shape.outputs = 4;
  const gan::Mlp<double> net(shape);
  Vector params(net.num_params());
  for (Index r = 0; r < params.size(); ++r) params[r] = 0.1 * u(rng);
  return std::make_shared<gan::ImageData>(name, train, test, gan::Classifier(shape, params, 1));
}

// 6 x 6 pixels, 4 classes, 24 images: the image GAN's data path without Fashion-MNIST. D = 36
// exercises every D x B buffer of the batched layout.
inline std::shared_ptr<const gan::GanData> tiny_images() { return image_set("tiny-images", 6, 1, 24, 8); }

// 12 square images of side H with `channels` planes, for the dcgan networks.
inline std::shared_ptr<const gan::GanData> labelled_images(Index H, Index channels) {
  return image_set("tiny", H, channels, 12, 4);
}

// The tiny dcgan networks of the float and GPU comparisons (test_gan_dcgan_float.cpp, test_gan_cuda.cpp):
// 6 x 6 x 2 images on an 8 x 8 canvas (the -1 border and the crop), leaky-relu, width 2; and 16 x 16 x 1
// filling its canvas (one more resolution step), relu, width 4.
struct TinyDcgan {
  Index side, channels, width;
  const char* act;
};
inline constexpr TinyDcgan kTinyDcgans[] = {{6, 2, 2, "leaky-relu"}, {16, 1, 4, "relu"}};

inline gan::GanOptions tiny_dcgan_options(const std::string& loss, const TinyDcgan& t, const std::string& device) {
  gan::GanOptions o;
  o.gan_arch = "dcgan";
  o.gan_loss = loss;
  o.gan_width = t.width;
  o.gan_latent = 3;
  o.gan_activation = t.act;
  o.gan_clip = 0.3;
  o.gan_gp_lambda = 10.0;
  o.device = device;
  return o;
}

}  // namespace dposg::test
