// ctest-label: unit
// The IDX loader (data/idx.hpp) on small files this test writes byte by byte (independently of
// write_idx), gzip and plain, and on every kind of damage; and Debian's Fashion-MNIST where it is
// installed.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli_harness.hpp"
#include "core/error.hpp"
#include "data/idx.hpp"

using namespace dposg;
using namespace dposg::data;
using dposg::test::TempDir;

namespace {

using Bytes = std::vector<unsigned char>;

void put_be32(Bytes& b, std::uint32_t v) {
  for (int s = 3; s >= 0; --s) b.push_back(static_cast<unsigned char>(v >> (8 * s)));
}

void write_plain(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  gzclose(f);
}

// n images of h x w unsigned bytes, pixel (k, r, c) = (k * 31 + r * 7 + c * 3) mod 256.
Bytes images_file(std::uint32_t n, std::uint32_t h, std::uint32_t w) {
  Bytes b{0, 0, 0x08, 3};
  put_be32(b, n);
  put_be32(b, h);
  put_be32(b, w);
  for (std::uint32_t k = 0; k < n; ++k)
    for (std::uint32_t r = 0; r < h; ++r)
      for (std::uint32_t c = 0; c < w; ++c) b.push_back(static_cast<unsigned char>((k * 31 + r * 7 + c * 3) % 256));
  return b;
}

Bytes labels_file(std::uint32_t n) {
  Bytes b{0, 0, 0x08, 1};
  put_be32(b, n);
  for (std::uint32_t k = 0; k < n; ++k) b.push_back(static_cast<unsigned char>(k % 10));
  return b;
}

double pixel(std::uint32_t k, std::uint32_t r, std::uint32_t c) { return static_cast<double>((k * 31 + r * 7 + c * 3) % 256); }

}  // namespace

TEST_CASE("idx: gzip and plain files read back the bytes written, scaled to [-1, 1]", "[idx]") {
  TempDir dir;
  write_gz(dir / "img.gz", images_file(5, 4, 6));
  write_plain(dir / "img.raw", images_file(5, 4, 6));
  write_gz(dir / "lab.gz", labels_file(5));
  for (const std::string name : {"img.gz", "img.raw"}) {
    INFO(name);
    const ImageSet s = load_idx_images(dir / name, dir / "lab.gz");
    REQUIRE(s.count() == 5);
    REQUIRE(s.height == 4);
    REQUIRE(s.width == 6);
    REQUIRE(s.labels == std::vector<int>{0, 1, 2, 3, 4});
    for (std::uint32_t k = 0; k < 5; ++k)
      for (std::uint32_t r = 0; r < 4; ++r)
        for (std::uint32_t c = 0; c < 6; ++c) CHECK(s.images(r * 6 + c, k) == pixel(k, r, c) / 127.5 - 1.0);
  }
  const IdxArray raw = read_idx(dir / "img.gz");
  CHECK(raw.dims == std::vector<std::uint32_t>{5, 4, 6});
  CHECK(raw.values[1 * 24 + 2 * 6 + 3] == pixel(1, 2, 3));
}

TEST_CASE("idx: downscaling averages f x f blocks; limit keeps the first images", "[idx]") {
  TempDir dir;
  write_gz(dir / "img.gz", images_file(3, 4, 6));
  const ImageSet s = load_idx_images(dir / "img.gz", "", 2, 2);
  REQUIRE(s.count() == 2);
  REQUIRE(s.height == 2);
  REQUIRE(s.width == 3);
  CHECK(s.labels.empty());
  for (std::uint32_t k = 0; k < 2; ++k)
    for (std::uint32_t r = 0; r < 2; ++r)
      for (std::uint32_t c = 0; c < 3; ++c) {
        const double mean =
            (pixel(k, 2 * r, 2 * c) + pixel(k, 2 * r, 2 * c + 1) + pixel(k, 2 * r + 1, 2 * c) + pixel(k, 2 * r + 1, 2 * c + 1)) / 4;
        CHECK(s.images(r * 3 + c, k) == Approx(mean / 127.5 - 1.0).epsilon(1e-14));
      }
  CHECK_THROWS_WITH(load_idx_images(dir / "img.gz", "", 4), Catch::Contains("does not divide"));
}

TEST_CASE("idx: other element types decode big-endian", "[idx]") {
  TempDir dir;
  Bytes b{0, 0, 0x0B, 1};  // int16
  put_be32(b, 3);
  for (int v : {-2, 300, 32767}) {
    const auto u = static_cast<std::uint16_t>(static_cast<std::int16_t>(v));
    b.push_back(static_cast<unsigned char>(u >> 8));
    b.push_back(static_cast<unsigned char>(u & 0xFF));
  }
  write_plain(dir / "s.idx", b);
  CHECK(read_idx(dir / "s.idx").values == std::vector<double>{-2, 300, 32767});
  // write_idx round trip for every type (and gzip on/off).
  for (std::uint8_t type : {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}) {
    IdxArray a;
    a.type = type;
    a.dims = {2, 2};
    a.values = {1, 2, 3, type == 0x08 ? 4.0 : -4.0};
    if (type == 0x0D || type == 0x0E) a.values[1] = 0.5;
    for (bool gz : {false, true}) {
      INFO(int(type) << " gzip " << gz);
      write_idx(dir / "rt.idx", a, gz);
      const IdxArray back = read_idx(dir / "rt.idx");
      CHECK(back.type == type);
      CHECK(back.dims == a.dims);
      CHECK(back.values == a.values);
    }
  }
}

TEST_CASE("idx: damaged files are one clear error each", "[idx]") {
  TempDir dir;
  const Bytes good = images_file(2, 3, 3);
  std::map<std::string, std::pair<Bytes, std::string>> cases;
  Bytes magic = good;
  magic[0] = 0x1F;
  cases["magic"] = {magic, "not an IDX file"};
  Bytes type = good;
  type[2] = 0x07;
  cases["type"] = {type, "unknown IDX type"};
  Bytes zero{0, 0, 0x08, 0};
  cases["zero dims"] = {zero, "zero dimensions"};
  Bytes header(good.begin(), good.begin() + 9);
  cases["short header"] = {header, "truncated IDX header"};
  Bytes truncated(good.begin(), good.end() - 1);
  cases["truncated"] = {truncated, "truncated"};
  Bytes trailing = good;
  trailing.push_back(0);
  cases["trailing"] = {trailing, "bytes after"};
  Bytes empty;
  cases["empty"] = {empty, "truncated"};
  for (const auto& [name, c] : cases)
    for (bool gz : {false, true}) {
      INFO(name << " gzip " << gz);
      const std::string path = dir / "bad.idx";
      if (gz) write_gz(path, c.first);
      else write_plain(path, c.first);
      CHECK_THROWS_AS(read_idx(path), InputError);
      CHECK_THROWS_WITH(read_idx(path), Catch::Contains(c.second) && Catch::Contains("bad.idx"));
    }
  // A gzip stream cut in the middle.
  write_gz(dir / "whole.gz", images_file(50, 28, 28));
  {
    std::ifstream in(dir / "whole.gz", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "cut.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  CHECK_THROWS_AS(read_idx(dir / "cut.gz"), InputError);
  CHECK_THROWS_WITH(read_idx(dir / "missing.gz"), Catch::Contains("no such file"));
  // Labels that do not match the images.
  write_gz(dir / "img.gz", good);
  write_gz(dir / "lab.gz", labels_file(3));
  CHECK_THROWS_WITH(load_idx_images(dir / "img.gz", dir / "lab.gz"), Catch::Contains("3 labels for 2 images"));
  CHECK_THROWS_WITH(load_fashion_mnist("train", 1, 0, dir / "nowhere"), Catch::Contains("dataset-fashion-mnist"));
  CHECK_THROWS_WITH(load_fashion_mnist("validation"), Catch::Contains("split"));
}

TEST_CASE("idx: Debian's Fashion-MNIST: 60,000 + 10,000 images of 28 x 28, 10 balanced classes", "[idx]") {
  if (!std::filesystem::is_directory(kFashionMnistDir)) {
    WARN("SKIPPED: " << kFashionMnistDir << " not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  const ImageSet train = load_fashion_mnist("train");
  const ImageSet test = load_fashion_mnist("test", 2);
  CHECK(train.count() == 60000);
  CHECK(train.height == 28);
  CHECK(train.width == 28);
  CHECK(test.count() == 10000);
  CHECK(test.height == 14);
  // Zalando's published split: 6,000 training and 1,000 test images per class.
  std::vector<int> per_class(10, 0), per_class_test(10, 0);
  for (int l : train.labels) per_class.at(static_cast<std::size_t>(l))++;
  for (int l : test.labels) per_class_test.at(static_cast<std::size_t>(l))++;
  CHECK(per_class == std::vector<int>(10, 6000));
  CHECK(per_class_test == std::vector<int>(10, 1000));
  CHECK(train.images.minCoeff() == -1.0);
  CHECK(train.images.maxCoeff() == 1.0);
}
