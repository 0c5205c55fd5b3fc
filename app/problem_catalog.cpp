#include "app/problem_catalog.hpp"

#include "core/error.hpp"
#include "gan/gan_registry.hpp"
#include "problems/common.hpp"
#include "problems/registry.hpp"

namespace dposg {

namespace {

template <class List>
const typename List::value_type* entry_named(const List& list, const std::string& name) {
  for (const auto& r : list)
    if (r.name == name) return &r;
  return nullptr;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::vector<std::string> problem_names() {
  std::vector<std::string> names;
  for (const auto& r : problems::registered()) names.push_back(r.name);
  for (const auto& r : gan::registered()) names.push_back(r.name);
  return names;
}

std::vector<std::pair<std::string, std::string>> problem_defaults(const std::string& name) {
  if (const auto* r = entry_named(problems::registered(), name)) return r->defaults;
  if (const auto* r = entry_named(gan::registered(), name)) return r->defaults;
  return {};
}

std::string natural_init(const std::string& name) {
  return entry_named(gan::registered(), name) ? "problem" : "zero";
}

bool draws_additive_noise(const std::string& name) {
  const auto* r = entry_named(problems::registered(), name);
  return r && r->additive_noise;
}

std::unique_ptr<Problem> make_problem(const ProblemOptions& opts) {
  if (opts.coupling_matrix != "dense" && opts.name != "star")
    throw InputError("--coupling-matrix: only --problem star has a diagonal form, got --problem " + opts.name);
  const auto* synthetic = entry_named(problems::registered(), opts.name);
  const auto* gan = entry_named(gan::registered(), opts.name);
  // --device: the GAN problems check it themselves (and build their CUDA operator); every other problem
  // runs on the CPU only (an unknown name spelled like a GAN's is reported as unknown instead).
  if (!gan && opts.device != "cpu" && (synthetic || !gan::is_gan_name(opts.name))) {
    if (opts.device == "cuda" || opts.device == "cpu-float") {
      std::vector<std::string> gans;
      for (const auto& r : gan::registered()) gans.push_back(r.name);
      throw InputError("--device: '" + opts.device + "' is available for the GAN problems (" + joined(gans) +
                       ") only, not '" + opts.name + "'");
    }
    throw InputError("--device: expected 'cpu', 'cpu-float' or 'cuda', got '" + opts.device + "'");
  }
  problems::noise_normals(opts);  // the value itself, for every problem
  if (opts.noise_normals != "std") {
    // Only the additive-noise problems draw normals per call; the others draw data samples (and
    // latent codes) whose numbers --noise-normals would not change, so it must not look like it did.
    if (!draws_additive_noise(opts.name)) {
      std::vector<std::string> additive;
      for (const auto& r : problems::registered())
        if (r.additive_noise) additive.push_back(r.name);
      throw InputError("--noise-normals: '" + opts.noise_normals + "' is for the problems with additive Gaussian noise "
                       "(" + joined(additive) + "), not '" + opts.name + "'");
    }
  }
  if (synthetic) return synthetic->make(opts);
  if (gan) return gan->make(opts);
  throw InputError("--problem: unknown problem '" + opts.name + "' (known: " + joined(problem_names()) + ")");
}

void write_problem_attributes(const ProblemOptions& opts, const Problem& p, RunWriter& w) {
  w.set_attr("problem", opts.name);
  w.set_attr("dim", static_cast<std::int64_t>(p.dim()));
  w.set_attr("dim_u", static_cast<std::int64_t>(p.dim_u()));
  problems::write_attributes(opts, w);
  if (const auto* gan = entry_named(gan::registered(), opts.name)) gan::write_attributes(*gan, opts, w);
}

}  // namespace dposg
