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
  throw InputError("--gan-loss: expected 'ns', 'wgan-clip' or 'wgan-gp', got '" + name + "'");
}

std::string to_string(GanLoss loss) {
  switch (loss) {
    case GanLoss::non_saturating: return "ns";
    case GanLoss::wgan_clip: return "wgan-clip";
    case GanLoss::wgan_gp: return "wgan-gp";
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
      generator_(shape(latent_, data_->dim(), opts)),
      discriminator_(shape(data_->dim(), 1, opts)),
      device_(opts.device),
      cuda_device_(opts.cuda_device) {
  if (!(std::isfinite(gp_lambda_) && gp_lambda_ >= 0.0))
    throw InputError("--gan-gp-lambda: must be finite and >= 0, got " + exact_text(gp_lambda_));
  if (!(std::isfinite(clip_) && clip_ > 0.0))
    throw InputError("--gan-clip: must be finite and > 0, got " + exact_text(clip_));
  if (device_ == "cuda")
    cuda_ = cuda::make_cuda_gan_operator(*this, opts.cuda_device);
  else if (device_ != "cpu" && device_ != "cpu-float")
    throw InputError("--device: expected 'cpu', 'cpu-float' or 'cuda', got '" + device_ + "'");
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
  const Vector v = z.tail(discriminator_.num_params());
  if (loss_ != GanLoss::wgan_clip) return v;
  return v.cwiseMax(-clip_).cwiseMin(clip_);
}

Matrix GanProblem::generate(const Eigen::Ref<const Vector>& z, const Matrix& latent) const {
  const Vector u = z.head(dim_u());
  Mlp<double>::Forward f;
  generator_.forward(u.data(), latent, f);
  return std::move(f.out);
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
  const Index B = batch.real.cols();
  const double inv_b = 1.0 / static_cast<double>(B);
  Vector grad = Vector::Zero(dim());
  double* gu = grad.data();
  double* gv = grad.data() + nu;

  Mlp<double>::Forward fg, fr, ff;
  generator_.forward(u.data(), batch.latent, fg);
  const Matrix& fake = fg.out;
  discriminator_.forward(v.data(), batch.real, fr);
  discriminator_.forward(v.data(), fake, ff);

  Matrix d_fake;  // d (generator's loss) / d G(z)
  if (loss_ == GanLoss::non_saturating) {
    // L_D = E softplus(-l_real) + E softplus(l_fake); L_G = E softplus(-l_fake) (l: logits).
    Matrix d_real(1, B), d_fake_d(1, B), d_fake_g(1, B);
    for (Index j = 0; j < B; ++j) {
      d_real(0, j) = (sigmoid(fr.out(0, j)) - 1.0) * inv_b;
      const double s = sigmoid(ff.out(0, j));
      d_fake_d(0, j) = s * inv_b;
      d_fake_g(0, j) = (s - 1.0) * inv_b;
    }
    discriminator_.backward(v.data(), fr, d_real, gv, nullptr);
    discriminator_.backward(v.data(), ff, d_fake_d, gv, nullptr);
    discriminator_.backward(v.data(), ff, d_fake_g, nullptr, &d_fake);
  } else {
    // g_v = -grad_v f = grad_v (-E D(x) + E D(G(z)) [+ lambda P]); g_u = grad_u f = grad_u (-E D(G(z)) [- lambda P]).
    Matrix dx_fake;
    discriminator_.backward(v.data(), fr, Matrix::Constant(1, B, -inv_b), gv, nullptr);
    discriminator_.backward(v.data(), ff, Matrix::Constant(1, B, inv_b), gv, &dx_fake);
    d_fake = -dx_fake;
    if (loss_ == GanLoss::wgan_gp && gp_lambda_ > 0.0) {
      const Matrix x_hat = interpolate(batch.real, fake, batch.eps);
      Mlp<double>::Forward fh;
      Mlp<double>::InputGradient ig;
      Matrix S;
      discriminator_.forward(v.data(), x_hat, fh);
      discriminator_.input_gradient(v.data(), fh, ig, S);
      // d (lambda P) / d s_j = lambda * 2 (||s_j|| - 1) s_j / (B ||s_j||).
      Matrix S_bar = Matrix::Zero(S.rows(), B);
      for (Index j = 0; j < B; ++j) {
        const double n = S.col(j).norm();
        if (n > 0.0) S_bar.col(j) = (gp_lambda_ * 2.0 * (n - 1.0) * inv_b / n) * S.col(j);
      }
      Matrix dx_hat;  // d (lambda P) / d x^
      discriminator_.input_gradient_backward(v.data(), fh, ig, S_bar, gv, &dx_hat);
      // f contains -lambda P, and d x^_j / d G(z_j) = 1 - eps_j.
      for (Index j = 0; j < B; ++j) d_fake.col(j) -= (1.0 - batch.eps[j]) * dx_hat.col(j);
    }
  }
  generator_.backward(u.data(), fg, d_fake, gu, nullptr);
  g = grad;
}

GanLosses GanProblem::losses_on(const Eigen::Ref<const Vector>& z, const GanBatch& batch) const {
  const Vector v = acting_critic(z);
  const Matrix fake = generate(z, batch.latent);
  Mlp<double>::Forward fr, ff;
  discriminator_.forward(v.data(), batch.real, fr);
  discriminator_.forward(v.data(), fake, ff);
  const double B = static_cast<double>(batch.real.cols());
  GanLosses out;
  if (loss_ == GanLoss::non_saturating) {
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
  out.loss_d = -(mean_real - mean_fake);
  if (loss_ == GanLoss::wgan_gp) {
    Mlp<double>::Forward fh;
    Mlp<double>::InputGradient ig;
    Matrix S;
    discriminator_.forward(v.data(), interpolate(batch.real, fake, batch.eps), fh);
    discriminator_.input_gradient(v.data(), fh, ig, S);
    out.penalty = (S.colwise().norm().array() - 1.0).square().mean();
    out.loss_d += gp_lambda_ * out.penalty;
  }
  return out;
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

Vector GanProblem::initial_point(Rng& rng) const {
  Vector z(dim());
  generator_.init_params(rng, z.data());
  discriminator_.init_params(rng, z.data() + dim_u());
  if (loss_ == GanLoss::wgan_clip) z.tail(discriminator_.num_params()) = acting_critic(z);
  return z;
}

void GanProblem::write_instance(InstanceWriter& out) const {
  std::ostringstream f;
  f << name_ << ": MLP GAN on " << data_->describe_text() << " z = (u, v): u = "
    << "generator parameters (dim_u), v = discriminator parameters. Each network: layers l = 1..L (L = depth + 1), "
       "h_0 = input, h_l = act(W_l h_{l-1} + b_l), linear last layer; parameters per layer in order W_l "
       "(n_l x n_{l-1}, column-major) then b_l. Generator latent -> width^depth -> 2 (latent ~ N(0, I)); "
       "discriminator 2 -> width^depth -> 1. Loss '"
    << to_string(loss_) << "': ";
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
  }
  f << " Minibatch per worker from its own stream: B data samples (mode uniform, then 2 normals), then latent "
       "codes, then eps (wgan-gp). shard = 1: worker i draws data only from modes k = i mod S, S = min(M, K). "
       "Metrics: loss_g, loss_d on 512 samples; modes_covered, high_quality_fraction (within 3 std of the "
       "nearest mode) over 2500 generator samples; mmd = unbiased squared MMD, Gaussian kernel of bandwidth "
       "mmd_bandwidth, 1000 generator vs 1000 data samples. L, G, D, sigma unknown.";
  out.text("formula", f.str());
  out.text("loss", to_string(loss_));
  out.text("activation", to_string(generator_.shape().activation));
  out.scalar("dim", static_cast<double>(dim()));
  out.scalar("dim_u", static_cast<double>(dim_u()));
  out.scalar("width", static_cast<double>(generator_.shape().width));
  out.scalar("depth", static_cast<double>(generator_.shape().depth));
  out.scalar("latent", static_cast<double>(latent_));
  out.scalar("generator_params", static_cast<double>(generator_.num_params()));
  out.scalar("discriminator_params", static_cast<double>(discriminator_.num_params()));
  out.scalar("gp_lambda", gp_lambda_);
  out.scalar("clip", clip_);
  out.scalar("shard", shard_ ? 1.0 : 0.0);
  data_->describe(out);
  write_constants(out, constants());
}

}  // namespace dposg::gan
