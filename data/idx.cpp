#include "data/idx.hpp"

#include <zlib.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "core/error.hpp"

namespace dposg::data {

namespace {

std::size_t element_size(std::uint8_t type) {
  switch (type) {
    case 0x08:
    case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C:
    case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f) gzclose(f);
  }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly n bytes; false at a clean or truncated end.
bool read_exact(gzFile f, void* out, std::size_t n, const std::string& path) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
    const int got = gzread(f, p, chunk);
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw InputError("'" + path + "': not a readable gzip/IDX file (" + std::string(msg ? msg : "read error") + ")");
    }
    if (got == 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

std::uint64_t big_endian(const unsigned char* b, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b[i];
  return v;
}

double decode(std::uint8_t type, const unsigned char* b) {
  switch (type) {
    case 0x08: return static_cast<double>(b[0]);
    case 0x09: return static_cast<double>(static_cast<std::int8_t>(b[0]));
    case 0x0B: return static_cast<double>(static_cast<std::int16_t>(big_endian(b, 2)));
    case 0x0C: return static_cast<double>(static_cast<std::int32_t>(big_endian(b, 4)));
    case 0x0D: return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(big_endian(b, 4))));
    default: return std::bit_cast<double>(big_endian(b, 8));
  }
}

void encode(std::uint8_t type, double v, unsigned char* b) {
  std::uint64_t bits = 0;
  std::size_t n = element_size(type);
  switch (type) {
    case 0x08: bits = static_cast<std::uint8_t>(v); break;
    case 0x09: bits = static_cast<std::uint8_t>(static_cast<std::int8_t>(v)); break;
    case 0x0B: bits = static_cast<std::uint16_t>(static_cast<std::int16_t>(v)); break;
    case 0x0C: bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(v)); break;
    case 0x0D: bits = std::bit_cast<std::uint32_t>(static_cast<float>(v)); break;
    default: bits = std::bit_cast<std::uint64_t>(v); break;
  }
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(bits >> (8 * (n - 1 - i)));
}

}  // namespace

std::size_t IdxArray::count() const {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError("'" + path + "': no such file");
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) throw InputError("'" + path + "': cannot open");
  unsigned char magic[4];
  if (!read_exact(f.get(), magic, 4, path)) throw InputError("'" + path + "': truncated IDX header");
  if (magic[0] != 0 || magic[1] != 0)
    throw InputError("'" + path + "': not an IDX file (magic bytes " + std::to_string(magic[0]) + " " +
                     std::to_string(magic[1]) + ", expected 0 0)");
  IdxArray a;
  a.type = magic[2];
  const std::size_t size = element_size(a.type);
  if (size == 0) throw InputError("'" + path + "': unknown IDX type code " + std::to_string(a.type));
  const int ndims = magic[3];
  if (ndims == 0) throw InputError("'" + path + "': IDX file with zero dimensions");
  std::size_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    unsigned char b[4];
    if (!read_exact(f.get(), b, 4, path)) throw InputError("'" + path + "': truncated IDX header");
    const auto dim = static_cast<std::uint32_t>(big_endian(b, 4));
    if (dim != 0 && count > std::numeric_limits<std::size_t>::max() / size / dim)
      throw InputError("'" + path + "': IDX sizes overflow");
    count *= dim;
    a.dims.push_back(dim);
  }
  std::vector<unsigned char> raw(count * size);
  if (!read_exact(f.get(), raw.data(), raw.size(), path))
    throw InputError("'" + path + "': truncated: the header promises " + std::to_string(count) +
                     " elements and the file holds fewer");
  unsigned char extra;
  if (read_exact(f.get(), &extra, 1, path))
    throw InputError("'" + path + "': bytes after the " + std::to_string(count) + " elements the header promises");
  a.values.resize(count);
  for (std::size_t i = 0; i < count; ++i) a.values[i] = decode(a.type, raw.data() + i * size);
  return a;
}

void write_idx(const std::string& path, const IdxArray& a, bool gzip) {
  const std::size_t size = element_size(a.type);
  if (size == 0) throw std::invalid_argument("write_idx: unknown type code");
  if (a.values.size() != a.count()) throw std::invalid_argument("write_idx: values do not match dims");
  std::vector<unsigned char> bytes{0, 0, a.type, static_cast<unsigned char>(a.dims.size())};
  for (auto d : a.dims)
    for (int s = 3; s >= 0; --s) bytes.push_back(static_cast<unsigned char>(d >> (8 * s)));
  const std::size_t header = bytes.size();
  bytes.resize(header + a.values.size() * size);
  for (std::size_t i = 0; i < a.values.size(); ++i) encode(a.type, a.values[i], bytes.data() + header + i * size);
  GzFile f(gzopen(path.c_str(), gzip ? "wb" : "wbT"));  // T: plain, uncompressed output
  if (!f || gzwrite(f.get(), bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size()))
    throw InputError("'" + path + "': cannot write");
}

ImageSet load_idx_images(const std::string& images_path, const std::string& labels_path, int downscale,
                         Index limit) {
  if (downscale < 1) throw InputError("downscale: must be >= 1, got " + std::to_string(downscale));
  const IdxArray img = read_idx(images_path);
  if (img.type != 0x08 || img.dims.size() != 3)
    throw InputError("'" + images_path + "': expected n x height x width unsigned bytes (IDX type 8, 3 dimensions)");
  const Index n_all = img.dims[0], H = img.dims[1], W = img.dims[2];
  if (H % downscale != 0 || W % downscale != 0)
    throw InputError("downscale: " + std::to_string(downscale) + " does not divide the image size " +
                     std::to_string(H) + " x " + std::to_string(W));
  const Index n = limit > 0 ? std::min(limit, n_all) : n_all;
  ImageSet s;
  s.height = H / downscale;
  s.width = W / downscale;
  s.images.resize(s.height * s.width, n);
  const double scale = 1.0 / static_cast<double>(downscale * downscale);
  for (Index k = 0; k < n; ++k) {
    const double* src = img.values.data() + k * H * W;
    for (Index r = 0; r < s.height; ++r)
      for (Index c = 0; c < s.width; ++c) {
        double sum = 0.0;
        for (int i = 0; i < downscale; ++i)
          for (int j = 0; j < downscale; ++j) sum += src[(r * downscale + i) * W + c * downscale + j];
        s.images(r * s.width + c, k) = sum * scale / 127.5 - 1.0;
      }
  }
  if (!labels_path.empty()) {
    const IdxArray lab = read_idx(labels_path);
    if (lab.type != 0x08 || lab.dims.size() != 1)
      throw InputError("'" + labels_path + "': expected n unsigned bytes (IDX type 8, 1 dimension)");
    if (lab.dims[0] != img.dims[0])
      throw InputError("'" + labels_path + "': " + std::to_string(lab.dims[0]) + " labels for " +
                       std::to_string(img.dims[0]) + " images in '" + images_path + "'");
    s.labels.reserve(static_cast<std::size_t>(n));
    for (Index k = 0; k < n; ++k) s.labels.push_back(static_cast<int>(lab.values[static_cast<std::size_t>(k)]));
  }
  return s;
}

ImageSet load_fashion_mnist(const std::string& split, int downscale, Index limit, const std::string& dir) {
  if (split != "train" && split != "test")
    throw InputError("Fashion-MNIST split: expected 'train' or 'test', got '" + split + "'");
  if (!std::filesystem::is_directory(dir))
    throw InputError("Fashion-MNIST not found in '" + dir + "' (Debian: apt-get install dataset-fashion-mnist)");
  const std::string stem = split == "train" ? "train" : "t10k";
  return load_idx_images(dir + "/" + stem + "-images-idx3-ubyte.gz", dir + "/" + stem + "-labels-idx1-ubyte.gz",
                         downscale, limit);
}

}  // namespace dposg::data
