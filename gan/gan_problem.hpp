#pragma once
// gan-mog8, gan-mog25: an MLP GAN on a 2-D Gaussian mixture as a Problem (DESIGN.md §2, §3, §6).
// The driver, mixers and step rules see only the d-vector z = (u, v) and the operator g; nothing in
// them knows that this is a GAN.
//
// Parameters: z = (u, v), u = the generator's parameters (dim_u() of them), v = the discriminator's.
// Each is an Mlp's flat vector (gan/mlp.hpp): for layer l = 1..L in order, W_l column-major then b_l.
//   generator     G_u: latent (--gan-latent) -> width x depth (--gan-width, --gan-depth) -> 2, linear output
//   discriminator D_v: 2 -> width x depth -> 1, linear output (a logit for ns, a critic value for WGAN)
// Hidden activation --gan-activation (relu, leaky-relu 0.2, tanh) in both networks. --dim and --noise
// are not used: d follows from the architecture, and the noise is the minibatch's.
//
// Minibatch of worker i (column i of Z), drawn from rngs[i] in this order: B real samples from the
// mixture (data/mixture.hpp: per sample the mode, then 2 normals), then the latent codes
// z_j ~ N(0, I) (latent x B, column by column), then for wgan-gp eps_j ~ U(0, 1), j = 1..B.
// sample() is draw_batch() followed by operator_on(): tests redraw the same batch from the same
// stream and reproduce every column exactly.
//
// Losses (f is minimised by u and maximised by v; g = [grad_u f, -grad_v f]; E is the minibatch mean):
//   ns        (non-saturating GAN, Goodfellow et al. 2014). D(x) = sigmoid(D_v(x)).
//             The discriminator minimises L_D = -(E log D(x) + E log(1 - D(G(z)))), the generator
//             minimises L_G = -E log D(G(z)); the operator is g = [grad_u L_G, grad_v L_D].
//             These are two different objectives, so this g is NOT the gradient field
//             [grad_u f, -grad_v f] of any single f: it is the usual GAN practice, which the paper's
//             framework admits as an operator (its experiments train GANs this way).
//   wgan-clip (Arjovsky et al. 2017). f(u, v) = E D_c(x) - E D_c(G(z)) with c = clip(v, -clip, clip)
//             elementwise (--gan-clip). A Problem cannot change the iterate after a step, so the
//             clipping is a projection applied where the operator is evaluated: g(u, v) =
//             [grad_u f, -grad_w f(u, w)] at w = clip(v) (v itself may leave the box; only clip(v)
//             acts). This keeps the critic bounded: the paper's example for the boundedness
//             assumption of Theorem 1 (Sec. 4, the remarks after Theorem 1). A coordinate of v outside the box must travel back before clip(v)
//             changes again (a lag that true clipping after each step does not have). initial_point
//             starts v inside the box.
//   wgan-gp   (Gulrajani et al. 2017). f(u, v) = E D(x) - E D(G(z)) - lambda E (||grad_x D(x^)|| - 1)^2,
//             x^_j = eps_j x_j + (1 - eps_j) G(z_j), lambda = --gan-gp-lambda. g is the exact gradient
//             field of this single f: the penalty enters grad_v (double backward through the critic)
//             and also grad_u, through x^'s dependence on G(z) (implementations that detach x^ from
//             the generator drop that term). Where grad_x D(x^) = 0 the penalty's gradient is taken as 0.
//
// Metrics (extra_metrics at z̄, from the evaluation stream, in this order): a batch of 512 as above
// (whole mixture) gives loss_g and loss_d: ns: L_G and L_D; WGAN: loss_g = -E D(G(z)),
// loss_d = -(E D(x) - E D(G(z))) (+ lambda * penalty for wgan-gp) with the critic at clip(v) for
// wgan-clip. Then 2,500 generator samples give modes_covered and high_quality_fraction
// (data/mixture.hpp, 3 standard deviations); the first 1,000 of them and 1,000 fresh data samples give
// mmd, the unbiased squared MMD with a Gaussian kernel of bandwidth half the smallest distance between
// two modes (ring8: 0.383, grid25: 1), recorded as mmd_bandwidth.
//
// --gan-shard: worker i (column i of Z) samples real data only from shard i mod S of S = min(M, K)
// shards (K modes; shard s holds the modes k = s mod S), so the global objective averages the
// shards' objectives. The shard is the column index within Z, i.e. the worker index of the in-process
// simulator; z̄ (evaluated as a one-column Z) sees the whole mixture.
//
// Constants: L, G, D unknown (infinity); sigma unknown (NaN); x* unknown (none). has_exact() is false:
// grad_norm_sq is the large-batch estimate of the driver (--eval-batch per worker).
//
// sample() evaluates the columns in an `omp parallel for` (each column draws only from rngs[i]; Eigen's
// own threading stays off inside the parallel region), so results do not depend on the thread count.
//
// --device cpu-float: sample() runs the same batched float32 algorithm as the GPU on the CPU, with
// Eigen's float GEMM per worker (gan/cuda/staging.hpp, float_cpu_sample); metrics as for cuda.
// --device cuda (opts.device): sample() runs on the GPU instead (gan/cuda/cuda_gan_operator.hpp): the
// same batches, drawn on the host from the same streams, and the same operator in float32 for all
// workers at once. Everything else (metrics, losses_on, operator_on) stays on the CPU in double.
#include <memory>
#include <string>

#include "core/problem.hpp"
#include "gan/gan_options.hpp"
#include "data/mixture.hpp"
#include "gan/gan_data.hpp"
#include "gan/conv_net.hpp"
#include "gan/mlp.hpp"

namespace dposg::gan {

// --gan-arch: mlp (gan/mlp.hpp) or dcgan (gan/conv_net.hpp; image data sets; every --device, the float
// ones through gan/cuda/batched_conv.hpp).
enum class GanArch { mlp, dcgan };
GanArch parse_gan_arch(const std::string& name);  // InputError naming --gan-arch
std::string to_string(GanArch arch);

namespace cuda {
class CudaGanOperator;
}

enum class GanLoss { non_saturating, wgan_clip, wgan_gp, hinge };
// "ns" | "wgan-clip" | "wgan-gp" | "hinge"; throws InputError naming --gan-loss otherwise.
// hinge (Lim & Ye 2017; Miyato et al. 2018): L_D = E relu(1 - D(x)) + E relu(1 + D(G(z))),
// L_G = -E D(G(z)), g = [grad_u L_G, grad_v L_D] (two objectives, as ns).
GanLoss parse_gan_loss(const std::string& name);
std::string to_string(GanLoss loss);

// One worker's minibatch.
struct GanBatch {
  Matrix real;    // 2 x B data samples
  Matrix latent;  // latent x B generator inputs
  Vector eps;     // B interpolation weights (wgan-gp only, empty otherwise)
};

struct GanLosses {
  double loss_g = 0.0;   // see the header comment
  double loss_d = 0.0;
  double penalty = 0.0;  // wgan-gp: E (||grad_x D(x^)|| - 1)^2, else 0
};

class GanProblem final : public Problem {
 public:
  // Builds the problem named `name` on `mixture` from the gan_* fields of opts (InputError naming the
  // option on bad values).
  // opts.device: "cpu" or "cuda" (InputError naming --device otherwise, or when CUDA is unavailable).
  GanProblem(const GanOptions& opts, std::string name, data::GaussianMixture2D mixture);
  // The same on any data (gan/gan_data.hpp: mixtures, image sets); generator output and
  // discriminator input have data->dim() features.
  GanProblem(const GanOptions& opts, std::string name, std::shared_ptr<const GanData> data);
  ~GanProblem() override;

  std::string name() const override { return name_; }
  Index dim() const override { return dim_u_ + dim_v_; }
  Index dim_u() const override { return dim_u_; }
  void sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const override;
  bool has_exact() const override { return false; }
  void exact(const Matrix& Z, Matrix& G) const override;  // throws std::logic_error: no exact operator
  ProblemConstants constants() const override;
  void write_instance(InstanceWriter& out) const override;
  void extra_metrics(const Vector& z_bar, Rng& rng, MetricsRow& row) const override;
  Vector initial_point(Rng& rng) const override;
  // The data's per-worker scores (image sets with the conv classifier: is_classifier) of
  // metric_samples() samples of worker z's own generator.
  std::vector<std::string> worker_metric_names() const override { return data_->worker_metric_names(); }
  Vector worker_metrics(const Vector& z, Rng& rng) const override;
  // final/samples: 2 x 2,500 generator samples at z̄; final/real: 2 x 2,500 data samples (for plots).
  void final_outputs(const Vector& z_bar, Rng& rng, std::vector<std::pair<std::string, Matrix>>& out) const override;

  // The pieces of sample(), for tests and tools.
  GanLoss loss() const { return loss_; }
  double gp_lambda() const { return gp_lambda_; }
  double clip() const { return clip_; }
  bool shard() const { return shard_; }
  const std::string& device() const { return device_; }
  int cuda_device() const { return cuda_device_; }  // the GPU ordinal of --device cuda
  GanArch arch() const { return arch_; }
  // The MLP networks (--gan-arch mlp; std::logic_error for dcgan).
  const Mlp<double>& generator() const;
  const Mlp<double>& discriminator() const;
  // The convolutional networks (--gan-arch dcgan; std::logic_error for mlp).
  const ConvNet& conv_generator() const;
  const ConvNet& conv_critic() const;
  const GanData& data() const { return *data_; }
  const data::GaussianMixture2D& mixture() const;  // std::logic_error unless the data is a mixture
  double mmd_bandwidth() const;                      // mixtures only

  // The minibatch of column `column` of a Z with `columns` columns (the shard follows from them).
  GanBatch draw_batch(Rng& rng, Index batch, Index column, Index columns) const;
  // g(z; batch) for one point z (dim()).
  void operator_on(const Eigen::Ref<const Vector>& z, const GanBatch& batch, Eigen::Ref<Vector> g) const;
  // The losses at z on the batch (forward passes only; the critic at clip(v) for wgan-clip).
  GanLosses losses_on(const Eigen::Ref<const Vector>& z, const GanBatch& batch) const;
  // Generator samples G_u(latent), 2 x latent.cols(), u = z.head(dim_u()).
  Matrix generate(const Eigen::Ref<const Vector>& z, const Matrix& latent) const;
  // n generator samples from fresh latent codes (latent x n standard normals from rng, column by
  // column): what extra_metrics scores, and what a run can store under final/.
  Matrix sample_generator(const Eigen::Ref<const Vector>& z, Rng& rng, Index n) const;
  // The discriminator parameters that act at z: v, or clip(v) for wgan-clip.
  Vector acting_critic(const Eigen::Ref<const Vector>& z) const;

 private:
  std::string name_;
  std::shared_ptr<const GanData> data_;
  GanLoss loss_;
  Index latent_;
  double gp_lambda_, clip_;
  bool shard_;
  GanArch arch_;
  std::unique_ptr<Mlp<double>> generator_, discriminator_;  // mlp
  struct ConvNets {
    ConvNet generator, critic;
  };
  std::unique_ptr<ConvNets> conv_;  // dcgan
  Index dim_u_ = 0, dim_v_ = 0;
  std::string device_;
  int cuda_device_ = 0;
  std::unique_ptr<cuda::CudaGanOperator> cuda_;  // set when device_ == "cuda"
};

}  // namespace dposg::gan
