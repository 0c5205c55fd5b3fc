#pragma once
// The synthetic problems' registration: each name is written once, here (app/problem_catalog.hpp
// combines this list with the GAN problems').
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.hpp"
#include "core/recorder.hpp"
#include "problems/options.hpp"

namespace dposg::problems {

// A problem's own default of a `dposg run` option: (option without dashes, value as typed). Used
// where one value cannot serve every problem; an option the user gives wins (cli/problem_defaults.hpp).
using OptionDefaults = std::vector<std::pair<std::string, std::string>>;

struct Registration {
  std::string name;
  std::function<std::unique_ptr<Problem>(const SyntheticOptions&)> make;
  // None yet: the global defaults (cli/options.cpp) are the synthetic problems' own.
  OptionDefaults defaults;
  // Draws its noise as normals per call (an AdditiveNoiseProblem), so --noise-normals applies.
  bool additive_noise = false;
};

// In the order of `--problem`'s help and of problem_names().
const std::vector<Registration>& registered();

// The synthetic options as run attributes (every run records them, whatever its problem).
void write_attributes(const SyntheticOptions& o, RunWriter& w);

}  // namespace dposg::problems
