#include "problems/registry.hpp"

#include <type_traits>

#include "problems/bilinear.hpp"
#include "problems/forsaken.hpp"
#include "problems/gaussian_wgan.hpp"
#include "problems/pl_game.hpp"
#include "problems/quadratic_file.hpp"
#include "problems/robust_regression.hpp"
#include "problems/star.hpp"

namespace dposg::problems {

namespace {
template <class P>
Registration entry(const char* name) {
  return {name, [](const SyntheticOptions& o) -> std::unique_ptr<Problem> { return std::make_unique<P>(o); }, {},
          std::is_base_of_v<AdditiveNoiseProblem, P>};
}
}  // namespace

const std::vector<Registration>& registered() {
  static const std::vector<Registration> list{entry<BilinearProblem>("bilinear"), entry<StarProblem>("star"),
                                              entry<GaussianWganProblem>("gaussian-wgan"),
                                              entry<QuadraticFileProblem>("quadratic-file"),
                                              entry<ForsakenProblem>("forsaken"),
                                              entry<PlGameProblem>("pl-game"),
                                              entry<RobustRegressionProblem>("robust-regression")};
  return list;
}

void write_attributes(const SyntheticOptions& o, RunWriter& w) {
  w.set_attr("noise", o.noise);
  w.set_attr("noise_normals", o.noise_normals);
  w.set_attr("cond", o.cond);
  w.set_attr("coupling", o.coupling);
  w.set_attr("alpha", o.alpha);
  w.set_attr("coupling_matrix", o.coupling_matrix);
  w.set_attr("solution_norm", o.solution_norm);
  w.set_attr("problem_file", o.file);
}

}  // namespace dposg::problems
