#pragma once
// The one error type for bad user input: the CLI turns it into one line on stderr and exit code 2.
#include <sstream>
#include <stdexcept>
#include <string>

namespace dposg {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
};

// A double as an error message quotes it: 17 significant digits, so the user sees the value read.
inline std::string exact_text(double x) {
  std::ostringstream s;
  s.precision(17);
  s << x;
  return s.str();
}

}  // namespace dposg
