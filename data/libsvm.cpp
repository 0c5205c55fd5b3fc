#include "data/libsvm.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>

#include "core/error.hpp"

namespace dposg::data {
namespace {

[[noreturn]] void fail(const std::string& path, std::size_t line, const std::string& what) {
  throw InputError("--problem-file: " + path + ":" + std::to_string(line) + ": " + what);
}

// strtod over [p, end) that must consume all of it.
bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* stop = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &stop);
  return stop == text.c_str() + text.size() && errno == 0 && std::isfinite(out);
}

}  // namespace

SparseSamples read_libsvm(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("--problem-file: cannot open '" + path + "'");
  SparseSamples s;
  s.row_start.push_back(0);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::size_t pos = line.find_first_not_of(" \t\r");
    if (pos == std::string::npos) continue;
    auto next_token = [&]() {
      const std::size_t end = line.find_first_of(" \t\r", pos);
      std::string tok = line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? line.size() : line.find_first_not_of(" \t\r", end);
      if (pos == std::string::npos) pos = line.size();
      return tok;
    };
    const std::string label = next_token();
    double y = 0;
    if (!parse_number(label, y)) fail(path, number, "label '" + label + "' is not a number");
    Index last = 0;
    while (pos < line.size()) {
      const std::string pair = next_token();
      const std::size_t colon = pair.find(':');
      if (colon == std::string::npos) fail(path, number, "'" + pair + "' is not index:value");
      double idx = 0, v = 0;
      if (!parse_number(pair.substr(0, colon), idx) || idx != std::floor(idx) || idx < 1 || idx > 1e9)
        fail(path, number, "index '" + pair.substr(0, colon) + "' is not an integer >= 1");
      if (!parse_number(pair.substr(colon + 1), v)) fail(path, number, "value '" + pair.substr(colon + 1) + "' is not a number");
      const Index i = static_cast<Index>(idx);
      if (i <= last) fail(path, number, "index " + std::to_string(i) + " does not increase");
      last = i;
      s.index.push_back(i - 1);
      s.value.push_back(v);
    }
    if (last > s.features) s.features = last;
    s.labels.push_back(y);
    s.row_start.push_back(s.index.size());
  }
  if (in.bad()) throw InputError("--problem-file: read error in '" + path + "'");
  if (s.labels.empty()) throw InputError("--problem-file: '" + path + "' holds no samples");
  return s;
}

void write_libsvm(const std::string& path, const SparseSamples& s) {
  std::ofstream out(path);
  if (!out) throw InputError("cannot write '" + path + "'");
  out << std::setprecision(17);
  for (Index r = 0; r < s.rows(); ++r) {
    out << s.labels[static_cast<std::size_t>(r)];
    for (std::size_t k = s.row_start[static_cast<std::size_t>(r)]; k < s.row_start[static_cast<std::size_t>(r) + 1]; ++k)
      out << ' ' << s.index[k] + 1 << ':' << s.value[k];
    out << '\n';
  }
}

}  // namespace dposg::data
