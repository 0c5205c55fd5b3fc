#include "gan/gan_registry.hpp"

#include "data/mixture.hpp"
#include "gan/gan_data.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan {

namespace {

// DP-OAdam's settings that learn the 8-Gaussian ring on 8 workers (tests/test_gan_training.cpp:
// 7-8 modes, 0.72-0.90 high-quality over seeds 1..6, ~35 s on 2 cores): small networks, the
// discriminator stepping 5x faster, Adam moments that keep the modes sharp, a batch of 64.
const std::vector<std::pair<std::string, std::string>> kMixtureDefaults{
    {"gan-width", "64"}, {"lr", "1e-4"},      {"lr-v", "5e-4"},       {"beta1", "0.8"},
    {"beta2", "0.999"},  {"iters", "20000"}, {"batch", "64"},        {"log-every", "1000"},
    {"eval-batch", "64"}};

// The grid of 25 with kMixtureDefaults ended at 16-18 modes, 0.05-0.08 high-quality. Both players
// step at 5e-4 here: five times the ring's generator step moves the generator across the grid
// (spacing 2, four times the ring's radius) in the same 20000 iterations, and a discriminator no
// faster than the generator keeps the modes (lr-v = 5 lr sharpened the samples to 0.76-0.81 but kept
// 10-12 modes; 2 lr: 16 modes, 0.19). A third hidden layer (about twice the ring's cost) sharpens
// the samples at the same coverage: depth 2 reached 16-20 modes, 0.08-0.16 high-quality over seeds
// 1..4. Reached with these, seeds 1..4: 16, 20, 17, 16 modes, high-quality 0.01-0.07 -> 0.41,
// 0.37, 0.31, 0.36 (tests/test_gan_defaults.cpp, label slow, seeds 1 and 2). Not yet sharp: part of
// the samples still lies on lines between modes.
const std::vector<std::pair<std::string, std::string>> kGridDefaults{
    {"gan-width", "64"},  {"gan-depth", "3"}, {"lr", "5e-4"},      {"lr-v", "5e-4"},
    {"beta1", "0.8"},     {"beta2", "0.999"}, {"iters", "20000"},  {"batch", "64"},
    {"log-every", "1000"}, {"eval-batch", "64"}};

// The measured Fashion-MNIST settings of gan/README.md (fd_classifier 171.6 -> 22.7 by 2000
// iterations on 4 workers) at half their length: a wider generator with a 32-d latent code. With
// these only, 8 workers, seed 1: fd_classifier 187.7 -> 29.5, classes_covered 5 -> 9
// (tests/test_gan_defaults.cpp, label slow).
const std::vector<std::pair<std::string, std::string>> kFashionDefaults{
    {"gan-width", "256"}, {"gan-latent", "32"}, {"lr", "2e-4"},     {"lr-v", "2e-4"},
    {"beta1", "0.5"},     {"beta2", "0.999"},   {"iters", "2000"},  {"batch", "32"},
    {"log-every", "250"}, {"eval-batch", "16"}};

}  // namespace

const std::vector<Registration>& registered() {
  static const std::vector<Registration> list{
      {"gan-mog8", false,
       [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-mog8", data::GaussianMixture2D::ring8());
       },
       kMixtureDefaults},
      {"gan-mog25", false,
       [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-mog25", data::GaussianMixture2D::grid25());
       },
       kGridDefaults},
      {"gan-fashion", true,
       [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-fashion",
                                             fashion_mnist_data(o.gan_downscale, o.gan_classifier, o.gan_arch == "dcgan"));
       },
       kFashionDefaults},
      // No defaults of its own: CIFAR-10 is the dcgan's data set, whose sizes apply_arch_defaults sets.
      {"gan-cifar10", true,
       [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-cifar10",
                                             cifar10_data(o.data_dir, o.gan_classifier, o.gan_arch == "dcgan"));
       },
       {}}};
  return list;
}

bool is_gan_name(const std::string& name) { return name.rfind("gan-", 0) == 0; }

void write_attributes(const Registration& problem, const GanOptions& o, RunWriter& w) {
  // Written only for dcgan, so that the attributes of every MLP run stay as they were.
  if (o.gan_arch != "mlp") w.set_attr("gan_arch", o.gan_arch);
  w.set_attr("gan_loss", o.gan_loss);
  w.set_attr("gan_width", static_cast<std::int64_t>(o.gan_width));
  if (o.gan_arch == "mlp") w.set_attr("gan_depth", static_cast<std::int64_t>(o.gan_depth));
  w.set_attr("gan_latent", static_cast<std::int64_t>(o.gan_latent));
  w.set_attr("gan_activation", o.gan_activation);
  w.set_attr("gan_gp_lambda", o.gan_gp_lambda);
  w.set_attr("gan_clip", o.gan_clip);
  w.set_attr("gan_shard", static_cast<std::int64_t>(o.gan_shard));
  if (problem.images) {
    if (problem.name == "gan-fashion") w.set_attr("gan_downscale", static_cast<std::int64_t>(o.gan_downscale));
    else w.set_attr("data_dir", o.data_dir);
    w.set_attr("gan_classifier", o.gan_classifier);
  }
  w.set_attr("device", o.device);
}

}  // namespace dposg::gan
