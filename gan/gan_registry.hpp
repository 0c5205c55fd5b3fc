#pragma once
// The GAN problems' registration: each name is written once, here (app/problem_catalog.hpp
// combines this list with the synthetic problems').
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.hpp"
#include "core/recorder.hpp"
#include "gan/gan_options.hpp"

namespace dposg::gan {

struct Registration {
  std::string name;
  bool images = false;  // an image data set: --gan-downscale and --gan-classifier apply
  std::function<std::unique_ptr<Problem>(const GanOptions&)> make;
  // The problem's own defaults of `dposg run` options, (option without dashes, value as typed): a
  // GAN needs other step sizes, batches and lengths than the synthetic problems the global defaults
  // are for. An option the user gives wins (cli/problem_defaults.hpp).
  std::vector<std::pair<std::string, std::string>> defaults;
};

// In the order of `--problem`'s help and of problem_names().
const std::vector<Registration>& registered();

// The GANs' naming convention ("gan-..."): an unknown name spelled so is taken for a GAN's.
bool is_gan_name(const std::string& name);

// The GAN options of a run of `problem` as run attributes.
void write_attributes(const Registration& problem, const GanOptions& o, RunWriter& w);

}  // namespace dposg::gan
