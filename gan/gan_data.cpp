#include "gan/gan_data.hpp"

#include <limits>
#include <random>

#include "core/error.hpp"
#include "data/cifar.hpp"
#include "gan/frechet.hpp"
#include "gan/image_metrics.hpp"

namespace dposg::gan {

// ---------------------------------------------------------------------------------------------
// MixtureData

void MixtureData::sample(Rng& rng, Index shard, Index shards, Eigen::Ref<Matrix> out) const {
  mixture_.sample(rng, mixture_.shard_modes(shard, shards), out);
}

void MixtureData::quality_metrics(const Matrix& fake, Rng& rng, MetricsRow& row) const {
  constexpr Index kMmdSamples = 1000;
  const data::ModeCoverage c = data::mode_coverage(mixture_, fake);
  row.set("modes_covered", static_cast<double>(c.modes_covered));
  row.set("high_quality_fraction", c.high_quality_fraction);
  const Matrix real = mixture_.sample(rng, kMmdSamples);
  row.set("mmd", fake.allFinite() ? data::mmd2_unbiased(fake.leftCols(kMmdSamples), real, mmd_bandwidth())
                                  : std::numeric_limits<double>::quiet_NaN());
}

void MixtureData::describe(InstanceWriter& out) const {
  out.text("mixture", mixture_.name());
  out.matrix("means", mixture_.means());
  out.scalar("stddev", mixture_.stddev());
  out.scalar("mmd_bandwidth", mmd_bandwidth());
  out.scalar("high_quality_radius_std", 3.0);
}

std::string MixtureData::describe_text() const {
  return "the 2-D Gaussian mixture " + mixture_.name() + " (" + std::to_string(mixture_.modes()) +
         " modes, per-coordinate std " + exact_text(mixture_.stddev()) +
         ", means in 'means', 2 x K; a sample: its mode uniform, then 2 normals). Metrics: modes_covered, "
         "high_quality_fraction (within 3 std of the nearest mode) over 2500 generator samples; mmd = unbiased "
         "squared MMD, Gaussian kernel of bandwidth mmd_bandwidth, 1000 generator vs 1000 data samples.";
}

// ---------------------------------------------------------------------------------------------
// ImageData

ImageData::ImageData(std::string name, data::ImageSet train, data::ImageSet test, Classifier classifier)
    : name_(std::move(name)), train_(std::move(train)), test_(std::move(test)), classifier_(std::move(classifier)) {
  if (train_.labels.size() != static_cast<std::size_t>(train_.count()) || train_.count() == 0)
    throw InputError(name_ + ": the training images need labels");
  if (classifier_.shape().inputs != train_.images.rows())
    throw InputError(name_ + ": the classifier takes " + std::to_string(classifier_.shape().inputs) +
                     " pixels, the images have " + std::to_string(train_.images.rows()));
  int classes = 0;
  for (int l : train_.labels) classes = std::max(classes, l + 1);
  by_class_.resize(static_cast<std::size_t>(classes));
  for (Index k = 0; k < train_.count(); ++k) by_class_[static_cast<std::size_t>(train_.labels[static_cast<std::size_t>(k)])].push_back(k);
  for (const auto& c : by_class_)
    if (c.empty()) throw InputError(name_ + ": a class without training images");
  const Index n = std::min(metric_samples(), test_.count());
  test_features_ = classifier_.features(test_.images.leftCols(n));
}

void ImageData::sample(Rng& rng, Index shard, Index shards, Eigen::Ref<Matrix> out) const {
  std::vector<Index> classes;
  for (Index k = shard; k < static_cast<Index>(by_class_.size()); k += shards) classes.push_back(k);
  std::uniform_int_distribution<std::size_t> pick_class(0, classes.size() - 1);
  for (Index j = 0; j < out.cols(); ++j) {
    const auto& members = by_class_[static_cast<std::size_t>(classes[pick_class(rng)])];
    std::uniform_int_distribution<std::size_t> pick(0, members.size() - 1);
    out.col(j) = train_.images.col(members[pick(rng)]);
  }
}

void ImageData::quality_metrics(const Matrix& fake, Rng& rng, MetricsRow& row) const {
  (void)rng;
  if (!fake.allFinite()) {
    row.set("fd_classifier", std::numeric_limits<double>::quiet_NaN());
    if (classifier_.is_conv()) {
      row.set("kid_classifier", std::numeric_limits<double>::quiet_NaN());
      row.set("is_classifier", std::numeric_limits<double>::quiet_NaN());
    }
    row.set("classes_covered", 0.0);
    return;
  }
  const Matrix features = classifier_.features(fake);
  row.set("fd_classifier", frechet_distance(features, test_features_));
  if (classifier_.is_conv()) {
    row.set("kid_classifier", kernel_distance(features, test_features_));
    row.set("is_classifier", inception_score(classifier_.probabilities(fake)));
  }
  std::vector<Index> counts(by_class_.size(), 0);
  for (int p : classifier_.predict(fake)) counts[static_cast<std::size_t>(p)]++;
  Index covered = 0;
  for (Index c : counts) covered += 100 * c >= fake.cols();
  row.set("classes_covered", static_cast<double>(covered));
}

std::vector<std::string> ImageData::worker_metric_names() const {
  if (!classifier_.is_conv()) return {};
  return {"is_classifier"};
}

Vector ImageData::worker_scores(const Matrix& fake) const {
  if (!fake.allFinite()) return Vector::Constant(1, std::numeric_limits<double>::quiet_NaN());
  return Vector::Constant(1, inception_score(classifier_.probabilities(fake)));
}

void ImageData::describe(InstanceWriter& out) const {
  out.text("dataset", name_);
  out.scalar("image_height", static_cast<double>(train_.height));
  out.scalar("image_width", static_cast<double>(train_.width));
  if (train_.channels != 1) out.scalar("image_channels", static_cast<double>(train_.channels));
  out.scalar("train_images", static_cast<double>(train_.count()));
  out.scalar("classifier_test_accuracy", classifier_.test_accuracy);
  out.scalar("classifier_width", static_cast<double>(classifier_.shape().width));
  out.scalar("classifier_depth", static_cast<double>(classifier_.shape().depth));
  if (classifier_.is_conv()) {
    out.text("classifier_arch", "conv");
    out.scalar("classifier_conv_width", static_cast<double>(classifier_.conv().shape().width));
  }
}

std::string ImageData::describe_text() const {
  return name_ + " images (" + std::to_string(train_.height) + " x " + std::to_string(train_.width) +
         " pixels in [-1, 1], row-major; a sample: its class uniform over the shard's classes, then a training "
         "image of that class uniform). Metrics over 2000 generator images vs 2000 test images: fd_classifier = "
         "Frechet distance in the last hidden layer of the project's classifier (NOT FID; test accuracy in "
         "classifier_test_accuracy); classes_covered = classes the classifier assigns to >= 1% of the generator "
         "images.";
}

std::shared_ptr<const GanData> fashion_mnist_data(int downscale, const std::string& classifier_path, bool conv) {
  if (downscale != 1 && downscale != 2 && downscale != 4 && downscale != 7)
    throw InputError("--gan-downscale: must divide 28 (1, 2, 4 or 7), got " + std::to_string(downscale));
  auto train = data::load_fashion_mnist("train", downscale);
  auto test = data::load_fashion_mnist("test", downscale);
  Classifier c = conv ? cached_classifier("fashion-conv-classifier-" + std::to_string(28 / downscale) + "px.h5", train,
                                          test, classifier_path, true)
                      : fashion_classifier(downscale, classifier_path);
  return std::make_shared<ImageData>("fashion-mnist", std::move(train), std::move(test), std::move(c));
}

std::shared_ptr<const GanData> cifar10_data(const std::string& dir, const std::string& classifier_path, bool conv) {
  auto train = data::load_cifar10(dir, "train");
  auto test = data::load_cifar10(dir, "test");
  Classifier c = cached_classifier(conv ? "cifar10-conv-classifier-32px.h5" : "cifar10-classifier-32px.h5", train, test,
                                   classifier_path, conv);
  return std::make_shared<ImageData>("cifar-10", std::move(train), std::move(test), std::move(c));
}

}  // namespace dposg::gan
