// make_problem / problem_names: the one place that maps --problem names to problems.
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/problem.hpp"
#include "data/mixture.hpp"
#include "gan/gan_problem.hpp"
#include "problems/bilinear.hpp"
#include "problems/forsaken.hpp"
#include "problems/gaussian_wgan.hpp"
#include "problems/quadratic_file.hpp"
#include "problems/star.hpp"

namespace dposg {

std::vector<std::string> problem_names() {
  return {"bilinear", "star", "gaussian-wgan", "quadratic-file", "forsaken", "gan-mog8", "gan-mog25", "gan-fashion"};
}

std::unique_ptr<Problem> make_problem(const ProblemOptions& opts) {
  using namespace problems;
  if (opts.coupling_matrix != "dense" && opts.name != "star")
    throw InputError("--coupling-matrix: only --problem star has a diagonal form, got --problem " + opts.name);
  // --device: the GAN problems check it themselves (and build their CUDA operator); every other problem
  // runs on the CPU only.
  if (opts.name.rfind("gan-", 0) != 0 && opts.device != "cpu") {
    if (opts.device == "cuda" || opts.device == "cpu-float")
      throw InputError("--device: '" + opts.device +
                       "' is available for the GAN problems (gan-mog8, gan-mog25, gan-fashion) only, not '" +
                       opts.name + "'");
    throw InputError("--device: expected 'cpu', 'cpu-float' or 'cuda', got '" + opts.device + "'");
  }
  if (opts.name == "bilinear") return std::make_unique<BilinearProblem>(opts);
  if (opts.name == "star") return std::make_unique<StarProblem>(opts);
  if (opts.name == "gaussian-wgan") return std::make_unique<GaussianWganProblem>(opts);
  if (opts.name == "quadratic-file") return std::make_unique<QuadraticFileProblem>(opts);
  if (opts.name == "forsaken") return std::make_unique<ForsakenProblem>(opts);
  if (opts.name == "gan-mog8")
    return std::make_unique<gan::GanProblem>(opts, "gan-mog8", data::GaussianMixture2D::ring8());
  if (opts.name == "gan-mog25")
    return std::make_unique<gan::GanProblem>(opts, "gan-mog25", data::GaussianMixture2D::grid25());
  if (opts.name == "gan-fashion")
    return std::make_unique<gan::GanProblem>(opts, "gan-fashion",
                                             gan::fashion_mnist_data(opts.gan_downscale, opts.gan_classifier));
  std::string known;
  for (const auto& n : problem_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("--problem: unknown problem '" + opts.name + "' (known: " + known + ")");
}

}  // namespace dposg
