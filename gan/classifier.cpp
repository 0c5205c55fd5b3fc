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
    : net_(shape), params_(std::move(params)), downscale_(downscale) {
  if (params_.size() != net_.num_params()) throw InputError("classifier: parameter count does not match its shape");
}

Matrix Classifier::features(const Matrix& images) const {
  Mlp<double>::Forward f;
  net_.forward(params_.data(), images, f);
  return f.h.back();
}

std::vector<int> Classifier::predict(const Matrix& images) const {
  Mlp<double>::Forward f;
  net_.forward(params_.data(), images, f);
  std::vector<int> out(static_cast<std::size_t>(images.cols()));
  for (Index j = 0; j < images.cols(); ++j) {
    Index k = 0;
    f.out.col(j).maxCoeff(&k);
    out[static_cast<std::size_t>(j)] = static_cast<int>(k);
  }
  return out;
}

double Classifier::accuracy(const data::ImageSet& set) const {
  const auto pred = predict(set.images);
  std::size_t right = 0;
  for (std::size_t j = 0; j < pred.size(); ++j) right += pred[j] == set.labels.at(j);
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

Classifier train_classifier(const data::ImageSet& train, const data::ImageSet& test, const ClassifierOptions& o) {
  if (train.labels.size() != static_cast<std::size_t>(train.count()) || train.count() < 2)
    throw InputError("classifier: the training set needs labels");
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
  Vector m = Vector::Zero(params.size()), v = Vector::Zero(params.size()), grad(params.size());
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::int64_t step = 0;
  std::vector<Index> order(static_cast<std::size_t>(train.count()));
  std::iota(order.begin(), order.end(), Index{0});
  Mlp<double>::Forward f;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
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
  const int downscale = static_cast<int>(28 / std::max<Index>(1, train.height));
  Classifier c(shape, params, downscale);
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
    MlpShape shape;
    shape.inputs = static_cast<Index>(get("inputs"));
    shape.width = static_cast<Index>(get("width"));
    shape.depth = static_cast<Index>(get("depth"));
    shape.outputs = static_cast<Index>(get("outputs"));
    shape.activation = Activation::relu;
    H5::DataSet ds = file.openDataSet("params");
    Vector params(static_cast<Index>(ds.getSpace().getSimpleExtentNpoints()));
    ds.read(params.data(), H5::PredType::NATIVE_DOUBLE);
    Classifier c(shape, std::move(params), static_cast<int>(get("downscale")));
    c.test_accuracy = get("test_accuracy");
    return c;
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

Classifier train_and_save(const data::ImageSet& train, const data::ImageSet& test, const std::string& path) {
  Classifier c = train_classifier(train, test, ClassifierOptions{});
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
                             const std::string& given) {
  const std::string path = given.empty() ? (cache_dir() / cache_name).string() : given;
  if (std::filesystem::exists(path)) {
    Classifier c = Classifier::load(path);
    if (c.shape().inputs != train.images.rows())
      throw InputError("classifier file '" + path + "': takes " + std::to_string(c.shape().inputs) + " inputs, the images have " +
                       std::to_string(train.images.rows()));
    return c;
  }
  return train_and_save(train, test, path);
}

}  // namespace dposg::gan
