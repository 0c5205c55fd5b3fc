#pragma once
// The small image classifier whose last hidden layer is the feature space of the Fréchet distance
// reported for image GANs (gan/frechet.hpp; not FID). An MLP (gan/mlp.hpp: inputs = pixels,
// `depth` hidden ReLU layers of `width`, 10 logits) trained once with softmax cross-entropy and
// Adam on the training split of the same data, then frozen and stored in an HDF5 file so that every
// run of a study scores its samples with the same network.
#include <string>
#include <vector>

#include "core/types.hpp"
#include "data/idx.hpp"
#include <memory>

#include "gan/conv_net.hpp"
#include "gan/mlp.hpp"

namespace dposg::gan {

struct ClassifierOptions {
  Index width = 128;
  Index depth = 2;
  int epochs = 4;
  Index batch = 128;
  double lr = 1e-3;  // Adam, beta1 0.9, beta2 0.999, eps 1e-8
  std::uint64_t seed = 1;
  Index conv_width = 16;
  int conv_epochs = 2;
};

class Classifier {
 public:
  Classifier(const MlpShape& shape, Vector params, int downscale);
  // A convolutional classifier (gan/conv_net.hpp, a critic with shape.hidden features and
  // shape.outputs logits): the feature extractor of --gan-arch dcgan runs.
  Classifier(const ConvGanShape& shape, Vector params);

  bool is_conv() const { return conv_ != nullptr; }
  const ConvNet& conv() const { return *conv_; }  // is_conv() only
  // The MLP's shape; for a conv classifier inputs = pixels, width = its features, depth = 0.
  const MlpShape& shape() const { return shape_; }
  int downscale() const { return downscale_; }
  const Vector& params() const { return params_; }
  double test_accuracy = 0.0;  // on the test split, measured after training

  // Last hidden layer (width x n) for images (pixels x n, in [-1, 1]).
  Matrix features(const Matrix& images) const;
  std::vector<int> predict(const Matrix& images) const;
  // Class probabilities p(y | x) (softmax of the logits), classes x n.
  Matrix probabilities(const Matrix& images) const;
  double accuracy(const data::ImageSet& set) const;

  void save(const std::string& path) const;       // HDF5: dataset params, attributes shape/downscale/accuracy
  static Classifier load(const std::string& path);  // InputError if missing or not a classifier file

 private:
  MlpShape shape_;
  std::shared_ptr<const Mlp<double>> net_;
  std::shared_ptr<const ConvNet> conv_;
  Vector params_;
  int downscale_;
  Matrix logits(const Matrix& images, Matrix* features) const;
};

// Trains on `train` (Adam on softmax cross-entropy, minibatches drawn by a shuffled pass per epoch)
// and measures test_accuracy on `test`.
Classifier train_classifier(const data::ImageSet& train, const data::ImageSet& test, const ClassifierOptions& o);
// The same for the conv classifier: critic convolutions of base width `conv_width` (2 epochs by
// default: conv_epochs), then o.width features.
Classifier train_conv_classifier(const data::ImageSet& train, const data::ImageSet& test, const ClassifierOptions& o);

// The Fashion-MNIST classifier for images downscaled by `downscale`: loaded from `path` when it
// exists, otherwise trained with default options and saved there. Default path:
// $DPOSG_CACHE_DIR, else $XDG_CACHE_HOME/dposg, else $HOME/.cache/dposg, file
// fashion-classifier-<28/downscale>px.h5.
std::string default_classifier_path(int downscale);
Classifier fashion_classifier(int downscale, const std::string& path = "");

// The same for any labelled image set: the file `path`, or `cache_name` in the cache folder above
// when path is "", loaded when it exists (its input count must be the images'), otherwise trained on
// train / test with default options and saved there (gan-cifar10: cifar10-classifier-32px.h5).
Classifier cached_classifier(const std::string& cache_name, const data::ImageSet& train, const data::ImageSet& test,
                             const std::string& path = "", bool conv = false);

}  // namespace dposg::gan
