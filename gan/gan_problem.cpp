#include "core/omp_exceptions.hpp"
#include "gan/gan_problem.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "core/error.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/staging.hpp"

namespace dposg::gan {

GanLoss parse_gan_loss(const std::string& name) {
  if (name == "ns") return GanLoss::non_saturating;
  if (name == "wgan-clip") return GanLoss::wgan_clip;
  if (name == "wgan-gp") return GanLoss::wgan_gp;
  if (name == "hinge") return GanLoss::hinge;
  throw InputError("--gan-loss: expected 'ns', 'wgan-clip', 'wgan-gp' or 'hinge', got '" + name + "'");
}

GanArch parse_gan_arch(const std::string& name) {
  if (name == "mlp") return GanArch::mlp;
  if (name == "dcgan") return GanArch::dcgan;
  throw InputError("--gan-arch: expected 'mlp' or 'dcgan', got '" + name + "'");
}

std::string to_string(GanArch arch) { return arch == GanArch::dcgan ? "dcgan" : "mlp"; }

std::string to_string(GanLoss loss) {
  switch (loss) {
    case GanLoss::non_saturating: return "ns";
    case GanLoss::wgan_clip: return "wgan-clip";
    case GanLoss::wgan_gp: return "wgan-gp";
    case GanLoss::hinge: return "hinge";
  }
  return "ns";
}

namespace {

constexpr Index kMetricBatch = 512;        // loss_g, loss_d

Index positive_size(Index value, const std::string& option) {
  if (value < 1) throw InputError(option + ": must be >= 1, got " + std::to_string(value));
  return value;
}

MlpShape shape(Index inputs, Index outputs, const GanOptions& o) {
  MlpShape s;
  s.inputs = inputs;
  s.outputs = outputs;
  s.width = positive_size(o.gan_width, "--gan-width");
  s.depth = positive_size(o.gan_depth, "--gan-depth");
  s.activation = parse_activation(o.gan_activation);
  return s;
}

// sigmoid(x) and log(1 + e^x), stable for large |x|.
double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }

// Interpolates x^_j = eps_j real_j + (1 - eps_j) fake_j.
Matrix interpolate(const Matrix& real, const Matrix& fake, const Vector& eps) {
  Matrix x = fake;
  for (Index j = 0; j < x.cols(); ++j) x.col(j) = eps[j] * real.col(j) + (1.0 - eps[j]) * fake.col(j);
  return x;
}

// The operator and the losses of one point on one batch, written once for both architectures:
// Gen and Disc are Mlp<double> (--gan-arch mlp) or ConvNet (dcgan), which share the pass interface.
template <class Gen, class Disc>
void network_operator(const Gen& generator, const Disc& discriminator, GanLoss loss, double gp_lambda,
                      const double* u, const double* v, const GanBatch& batch, double* gu, double* gv) {
  const Index B = batch.real.cols();
  const double inv_b = 1.0 / static_cast<double>(B);
  typename Gen::Forward fg;
  typename Disc::Forward fr, ff;
  generator.forward(u, batch.latent, fg);
  const Matrix& fake = fg.out;
  discriminator.forward(v, batch.real, fr);
  discriminator.forward(v, fake, ff);

  Matrix d_fake;  // d (generator's loss) / d G(z)
  if (loss == GanLoss::non_saturating) {
    // L_D = E softplus(-l_real) + E softplus(l_fake); L_G = E softplus(-l_fake) (l: logits).
    Matrix d_real(1, B), d_fake_d(1, B), d_fake_g(1, B);
    for (Index j = 0; j < B; ++j) {
      d_real(0, j) = (sigmoid(fr.out(0, j)) - 1.0) * inv_b;
      const double s = sigmoid(ff.out(0, j));
      d_fake_d(0, j) = s * inv_b;
      d_fake_g(0, j) = (s - 1.0) * inv_b;
    }
    discriminator.backward(v, fr, d_real, gv, nullptr);
    discriminator.backward(v, ff, d_fake_d, gv, nullptr);
    discriminator.backward(v, ff, d_fake_g, nullptr, &d_fake);
  } else if (loss == GanLoss::hinge) {
    // L_D = E relu(1 - D(x)) + E relu(1 + D(G(z))), L_G = -E D(G(z)); relu'(0) = 0.
    Matrix d_real(1, B), d_fake_d(1, B);
    for (Index j = 0; j < B; ++j) {
      d_real(0, j) = 1.0 - fr.out(0, j) > 0.0 ? -inv_b : 0.0;
      d_fake_d(0, j) = 1.0 + ff.out(0, j) > 0.0 ? inv_b : 0.0;
    }
    discriminator.backward(v, fr, d_real, gv, nullptr);
    discriminator.backward(v, ff, d_fake_d, gv, nullptr);
    discriminator.backward(v, ff, Matrix::Constant(1, B, -inv_b), nullptr, &d_fake);
  } else {
    // g_v = -grad_v f = grad_v (-E D(x) + E D(G(z)) [+ lambda P]); g_u = grad_u f = grad_u (-E D(G(z)) [- lambda P]).
    Matrix dx_fake;
    discriminator.backward(v, fr, Matrix::Constant(1, B, -inv_b), gv, nullptr);
    discriminator.backward(v, ff, Matrix::Constant(1, B, inv_b), gv, &dx_fake);
    d_fake = -dx_fake;
    if (loss == GanLoss::wgan_gp && gp_lambda > 0.0) {
      const Matrix x_hat = interpolate(batch.real, fake, batch.eps);
      typename Disc::Forward fh;
      typename Disc::InputGradient ig;
      Matrix S;
      discriminator.forward(v, x_hat, fh);
      discriminator.input_gradient(v, fh, ig, S);
      // d (lambda P) / d s_j = lambda * 2 (||s_j|| - 1) s_j / (B ||s_j||).
      Matrix S_bar = Matrix::Zero(S.rows(), B);
      for (Index j = 0; j < B; ++j) {
        const double n = S.col(j).norm();
        if (n > 0.0) S_bar.col(j) = (gp_lambda * 2.0 * (n - 1.0) * inv_b / n) * S.col(j);
      }
      Matrix dx_hat;  // d (lambda P) / d x^
      discriminator.input_gradient_backward(v, fh, ig, S_bar, gv, &dx_hat);
      // f contains -lambda P, and d x^_j / d G(z_j) = 1 - eps_j.
      for (Index j = 0; j < B; ++j) d_fake.col(j) -= (1.0 - batch.eps[j]) * dx_hat.col(j);
    }
  }
  generator.backward(u, fg, d_fake, gu, nullptr);
}

template <class Gen>
Matrix network_generate(const Gen& generator, const double* u, const Matrix& latent) {
  typename Gen::Forward f;
  generator.forward(u, latent, f);
  return std::move(f.out);
}

template <class Gen, class Disc>
GanLosses network_losses(const Gen& generator, const Disc& discriminator, GanLoss loss, double gp_lambda,
                         const double* u, const double* v, const GanBatch& batch) {
  const Matrix fake = network_generate(generator, u, batch.latent);
  typename Disc::Forward fr, ff;
  discriminator.forward(v, batch.real, fr);
  discriminator.forward(v, fake, ff);
  const double B = static_cast<double>(batch.real.cols());
  GanLosses out;
  if (loss == GanLoss::non_saturating) {
    double ld = 0.0, lg = 0.0;
    for (Index j = 0; j < fr.out.cols(); ++j) {
      ld += softplus(-fr.out(0, j)) + softplus(ff.out(0, j));
      lg += softplus(-ff.out(0, j));
    }
    out.loss_d = ld / B;
    out.loss_g = lg / B;
    return out;
  }
  const double mean_real = fr.out.mean(), mean_fake = ff.out.mean();
  out.loss_g = -mean_fake;
  if (loss == GanLoss::hinge) {
    out.loss_d = (1.0 - fr.out.array()).max(0.0).mean() + (1.0 + ff.out.array()).max(0.0).mean();
    return out;
  }
  out.loss_d = -(mean_real - mean_fake);
  if (loss == GanLoss::wgan_gp) {
    typename Disc::Forward fh;
    typename Disc::InputGradient ig;
    Matrix S;
    discriminator.forward(v, interpolate(batch.real, fake, batch.eps), fh);
    discriminator.input_gradient(v, fh, ig, S);
    out.penalty = (S.colwise().norm().array() - 1.0).square().mean();
    out.loss_d += gp_lambda * out.penalty;
  }
  return out;
}

}  // namespace

GanProblem::GanProblem(const GanOptions& opts, std::string name, data::GaussianMixture2D mixture)
    : GanProblem(opts, std::move(name), std::make_shared<MixtureData>(std::move(mixture))) {}

GanProblem::GanProblem(const GanOptions& opts, std::string name, std::shared_ptr<const GanData> data)
    : name_(std::move(name)),
      data_(std::move(data)),
      loss_(parse_gan_loss(opts.gan_loss)),
      latent_(positive_size(opts.gan_latent, "--gan-latent")),
      gp_lambda_(opts.gan_gp_lambda),
      clip_(opts.gan_clip),
      shard_(opts.gan_shard),
      arch_(parse_gan_arch(opts.gan_arch)),
      device_(opts.device),
      cuda_device_(opts.cuda_device) {
  if (arch_ == GanArch::mlp) {
    generator_ = std::make_unique<Mlp<double>>(shape(latent_, data_->dim(), opts));
    discriminator_ = std::make_unique<Mlp<double>>(shape(data_->dim(), 1, opts));
    dim_u_ = generator_->num_params();
    dim_v_ = discriminator_->num_params();
  } else {
    const auto* images = dynamic_cast<const ImageData*>(data_.get());
    if (!images) throw InputError("--gan-arch: dcgan needs an image data set (gan-fashion, gan-cifar10), not " + name_);
    if (images->height() != images->width())
      throw InputError("--gan-arch: dcgan needs square images, " + name_ + " has " + std::to_string(images->height()) +
                       " x " + std::to_string(images->width()));
    ConvGanShape s;
    s.image_side = images->height();
    s.side = canvas_side(s.image_side);
    s.channels = images->channels();
    s.width = positive_size(opts.gan_width, "--gan-width");
    s.latent = latent_;
    s.activation = parse_activation(opts.gan_activation);
    if (s.activation == Activation::tanh)
      throw InputError("--gan-activation: dcgan takes 'relu' or 'leaky-relu' (piecewise linear), got 'tanh'");
    conv_ = std::make_unique<ConvNets>(
        ConvNets{ConvNet(s, ConvNet::Role::generator), ConvNet(s, ConvNet::Role::critic)});
    dim_u_ = conv_->generator.num_params();
    dim_v_ = conv_->critic.num_params();
  }
  if (!(std::isfinite(gp_lambda_) && gp_lambda_ >= 0.0))
    throw InputError("--gan-gp-lambda: must be finite and >= 0, got " + exact_text(gp_lambda_));
  if (!(std::isfinite(clip_) && clip_ > 0.0))
    throw InputError("--gan-clip: must be finite and > 0, got " + exact_text(clip_));
  if (device_ == "cuda")
    cuda_ = cuda::make_cuda_gan_operator(*this, opts.cuda_device);
  else if (device_ != "cpu" && device_ != "cpu-float")
    throw InputError("--device: expected 'cpu', 'cpu-float' or 'cuda', got '" + device_ + "'");
}

const Mlp<double>& GanProblem::generator() const {
  if (!generator_) throw std::logic_error(name_ + ": not an MLP GAN");
  return *generator_;
}
const Mlp<double>& GanProblem::discriminator() const {
  if (!discriminator_) throw std::logic_error(name_ + ": not an MLP GAN");
  return *discriminator_;
}
const ConvNet& GanProblem::conv_generator() const {
  if (!conv_) throw std::logic_error(name_ + ": not a dcgan GAN");
  return conv_->generator;
}
const ConvNet& GanProblem::conv_critic() const {
  if (!conv_) throw std::logic_error(name_ + ": not a dcgan GAN");
  return conv_->critic;
}

GanProblem::~GanProblem() = default;

const data::GaussianMixture2D& GanProblem::mixture() const {
  const auto* m = dynamic_cast<const MixtureData*>(data_.get());
  if (!m) throw std::logic_error(name_ + ": not a mixture GAN");
  return m->mixture();
}

double GanProblem::mmd_bandwidth() const { return 0.5 * mixture().min_mode_distance(); }

void GanProblem::exact(const Matrix&, Matrix&) const {
  throw std::logic_error(name_ + ": no exact operator (has_exact() is false)");
}

ProblemConstants GanProblem::constants() const {
  ProblemConstants k;  // L, G, D: infinity (unknown); x*: none
  k.sigma = std::numeric_limits<double>::quiet_NaN();  // unknown
  return k;
}

Vector GanProblem::acting_critic(const Eigen::Ref<const Vector>& z) const {
  const Vector v = z.tail(dim_v_);
  if (loss_ != GanLoss::wgan_clip) return v;
  return v.cwiseMax(-clip_).cwiseMin(clip_);
}

Matrix GanProblem::generate(const Eigen::Ref<const Vector>& z, const Matrix& latent) const {
  const Vector u = z.head(dim_u());
  return conv_ ? network_generate(conv_->generator, u.data(), latent) : network_generate(*generator_, u.data(), latent);
}

Matrix GanProblem::sample_generator(const Eigen::Ref<const Vector>& z, Rng& rng, Index n) const {
  Matrix latent(latent_, n);
  Eigen::Map<Vector> flat(latent.data(), latent.size());
  fill_normal(rng, 1.0, flat);
  return generate(z, latent);
}

void GanProblem::final_outputs(const Vector& z_bar, Rng& rng,
                               std::vector<std::pair<std::string, Matrix>>& out) const {
  // 2,500 points of a 2-D mixture (a scatter plot), 64 images (an 8 x 8 grid).
  const Index n = data_->dim() == 2 ? 2500 : 64;
  out.emplace_back("samples", sample_generator(z_bar, rng, n));
  Matrix real(data_->dim(), n);
  data_->sample(rng, 0, 1, real);
  out.emplace_back("real", std::move(real));
}

GanBatch GanProblem::draw_batch(Rng& rng, Index batch, Index column, Index columns) const {
  GanBatch b;
  b.real.resize(data_->dim(), batch);
  const Index shards = shard_ ? std::min(columns, data_->classes()) : 1;
  data_->sample(rng, column % shards, shards, b.real);
  b.latent.resize(latent_, batch);
  Eigen::Map<Vector> flat(b.latent.data(), b.latent.size());
  fill_normal(rng, 1.0, flat);
  if (loss_ == GanLoss::wgan_gp) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    b.eps.resize(batch);
    for (Index j = 0; j < batch; ++j) b.eps[j] = unit(rng);
  }
  return b;
}

void GanProblem::operator_on(const Eigen::Ref<const Vector>& z, const GanBatch& batch, Eigen::Ref<Vector> g) const {
  const Index nu = dim_u();
  const Vector u = z.head(nu);
  const Vector v = acting_critic(z);
  Vector grad = Vector::Zero(dim());
  if (conv_)
    network_operator(conv_->generator, conv_->critic, loss_, gp_lambda_, u.data(), v.data(), batch, grad.data(),
                     grad.data() + nu);
  else
    network_operator(*generator_, *discriminator_, loss_, gp_lambda_, u.data(), v.data(), batch, grad.data(),
                     grad.data() + nu);
  g = grad;
}

GanLosses GanProblem::losses_on(const Eigen::Ref<const Vector>& z, const GanBatch& batch) const {
  const Vector u = z.head(dim_u());
  const Vector v = acting_critic(z);
  if (conv_) return network_losses(conv_->generator, conv_->critic, loss_, gp_lambda_, u.data(), v.data(), batch);
  return network_losses(*generator_, *discriminator_, loss_, gp_lambda_, u.data(), v.data(), batch);
}

void GanProblem::sample(const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) const {
  check_sample_args(Z, dim(), batch, rngs, name_);
  if (cuda_) {
    cuda_->sample(*this, Z, batch, rngs, G);
    return;
  }
  if (device_ == "cpu-float") {
    cuda::float_cpu_sample(*this, Z, batch, rngs, G);
    return;
  }
  G.resize(Z.rows(), Z.cols());
  const Index columns = Z.cols();
  // Always a parallel region (the work per column is large): inside it Eigen's products run on one
  // thread, so a column's arithmetic never depends on the thread count.
  OmpExceptions errors;
#pragma omp parallel for schedule(static)
  for (Index i = 0; i < columns; ++i) {
    errors.run([&] {
      const GanBatch b = draw_batch(rngs[i], batch, i, columns);
      operator_on(Z.col(i), b, G.col(i));
    });
  }
  errors.rethrow();
}

void GanProblem::extra_metrics(const Vector& z_bar, Rng& rng, MetricsRow& row) const {
  const GanLosses l = losses_on(z_bar, draw_batch(rng, kMetricBatch, 0, 1));
  row.set("loss_g", l.loss_g);
  row.set("loss_d", l.loss_d);
  const Matrix fake = sample_generator(z_bar, rng, data_->metric_samples());
  data_->quality_metrics(fake, rng, row);
}

Vector GanProblem::worker_metrics(const Vector& z, Rng& rng) const {
  return data_->worker_scores(sample_generator(z, rng, data_->metric_samples()));
}

Vector GanProblem::initial_point(Rng& rng) const {
  Vector z(dim());
  if (conv_) {
    conv_->generator.init_params(rng, z.data());
    conv_->critic.init_params(rng, z.data() + dim_u());
  } else {
    generator_->init_params(rng, z.data());
    discriminator_->init_params(rng, z.data() + dim_u());
  }
  if (loss_ == GanLoss::wgan_clip) z.tail(dim_v_) = acting_critic(z);
  return z;
}

void GanProblem::write_instance(InstanceWriter& out) const {
  std::ostringstream f;
  if (conv_) {
    const ConvGanShape& s = conv_->generator.shape();
    f << name_ << ": DCGAN on " << data_->describe_text() << " z = (u, v): u = generator parameters (dim_u), "
      << "v = critic parameters (gan/conv_net.hpp). Canvas " << s.side << " x " << s.side << " (images of side "
      << s.image_side << " at offset " << (s.side - s.image_side) / 2
      << ", the critic's canvas filled with -1 around them), base width " << s.width << ", latent " << s.latent
      << " ~ N(0, I). Generator: conv-t k4 s1 latent -> 4 x 4, then conv-t k4 s2 p1 doubling the side and halving "
         "the channels, tanh output; critic: conv k4 s2 p1 halving the side and doubling the channels, then conv k4 "
         "4 x 4 -> 1; activation "
      << to_string(s.activation)
      << " after every hidden layer, no normalisation. Parameters per layer: weights (PyTorch's order) then biases. "
         "Loss '"
      << to_string(loss_) << "': ";
  } else {
    f << name_ << ": MLP GAN on " << data_->describe_text() << " z = (u, v): u = "
      << "generator parameters (dim_u), v = discriminator parameters. Each network: layers l = 1..L (L = depth + 1), "
         "h_0 = input, h_l = act(W_l h_{l-1} + b_l), linear last layer; parameters per layer in order W_l "
         "(n_l x n_{l-1}, column-major) then b_l. Generator latent -> width^depth -> 2 (latent ~ N(0, I)); "
         "discriminator 2 -> width^depth -> 1. Loss '"
      << to_string(loss_) << "': ";
  }
  switch (loss_) {
    case GanLoss::non_saturating:
      f << "D = sigmoid(logit); g = [grad_u L_G, grad_v L_D], L_G = -E log D(G(z)), "
           "L_D = -(E log D(x) + E log(1 - D(G(z)))) (not the gradient field of a single f).";
      break;
    case GanLoss::wgan_clip:
      f << "f = E D_c(x) - E D_c(G(z)), c = clip(v, -clip, clip); g = [grad_u f, -grad_w f(u, w)] at w = clip(v) "
           "(clipping as a projection where the operator is evaluated).";
      break;
    case GanLoss::wgan_gp:
      f << "f = E D(x) - E D(G(z)) - gp_lambda E (||grad_x D(x^)|| - 1)^2, x^ = eps x + (1 - eps) G(z), "
           "eps ~ U(0, 1); g = [grad_u f, -grad_v f] exactly (penalty through v and through x^'s G(z)).";
      break;
    case GanLoss::hinge:
      f << "g = [grad_u L_G, grad_v L_D], L_G = -E D(G(z)), L_D = E relu(1 - D(x)) + E relu(1 + D(G(z))).";
      break;
  }
  f << " Minibatch per worker from its own stream: B data samples (mode uniform, then 2 normals), then latent "
       "codes, then eps (wgan-gp). shard = 1: worker i draws data only from modes k = i mod S, S = min(M, K). "
       "Metrics: loss_g, loss_d on 512 samples; modes_covered, high_quality_fraction (within 3 std of the "
       "nearest mode) over 2500 generator samples; mmd = unbiased squared MMD, Gaussian kernel of bandwidth "
       "mmd_bandwidth, 1000 generator vs 1000 data samples. L, G, D, sigma unknown.";
  out.text("formula", f.str());
  out.text("loss", to_string(loss_));
  if (conv_) {
    const ConvGanShape& s = conv_->generator.shape();
    out.text("arch", "dcgan");
    out.text("activation", to_string(s.activation));
    out.scalar("width", static_cast<double>(s.width));
    out.scalar("canvas_side", static_cast<double>(s.side));
    out.scalar("image_channels", static_cast<double>(s.channels));
    // float32 bytes of u and v together: the paper's "model size" (8.36 MB for its CIFAR-10 WGAN-GP).
    out.scalar("model_bytes_float32", 4.0 * static_cast<double>(dim()));
  } else {
    out.text("activation", to_string(generator_->shape().activation));
  }
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(dim_u()));
  if (!conv_) {
    out.scalar("width", static_cast<double>(generator_->shape().width));
    out.scalar("depth", static_cast<double>(generator_->shape().depth));
  }
  out.scalar("latent", static_cast<double>(latent_));
  out.scalar("generator_params", static_cast<double>(dim_u_));
  out.scalar("discriminator_params", static_cast<double>(dim_v_));
  out.scalar("gp_lambda", gp_lambda_);
  out.scalar("clip", clip_);
  out.scalar("shard", shard_ ? 1.0 : 0.0);
  data_->describe(out);
  write_constants(out, constants());
}

}  // namespace dposg::gan
