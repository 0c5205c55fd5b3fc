#pragma once
// The synthetic problems' registration: each name is written once, here (app/problem_catalog.hpp
// combines this list with the GAN problems').
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/problem.hpp"
#include "core/recorder.hpp"
#include "problems/options.hpp"

namespace dposg::problems {

struct Registration {
  std::string name;
  std::function<std::unique_ptr<Problem>(const SyntheticOptions&)> make;
};

// In the order of `--problem`'s help and of problem_names().
const std::vector<Registration>& registered();

// The synthetic options as run attributes (every run records them, whatever its problem).
void write_attributes(const SyntheticOptions& o, RunWriter& w);

}  // namespace dposg::problems
