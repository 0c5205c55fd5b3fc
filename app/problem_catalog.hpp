#pragma once
// The problem choice of a run: a name and the options of both families (the synthetic problems of
// problems/ and the GANs of gan/, which register their names themselves), and the one catalog that
// maps a name to its family.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.hpp"
#include "core/recorder.hpp"
#include "gan/gan_options.hpp"
#include "problems/options.hpp"

namespace dposg {

struct ProblemOptions : problems::SyntheticOptions, gan::GanOptions {
  std::string name = "star";
};

// Builds a problem by name; throws InputError naming the option on bad input.
std::unique_ptr<Problem> make_problem(const ProblemOptions& opts);
// Every registered name: the synthetic problems, then the GANs.
std::vector<std::string> problem_names();

// The problem's own defaults of `dposg run` options, (option without dashes, value as typed), from
// its registration; empty for the synthetic problems (the global defaults are theirs) and for an
// unknown name (make_problem reports it).
std::vector<std::pair<std::string, std::string>> problem_defaults(const std::string& name);
// What `--init auto` starts from: "problem" (a standard random initialisation) for networks, whose
// units stay identical from a zero start, "zero" (Algorithm 1's Z0 = X0 = 0) for everything else.
std::string natural_init(const std::string& name);
// Whether the problem of this name draws its noise as normals per call (bilinear, star, forsaken,
// pl-game, quadratic-file): the problems --noise-normals applies to.
bool draws_additive_noise(const std::string& name);

// The problem's part of the run attributes: its name and dimensions, the synthetic options (every
// run records them) and, for a GAN, the GAN options.
void write_problem_attributes(const ProblemOptions& opts, const Problem& p, RunWriter& w);

}  // namespace dposg
