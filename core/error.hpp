#pragma once
// The one error type for bad user input: the CLI turns it into one line on stderr and exit code 2.
#include <stdexcept>
#include <string>

namespace dposg {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace dposg
