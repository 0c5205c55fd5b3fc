#pragma once
// CIFAR-10 binary files written byte by byte (data/cifar.hpp's format), for the loader's tests and
// for the GAN runs of tests that need an image set without downloading one.
#include <fstream>
#include <string>
#include <vector>

#include "cli_harness.hpp"

namespace dposg::test {

// Record k of a test file: label `label`, pixel (c, y, x) = (label * 16 + 3 c + y + 7 x + k) mod 256,
// except byte 1 (red (0, 0)), which holds the label times 20 so that a sample shows its class.
inline std::vector<unsigned char> record(int label, int k) {
  std::vector<unsigned char> r(3073);
  r[0] = static_cast<unsigned char>(label);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) r[1 + c * 1024 + y * 32 + x] = static_cast<unsigned char>((label * 16 + 3 * c + y + 7 * x + k) % 256);
  r[1] = static_cast<unsigned char>(label * 20);
  return r;
}

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A batch file of n records with labels (first_label + k) mod 10.
inline void write_batch(const std::string& path, int n, int first_label) {
  std::vector<unsigned char> bytes;
  for (int k = 0; k < n; ++k) {
    const auto r = record((first_label + k) % 10, k);
    bytes.insert(bytes.end(), r.begin(), r.end());
  }
  write_bytes(path, bytes);
}

inline void write_folder(const TempDir& dir, int per_batch) {
  for (int b = 1; b <= 5; ++b) write_batch(dir / ("data_batch_" + std::to_string(b) + ".bin"), per_batch, 2 * b);
  write_batch(dir / "test_batch.bin", per_batch, 0);
}

}  // namespace dposg::test
