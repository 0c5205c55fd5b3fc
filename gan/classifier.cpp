#include "gan/classifier.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace dposg::gan {

namespace {

constexpr Index kClasses = 10;

Matrix softmax_columns(const Matrix& logits) {
  Matrix p = logits.rowwise() - logits.colwise().maxCoeff();
  p = p.array().exp().matrix();
  p.array().rowwise() /= p.colwise().sum().array();
  return p;
}

}  // namespace

Classifier::Classifier(const MlpShape& shape, Vector params, int downscale)
    : shape_(shape), net_(std::make_shared<const Mlp<double>>(shape)), params_(std::move(params)), downscale_(downscale) {
  if (params_.size() != net_->num_params()) throw InputError("classifier: parameter count does not match its shape");
}

Classifier::Classifier(const ConvGanShape& shape, Vector params)
    : conv_(std::make_shared<const ConvNet>(shape, ConvNet::Role::critic)), params_(std::move(params)), downscale_(1) {
  if (params_.size() != conv_->num_params()) throw InputError("classifier: parameter count does not match its shape");
  shape_.inputs = conv_->inputs();
  shape_.width = shape.hidden;
  shape_.depth = 0;
  shape_.outputs = shape.outputs;
}

Matrix Classifier::logits(const Matrix& images, Matrix* features) const {
  if (conv_) {
    ConvNet::Forward f;
    conv_->forward(params_.data(), images, f);
    // The input of the 1 x 1 output conv: (1 x B) x features in the layer layout.
    if (features) *features = f.h[f.h.size() - 2].transpose();
    return std::move(f.out);
  }
  Mlp<double>::Forward f;
  net_->forward(params_.data(), images, f);
  if (features) *features = f.h.back();
  return std::move(f.out);
}

Matrix Classifier::features(const Matrix& images) const {
  Matrix features;
  logits(images, &features);
  return features;
}

std::vector<int> Classifier::predict(const Matrix& images) const {
  const Matrix out = logits(images, nullptr);
  std::vector<int> pred(static_cast<std::size_t>(images.cols()));
  for (Index j = 0; j < images.cols(); ++j) {
    Index k = 0;
    out.col(j).maxCoeff(&k);
    pred[static_cast<std::size_t>(j)] = static_cast<int>(k);
  }
  return pred;
}

Matrix Classifier::probabilities(const Matrix& images) const { return softmax_columns(logits(images, nullptr)); }

double Classifier::accuracy(const data::ImageSet& set) const {
  const auto pred = predict(set.images);
  std::size_t right = 0;
  for (std::size_t j = 0; j < pred.size(); ++j) right += pred[j] == set.labels.at(j);
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

namespace {

// Adam on softmax cross-entropy, minibatches drawn by a shuffled pass per epoch; one loop for both
// classifier kinds (Net: Mlp<double> or ConvNet).
template <class Net>
void train_softmax(const Net& net, Vector& params, const data::ImageSet& train, const ClassifierOptions& o, int epochs,
                   Rng& rng) {
  Vector m = Vector::Zero(params.size()), v = Vector::Zero(params.size()), grad(params.size());
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::int64_t step = 0;
  std::vector<Index> order(static_cast<std::size_t>(train.count()));
  std::iota(order.begin(), order.end(), Index{0});
  typename Net::Forward f;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (Index start = 0; start + o.batch <= train.count(); start += o.batch) {
      Matrix X(train.images.rows(), o.batch);
      Matrix onehot = Matrix::Zero(kClasses, o.batch);
      for (Index j = 0; j < o.batch; ++j) {
        const Index k = order[static_cast<std::size_t>(start + j)];
        X.col(j) = train.images.col(k);
        onehot(train.labels[static_cast<std::size_t>(k)], j) = 1.0;
      }
      net.forward(params.data(), X, f);
      const Matrix d_out = (softmax_columns(f.out) - onehot) / static_cast<double>(o.batch);
      grad.setZero();
      net.backward(params.data(), f, d_out, grad.data(), nullptr);
      ++step;
      m = b1 * m + (1 - b1) * grad;
      v = b2 * v + (1 - b2) * grad.cwiseProduct(grad);
      const double c1 = 1 - std::pow(b1, static_cast<double>(step)), c2 = 1 - std::pow(b2, static_cast<double>(step));
      params.array() -= o.lr * (m.array() / c1) / ((v.array() / c2).sqrt() + eps);
    }
  }
}

void require_labels(const data::ImageSet& train) {
  if (train.labels.size() != static_cast<std::size_t>(train.count()) || train.count() < 2)
    throw InputError("classifier: the training set needs labels");
}

}  // namespace

Classifier train_classifier(const data::ImageSet& train, const data::ImageSet& test, const ClassifierOptions& o) {
  require_labels(train);
  MlpShape shape;
  shape.inputs = train.images.rows();
  shape.width = o.width;
  shape.depth = o.depth;
  shape.outputs = kClasses;
  shape.activation = Activation::relu;
  Mlp<double> net(shape);
  Vector params(net.num_params());
  Rng rng = make_rng(o.seed, StreamPurpose::init, 0xC1A55);
  net.init_params(rng, params.data());
  train_softmax(net, params, train, o, o.epochs, rng);
  const int downscale = static_cast<int>(28 / std::max<Index>(1, train.height));
  Classifier c(shape, params, downscale);
  if (!test.labels.empty()) c.test_accuracy = c.accuracy(test);
  return c;
}

Classifier train_conv_classifier(const data::ImageSet& train, const data::ImageSet& test, const ClassifierOptions& o) {
  require_labels(train);
  if (train.height != train.width) throw InputError("classifier: the conv classifier needs square images");
  ConvGanShape shape;
  shape.image_side = train.height;
  shape.side = canvas_side(train.height);
  shape.channels = train.channels;
  shape.width = o.conv_width;
  shape.activation = Activation::relu;
  shape.outputs = kClasses;
  shape.hidden = o.width;
  const ConvNet net(shape, ConvNet::Role::critic);
  Vector params(net.num_params());
  Rng rng = make_rng(o.seed, StreamPurpose::init, 0xC1A55);
  net.init_params(rng, params.data());
  train_softmax(net, params, train, o, o.conv_epochs, rng);
  Classifier c(shape, params);
  if (!test.labels.empty()) c.test_accuracy = c.accuracy(test);
  return c;
}

void Classifier::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  try {
    H5::Exception::dontPrint();
    {
      H5::H5File file(tmp, H5F_ACC_TRUNC);
      hsize_t n = static_cast<hsize_t>(params_.size());
      H5::DataSpace space(1, &n);
      file.createDataSet("params", H5::PredType::NATIVE_DOUBLE, space).write(params_.data(), H5::PredType::NATIVE_DOUBLE);
      H5::DataSpace scalar(H5S_SCALAR);
      auto put = [&](const char* name, double value) {
        file.createAttribute(name, H5::PredType::NATIVE_DOUBLE, scalar).write(H5::PredType::NATIVE_DOUBLE, &value);
      };
      put("inputs", static_cast<double>(shape().inputs));
      put("width", static_cast<double>(shape().width));
      put("depth", static_cast<double>(shape().depth));
      put("outputs", static_cast<double>(shape().outputs));
      put("downscale", downscale_);
      put("test_accuracy", test_accuracy);
      if (conv_) {
        // Present only in a conv classifier's file: what load() tells the two kinds apart by.
        const ConvGanShape& c = conv_->shape();
        put("conv_width", static_cast<double>(c.width));
        put("conv_side", static_cast<double>(c.side));
        put("conv_image_side", static_cast<double>(c.image_side));
        put("conv_channels", static_cast<double>(c.channels));
      }
    }
    // Written whole, then renamed: a reader never sees half a file.
    std::filesystem::rename(tmp, path);
  } catch (const H5::Exception& e) {
    throw InputError("classifier file '" + path + "': cannot write (" + e.getDetailMsg() + ")");
  } catch (const std::filesystem::filesystem_error& e) {
    throw InputError("classifier file '" + path + "': cannot write (" + e.what() + ")");
  }
}

Classifier Classifier::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError("classifier file '" + path + "': no such file");
  try {
    H5::Exception::dontPrint();
    H5::H5File file(path, H5F_ACC_RDONLY);
    auto get = [&](const char* name) {
      double v = 0;
      file.openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &v);
      return v;
    };
    H5::DataSet ds = file.openDataSet("params");
    Vector params(static_cast<Index>(ds.getSpace().getSimpleExtentNpoints()));
    ds.read(params.data(), H5::PredType::NATIVE_DOUBLE);
    auto with_accuracy = [&](Classifier c) {
      c.test_accuracy = get("test_accuracy");
      return c;
    };
    if (file.attrExists("conv_width")) {
      ConvGanShape c;
      c.width = static_cast<Index>(get("conv_width"));
      c.side = static_cast<Index>(get("conv_side"));
      c.image_side = static_cast<Index>(get("conv_image_side"));
      c.channels = static_cast<Index>(get("conv_channels"));
      c.hidden = static_cast<Index>(get("width"));
      c.outputs = static_cast<Index>(get("outputs"));
      c.activation = Activation::relu;
      return with_accuracy(Classifier(c, std::move(params)));
    }
    MlpShape shape;
    shape.inputs = static_cast<Index>(get("inputs"));
    shape.width = static_cast<Index>(get("width"));
    shape.depth = static_cast<Index>(get("depth"));
    shape.outputs = static_cast<Index>(get("outputs"));
    shape.activation = Activation::relu;
    return with_accuracy(Classifier(shape, std::move(params), static_cast<int>(get("downscale"))));
  } catch (const H5::Exception& e) {
    throw InputError("classifier file '" + path + "': not a dposg classifier (" + e.getDetailMsg() + ")");
  }
}

namespace {

std::filesystem::path cache_dir() {
  std::filesystem::path dir;
  if (const char* d = std::getenv("DPOSG_CACHE_DIR"); d && *d) dir = d;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = std::filesystem::path(x) / "dposg";
  else if (const char* h = std::getenv("HOME"); h && *h) dir = std::filesystem::path(h) / ".cache" / "dposg";
  else dir = std::filesystem::temp_directory_path() / "dposg-cache";
  return dir;
}

Classifier train_and_save(const data::ImageSet& train, const data::ImageSet& test, const std::string& path,
                          bool conv = false) {
  Classifier c = conv ? train_conv_classifier(train, test, ClassifierOptions{}) : train_classifier(train, test, ClassifierOptions{});
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  c.save(path);
  return c;
}

}  // namespace

std::string default_classifier_path(int downscale) {
  return (cache_dir() / ("fashion-classifier-" + std::to_string(28 / downscale) + "px.h5")).string();
}

Classifier fashion_classifier(int downscale, const std::string& given) {
  const std::string path = given.empty() ? default_classifier_path(downscale) : given;
  if (std::filesystem::exists(path)) {
    Classifier c = Classifier::load(path);
    if (c.downscale() != downscale)
      throw InputError("classifier file '" + path + "': made for downscale " + std::to_string(c.downscale()) +
                       ", not " + std::to_string(downscale));
    return c;
  }
  return train_and_save(data::load_fashion_mnist("train", downscale), data::load_fashion_mnist("test", downscale), path);
}

Classifier cached_classifier(const std::string& cache_name, const data::ImageSet& train, const data::ImageSet& test,
                             const std::string& given, bool conv) {
  const std::string path = given.empty() ? (cache_dir() / cache_name).string() : given;
  if (std::filesystem::exists(path)) {
    Classifier c = Classifier::load(path);
    if (c.shape().inputs != train.images.rows())
      throw InputError("classifier file '" + path + "': takes " + std::to_string(c.shape().inputs) + " inputs, the images have " +
                       std::to_string(train.images.rows()));
    if (c.is_conv() != conv)
      throw InputError("classifier file '" + path + "': " + (conv ? "an MLP" : "a conv") + " classifier, this run needs " +
                       (conv ? "a conv" : "an MLP") + " one (--gan-arch dcgan scores with a conv classifier)");
    return c;
  }
  return train_and_save(train, test, path, conv);
}

}  // namespace dposg::gan
