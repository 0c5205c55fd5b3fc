#pragma once
// What a GAN learns to generate: the real-data side of gan/gan_problem.hpp. A GanData draws real
// samples (per worker, optionally from its own shard), scores generator samples, and describes
// itself in the run's problem/ group. Two kinds:
//   MixtureData  2-D Gaussian mixtures (gan-mog8, gan-mog25): modes_covered, high_quality_fraction, mmd
//   ImageData    an image set (gan-fashion: Fashion-MNIST): fd_classifier, classes_covered
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/problem.hpp"
#include "core/rng.hpp"
#include "core/types.hpp"
#include "data/idx.hpp"
#include "data/mixture.hpp"
#include "gan/classifier.hpp"

namespace dposg::gan {

class GanData {
 public:
  virtual ~GanData() = default;
  virtual std::string name() const = 0;
  virtual Index dim() const = 0;       // features of one sample (2, or pixels)
  virtual Index classes() const = 0;   // what shards are made of (modes, labels)
  // Fills the columns of out (dim() x n) with samples of shard `shard` of `shards` (1 <= shards <=
  // classes(); shard s holds the classes k with k mod shards == s).
  virtual void sample(Rng& rng, Index shard, Index shards, Eigen::Ref<Matrix> out) const = 0;
  // Sample-quality metrics of generator samples `fake` (dim() x n), added to the row. `rng` is an
  // evaluation stream (for fresh real samples).
  virtual void quality_metrics(const Matrix& fake, Rng& rng, MetricsRow& row) const = 0;
  // Generator samples scored per evaluation (2,500 for mixtures).
  virtual Index metric_samples() const = 0;
  virtual void describe(InstanceWriter& out) const = 0;
  virtual std::string describe_text() const = 0;  // one sentence for the problem's formula text
  // Per-worker scores (Problem::worker_metrics) of generator samples `fake`: names and values.
  virtual std::vector<std::string> worker_metric_names() const { return {}; }
  virtual Vector worker_scores(const Matrix& fake) const {
    (void)fake;
    return Vector();
  }
};

class MixtureData final : public GanData {
 public:
  explicit MixtureData(data::GaussianMixture2D mixture) : mixture_(std::move(mixture)) {}
  std::string name() const override { return mixture_.name(); }
  Index dim() const override { return 2; }
  Index classes() const override { return mixture_.modes(); }
  void sample(Rng& rng, Index shard, Index shards, Eigen::Ref<Matrix> out) const override;
  void quality_metrics(const Matrix& fake, Rng& rng, MetricsRow& row) const override;
  Index metric_samples() const override { return 2500; }
  void describe(InstanceWriter& out) const override;
  std::string describe_text() const override;
  const data::GaussianMixture2D& mixture() const { return mixture_; }
  double mmd_bandwidth() const { return 0.5 * mixture_.min_mode_distance(); }

 private:
  data::GaussianMixture2D mixture_;
};

// Images in [-1, 1], one per column, drawn uniformly: a class uniform over the shard's classes,
// then an image uniform over that class's training images (std::uniform_int_distribution twice).
// Metrics over metric_samples() generator images against as many test images: fd_classifier, the
// Fréchet distance in the feature space of the project's classifier (gan/classifier.hpp — not
// FID); classes_covered, the classes the classifier assigns to at least 1% of the generator images.
class ImageData final : public GanData {
 public:
  ImageData(std::string name, data::ImageSet train, data::ImageSet test, Classifier classifier);
  std::string name() const override { return name_; }
  Index dim() const override { return train_.images.rows(); }
  Index classes() const override { return static_cast<Index>(by_class_.size()); }
  void sample(Rng& rng, Index shard, Index shards, Eigen::Ref<Matrix> out) const override;
  void quality_metrics(const Matrix& fake, Rng& rng, MetricsRow& row) const override;
  Index metric_samples() const override { return 2000; }
  void describe(InstanceWriter& out) const override;
  std::string describe_text() const override;
  // With the conv classifier: is_classifier of each evaluated worker's generator.
  std::vector<std::string> worker_metric_names() const override;
  Vector worker_scores(const Matrix& fake) const override;
  Index height() const { return train_.height; }
  Index width() const { return train_.width; }
  Index channels() const { return train_.channels; }
  const Classifier& classifier() const { return classifier_; }

 private:
  std::string name_;
  data::ImageSet train_, test_;
  Classifier classifier_;
  std::vector<std::vector<Index>> by_class_;
  Matrix test_features_;  // classifier features of the first metric_samples() test images
};

// Fashion-MNIST (Debian's dataset-fashion-mnist) downscaled by `downscale`, with the cached
// classifier (gan/classifier.hpp; `classifier_path` "" = the default cache path). conv: the conv
// classifier (fashion-conv-classifier-<side>px.h5), whose metrics add is_classifier and kid_classifier.
std::shared_ptr<const GanData> fashion_mnist_data(int downscale, const std::string& classifier_path, bool conv = false);

// CIFAR-10 from the binary files in `dir` (data/cifar.hpp), 32 x 32 x 3, with the classifier cached as
// cifar10-classifier-32px.h5 (or `classifier_path`).
std::shared_ptr<const GanData> cifar10_data(const std::string& dir, const std::string& classifier_path, bool conv = false);

}  // namespace dposg::gan
