#pragma once
// LIBSVM / SVMlight text files (the format of a9a, ijcnn1): one sample per line,
//     <label> <index>:<value> <index>:<value> ...
// indices 1-based and strictly increasing within a line, '#' starts a comment, blank lines skipped.
// Held as compressed sparse rows. Every malformed file is an InputError of one line naming the file,
// the line and what is wrong (not found, a label or value that is not a number, an index below 1 or
// not increasing, a pair without ':', no samples at all).
#include <string>
#include <vector>

#include "core/types.hpp"

namespace dposg::data {

struct SparseSamples {
  Index features = 0;                 // the largest index seen (or the caller's, if larger)
  std::vector<double> labels;         // one per row
  std::vector<std::size_t> row_start; // rows + 1 offsets into index/value
  std::vector<Index> index;           // 0-based feature index
  std::vector<double> value;
  Index rows() const { return static_cast<Index>(labels.size()); }
};

SparseSamples read_libsvm(const std::string& path);

// Writes `s` in the same format (values with 17 significant digits); for tests and tools.
void write_libsvm(const std::string& path, const SparseSamples& s);

}  // namespace dposg::data
