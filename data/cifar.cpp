#include "data/cifar.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/error.hpp"

namespace dposg::data {

namespace {

const char* const kWhere =
    "get the binary version from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and unpack it "
    "(--data-dir is then its folder cifar-10-batches-bin)";

}  // namespace

ImageSet read_cifar10_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError("--data-dir: no CIFAR-10 file '" + path + "' (" + kWhere + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("--data-dir: cannot read '" + path + "'");
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError("--data-dir: cannot read '" + path + "'");
  const auto size = static_cast<Index>(bytes.size());
  if (size == 0) throw InputError("--data-dir: '" + path + "' is empty (expected 3073-byte CIFAR-10 records)");
  if (size % kCifarRecord != 0)
    throw InputError("--data-dir: '" + path + "' has " + std::to_string(size) + " bytes, not a whole number of " +
                     "3073-byte CIFAR-10 records (truncated or not a CIFAR-10 binary file)");
  const Index n = size / kCifarRecord, pixels = 3 * kCifarSide * kCifarSide;
  ImageSet set;
  set.height = set.width = kCifarSide;
  set.channels = 3;
  set.images.resize(pixels, n);
  set.labels.resize(static_cast<std::size_t>(n));
  for (Index k = 0; k < n; ++k) {
    const unsigned char* record = bytes.data() + k * kCifarRecord;
    if (record[0] > 9)
      throw InputError("--data-dir: '" + path + "' record " + std::to_string(k) + " has label " +
                       std::to_string(record[0]) + " (CIFAR-10 labels are 0..9)");
    set.labels[static_cast<std::size_t>(k)] = record[0];
    for (Index r = 0; r < pixels; ++r) set.images(r, k) = 2.0 * record[1 + r] / 255.0 - 1.0;
  }
  return set;
}

ImageSet load_cifar10(const std::string& dir, const std::string& split) {
  if (dir.empty()) throw InputError(std::string("--data-dir: gan-cifar10 needs the CIFAR-10 folder; ") + kWhere);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError("--data-dir: '" + dir + "' is not a folder; " + kWhere);
  if (split == "test") return read_cifar10_file(dir + "/test_batch.bin");
  if (split != "train") throw InputError("CIFAR-10 split: expected 'train' or 'test', got '" + split + "'");
  std::vector<ImageSet> parts;
  Index n = 0;
  for (int b = 1; b <= 5; ++b) {
    parts.push_back(read_cifar10_file(dir + "/data_batch_" + std::to_string(b) + ".bin"));
    n += parts.back().count();
  }
  ImageSet all;
  all.height = all.width = kCifarSide;
  all.channels = 3;
  all.images.resize(parts.front().images.rows(), n);
  Index at = 0;
  for (auto& p : parts) {
    all.images.middleCols(at, p.count()) = p.images;
    all.labels.insert(all.labels.end(), p.labels.begin(), p.labels.end());
    at += p.count();
  }
  return all;
}

}  // namespace dposg::data
