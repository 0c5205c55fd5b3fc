#include "gan/gan_registry.hpp"

#include "data/mixture.hpp"
#include "gan/gan_data.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan {

const std::vector<Registration>& registered() {
  static const std::vector<Registration> list{
      {"gan-mog8", false,
       [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-mog8", data::GaussianMixture2D::ring8());
       }},
      {"gan-mog25", false,
       [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-mog25", data::GaussianMixture2D::grid25());
       }},
      {"gan-fashion", true, [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-fashion", fashion_mnist_data(o.gan_downscale, o.gan_classifier, o.gan_arch == "dcgan"));
       }},
      {"gan-cifar10", true, [](const GanOptions& o) -> std::unique_ptr<Problem> {
         return std::make_unique<GanProblem>(o, "gan-cifar10", cifar10_data(o.data_dir, o.gan_classifier, o.gan_arch == "dcgan"));
       }}};
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
