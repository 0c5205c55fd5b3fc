#pragma once
// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/): a big-endian
// header — two zero bytes, a type code, the number of dimensions n — then n big-endian uint32
// sizes, then the elements row-major (last dimension fastest), big-endian. Read through zlib's
// gzread, so a file may be gzip-compressed (as Debian ships Fashion-MNIST) or plain.
//
// Every malformed file is an InputError naming the file and what is wrong: not found, not gzip or
// IDX (bad magic), an unknown type code, zero dimensions, a size product that overflows, fewer
// bytes than the header promises (truncated), or bytes after the last element.
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace dposg::data {

struct IdxArray {
  std::uint8_t type = 0x08;          // 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
  std::vector<std::uint32_t> dims;   // e.g. {60000, 28, 28}
  std::vector<double> values;        // all elements, row-major, converted to double
  std::size_t count() const;         // product of dims
};

IdxArray read_idx(const std::string& path);

// Writes `a` as an IDX file (gzip-compressed when gzip is true); for tests and tools.
void write_idx(const std::string& path, const IdxArray& a, bool gzip);

// A labelled image set: one image per column, pixels scaled to [-1, 1] (0 -> -1, 255 -> 1, the
// range of a tanh generator), row-major within an image (pixel (r, c) at r * width + c).
struct ImageSet {
  Index height = 0, width = 0;
  Index channels = 1;             // > 1 (CIFAR-10: 3): the planes one after another, channel-major
  Matrix images;                  // (channels * height * width) x n
  std::vector<int> labels;        // n labels (empty when no label file was read)
  Index count() const { return images.cols(); }
};

// Images from an IDX file of n x H x W unsigned bytes, and labels from an IDX file of n unsigned
// bytes ("" = none). `downscale` = f > 1 averages f x f blocks (H and W must be multiples of f),
// e.g. 2 turns 28 x 28 into 14 x 14. `limit` > 0 keeps only the first `limit` images.
ImageSet load_idx_images(const std::string& images_path, const std::string& labels_path, int downscale = 1,
                         Index limit = 0);

// Fashion-MNIST as Debian's dataset-fashion-mnist installs it (dir: /usr/share/datasets/fashion-mnist),
// split "train" (60,000 images) or "test" (10,000). A missing directory is an InputError that says
// which package provides it.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
ImageSet load_fashion_mnist(const std::string& split, int downscale = 1, Index limit = 0,
                            const std::string& dir = kFashionMnistDir);

}  // namespace dposg::data
