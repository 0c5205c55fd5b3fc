#pragma once
// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html, cifar-10-binary.tar.gz,
// unpacked to cifar-10-batches-bin/): data_batch_1.bin ... data_batch_5.bin (the 50,000 training
// images) and test_batch.bin (10,000). Each file is a sequence of 3,073-byte records: one label byte
// (0..9), then the 32 x 32 red, green and blue planes, 1,024 bytes each, row-major. The official files
// hold 10,000 records each; any positive whole number of records is read (the tests write small
// files), but a length that is not a multiple of 3,073 is damage.
//
// Every problem is an InputError naming --data-dir: a missing folder (and where to get the files), a
// missing or unreadable file, an empty one, a truncated or padded one, a label outside 0..9.
#include <string>

#include "core/types.hpp"
#include "data/idx.hpp"

namespace dposg::data {

inline constexpr Index kCifarSide = 32;
inline constexpr Index kCifarRecord = 1 + 3 * kCifarSide * kCifarSide;  // 3,073 bytes

// One batch file: channels = 3, height = width = 32, pixels v -> 2 v / 255 - 1 (in [-1, 1], as
// load_idx_images), one image per column, its planes one after another.
ImageSet read_cifar10_file(const std::string& path);

// split "train" (the five data batches, in order) or "test" (test_batch.bin) from folder dir.
ImageSet load_cifar10(const std::string& dir, const std::string& split);

}  // namespace dposg::data
