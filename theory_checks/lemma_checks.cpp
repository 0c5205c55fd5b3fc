// Lemma 2 and Lemma 3 as printed, against the corrected statements of theory_checks/README.md,
// across M = 4..1024 (Lemma 3 with --full: to M = 10^5, W = 11^T/M and a ring). The measurement is
// a reference loop of Algorithm 1 written here (W = 11^T/M, t = 1; or W^t of the ring applied by
// its DFT) over the problem's own oracle, not the engine; on the 2-d bilinear game with cond = 1
// the operator is L times a rotation, so the stationary values also have closed forms, checked too.
#include <cmath>
#include <complex>
#include <functional>
#include <numbers>
#include <sstream>

#include <unsupported/Eigen/FFT>

#include "theory_checks/verify.hpp"

namespace dposg::verify {
namespace {

struct LemmaSetting {
  double sigma = 0.5, eta_L = 0.05;  // eta = 0.05 / L < 1/(4L), as both lemmas require
  Index m = 1, d = 2;
  std::int64_t N = 400;
  int seeds = 4;
};

// Per seed, the time averages over k = 1..N of mu_k, of Lemma 2's left side and of the
// dispersion (1/M) sum ||g(z^i_k) - g(z̄_k)||^2 that Lemma 2's right side carries.
struct LemmaSample {
  std::vector<double> mu, lemma2_lhs, dispersion_sq;
};

// X W^t for the ring's W, by its DFT: W^t is circulant with eigenvalues ((1 + 2 cos(2 pi j/M))/3)^t,
// so any t costs two FFTs a row (t reaches 5 * 10^8 at M = 10^5, where rho^t = 1/2 needs it).
class RingPower {
 public:
  RingPower(Index M, double t) : lambda_t_(static_cast<std::size_t>(M)) {
    for (Index j = 0; j < M; ++j)
      lambda_t_[static_cast<std::size_t>(j)] =
          std::pow((1.0 + 2.0 * std::cos(2.0 * std::numbers::pi * static_cast<double>(j) / static_cast<double>(M))) / 3.0, t);
  }
  Matrix apply(const Matrix& X) {
    Matrix XW(X.rows(), X.cols());
    std::vector<double> row(static_cast<std::size_t>(X.cols()));
    std::vector<std::complex<double>> freq;
    for (Index r = 0; r < X.rows(); ++r) {
      for (Index i = 0; i < X.cols(); ++i) row[static_cast<std::size_t>(i)] = X(r, i);
      fft_.fwd(freq, row);
      for (std::size_t j = 0; j < freq.size(); ++j) freq[j] *= lambda_t_[j];
      fft_.inv(row, freq);
      for (Index i = 0; i < X.cols(); ++i) XW(r, i) = row[static_cast<std::size_t>(i)];
    }
    return XW;
  }

 private:
  std::vector<double> lambda_t_;
  Eigen::FFT<double> fft_;
};

// ring: nullptr for W = 11^T/M, t = 1.
LemmaSample reference_loop(const Problem& p, Index M, const LemmaSetting& s, double eta, std::uint64_t seed0,
                           RingPower* ring = nullptr) {
  LemmaSample out;
  for (int k = 0; k < s.seeds; ++k) {
    WorkerRngs rngs(seed0 + static_cast<std::uint64_t>(k) * 7919 + static_cast<std::uint64_t>(M), M);
    const Index d = p.dim();
    Matrix Z = Matrix::Zero(d, M), X = Z, G, Gz, gbar;
    p.sample(Z, s.m, rngs, G);  // ĝ(xi_0, Z_0)
    double mu = 0, l2 = 0, disp = 0;
    for (std::int64_t it = 1; it <= s.N; ++it) {
      // Lemma 2's left side at k - 1: (1/M) sum_i ||(1/M) Ĝ 1 - Ĝ e_i||^2 for the Ĝ of Z_{k-1}.
      const Vector Gmean = G.rowwise().mean();
      l2 += (G.colwise() - Gmean).squaredNorm() / static_cast<double>(M);
      if (ring) {
        const Matrix XW = ring->apply(X);
        Z = XW - eta * G;
        p.sample(Z, s.m, rngs, G);
        X = XW - eta * G;
      } else {
        // W = 11^T/M, t = 1: X_{k-1} W^t is the average of X in every column.
        const Vector x_avg = X.rowwise().mean();
        Z = (-eta * G).colwise() + x_avg;
        p.sample(Z, s.m, rngs, G);
        X = (-eta * G).colwise() + x_avg;
      }
      p.exact(Z, Gz);
      p.exact(Matrix(Z.rowwise().mean()), gbar);
      const Matrix dev = Gz.colwise() - Vector(gbar.col(0));
      mu += dev.colwise().norm().sum() / static_cast<double>(M);
      disp += dev.squaredNorm() / static_cast<double>(M);
    }
    out.mu.push_back(mu / static_cast<double>(s.N));
    out.lemma2_lhs.push_back(l2 / static_cast<double>(s.N));
    out.dispersion_sq.push_back(disp / static_cast<double>(s.N));
  }
  return out;
}

std::unique_ptr<Problem> lemma_problem(const LemmaSetting& s, std::uint64_t seed) {
  ProblemOptions po;
  po.name = "bilinear";
  po.dim = s.d;
  po.cond = 1;  // one singular value: ||g(a) - g(b)|| = L ||a - b|| exactly
  po.noise = s.sigma;
  po.seed = seed;
  return make_problem(po);
}

// The printed claim: refuted when even the lower end of the measurement exceeds it, PASS when the
// upper end is below it, otherwise undecided (info).
Status printed_status(double lo, double hi, double bound) {
  if (lo > bound) return Status::refuted;
  if (hi <= bound) return Status::pass;
  return Status::info;
}

std::vector<Index> lemma_Ms(const Context& ctx) {
  std::vector<Index> Ms = {4, 16, 64, 256, 1024};
  if (!ctx.quick()) Ms.push_back(4096);
  return Ms;
}

// What one M of the sweep hands to a lemma's rows. ring: W is the ring with t rounds, rho^t <= 1/2.
struct LemmaCase {
  LemmaSetting s;
  double L = 0, sigma = 0, eta = 0, m = 0, M = 0;
  std::string at;
  LemmaSample smp;
  bool ring = false;
  double t = 1, rho_t = 0;
};

// Above M = 1024 (--full) the time average runs over fewer iterations and seeds: mu_k averages M
// workers, so its spread falls like 1/sqrt(M), and the loop is stationary from its first
// iterations (W = J: the transient is of order (eta L)^2 / N; the ring: rho^t <= 1/2 a step).
LemmaSetting setting_at(LemmaSetting s, Index M) {
  if (M > 1024) s.N = 200, s.seeds = 4;
  return s;
}

// The assumption rows once, then the reference loop at every M; sigma is the stated one (a fault
// injection may understate it), the loop draws with the true one.
void sweep_M(Context& ctx, const std::string& check, const std::vector<Index>& Ms, bool ring,
             const std::function<void(const LemmaCase&)>& rows, bool assumption_rows = true) {
  LemmaCase c;
  if (!ctx.quick()) c.s.N = 2000, c.s.seeds = 8;
  const auto p = lemma_problem(c.s, ctx.opt.seed);
  if (assumption_rows) check_assumption1(ctx, check, *p, ctx.opt.seed);
  c.L = p->constants().L;
  c.sigma = c.s.sigma * ctx.opt.inject.stated_sigma_scale;
  c.eta = c.s.eta_L / c.L;
  c.m = static_cast<double>(c.s.m);
  c.ring = ring;
  const LemmaSetting base = c.s;
  for (Index Mi : Ms) {
    c.M = static_cast<double>(Mi);
    c.s = setting_at(base, Mi);
    c.at = "M = " + std::to_string(Mi) + ": ";
    if (ring) {
      // The fewest rounds with rho^t <= 1/2, so that rho^t + eta L < 1 (the corrected lemma's premise).
      const double rho = ring_rho_closed_form(Mi);
      c.t = std::max(1.0, std::ceil(std::log(0.5) / std::log(rho)));
      c.rho_t = std::pow(rho, c.t);
      RingPower W(Mi, c.t);
      c.smp = reference_loop(*p, Mi, c.s, c.eta, ctx.opt.seed, &W);
      c.at = "ring " + c.at;
    } else {
      c.smp = reference_loop(*p, Mi, c.s, c.eta, ctx.opt.seed);
    }
    rows(c);
  }
}

}  // namespace

void check_lemma3(Context& ctx) {
  const std::string check = "lemma3";
  const auto rows = [&](const LemmaCase& k) {
    const auto& [s, L, sigma, eta, m, M, at, smp, ring, t, rho_t] = k;
    const double mu = mean(smp.mu), se = std_error(smp.mu);
    const std::string W = ring ? "ring, t = " + short_number(t) + " (rho^t = " + short_number(rho_t) + ")"
                               : std::string("W = 11^T/M, t = 1 >= t_min = 0");
    const std::string runs = "; mean +- 3 s.e. of " + std::to_string(s.seeds) + " seeds" +
                             (s.N != 2000 && s.N != 400 ? ", N = " + std::to_string(s.N) : std::string());
    const double printed = 8 * eta * L * sigma / (std::sqrt(m * M) * (1 - 4 * eta * L));
    Row r = make_row(check, at + "(1/N) sum mu_k < 8 eta L sigma/(sqrt(mM)(1 - 4 eta L)) (printed)", mu, "<=", printed,
                     printed_status(mu - 3 * se, mu + 3 * se, printed),
                     W + (ring ? " (below t_min)" : "") + ", eta L = " + short_number(s.eta_L) + runs);
    r.margin = mu / printed;
    r.margin_kind = "measured/bound";
    // The printed lemma assumes t >= t_min, which no ring here meets: the row is the ratio, not a verdict.
    if (ring) r.status = Status::info;
    ctx.add(r);
    // README: E mu_k <= L sqrt(E||Z_k(I-J)||_F^2 / M) <= eta L sigma sqrt(1-1/M) / (sqrt(m)(1 - rho^t - eta L)).
    const double corrected = eta * L * sigma * std::sqrt(1 - 1 / M) / (std::sqrt(m) * (1 - rho_t - eta * L));
    Row c = make_row(check, at + "(1/N) sum mu_k <= eta L sigma sqrt(1-1/M)/(sqrt(m)(1 - rho^t - eta L)) (corrected)",
                     mu + 3 * se, "<=", corrected, mu + 3 * se <= corrected ? Status::pass : Status::fail,
                     ring ? W + ", W^t by its DFT" : std::string("rho = 0"));
    c.margin = (mu + 3 * se) / corrected;
    c.margin_kind = "measured/bound";
    ctx.add(c);
    if (ring) return;  // the closed form below is W = J's
    // Stationary closed form here: z^i - z̄ is an isotropic 2-d Gaussian with E||.||^2 =
    // eta^2 (1-1/M) sigma^2 / (m (1 - eta^2 L^2)), and E||x|| = (sqrt(pi)/2) sqrt(E||x||^2) in 2-d.
    // The loop starts in consensus; the first iteration already has the stationary law's
    // noise term, so the transient is of relative order (eta L)^2 / N.
    const double closed =
        L * std::sqrt(std::numbers::pi) / 2 * eta * sigma * std::sqrt((1 - 1 / M) / (m * (1 - eta * eta * L * L)));
    const double rel = std::abs(mu - closed) / closed;
    const double tol = std::max(0.01, 4 * se / closed);
    Row e = make_row(check, at + "(1/N) sum mu_k ~= closed form L eta sigma sqrt(pi(1-1/M)/(4m(1-eta^2L^2)))", mu, "~=",
                     closed, rel <= tol ? Status::pass : Status::fail, "tolerance " + short_number(tol) + " relative");
    e.margin = rel;
    e.margin_kind = "rel. error";
    ctx.add(e);
  };
  std::vector<Index> Ms = lemma_Ms(ctx);
  if (!ctx.quick()) Ms.insert(Ms.end(), {16384, 100000});
  sweep_M(ctx, check, Ms, false, rows);
  if (!ctx.quick()) sweep_M(ctx, check, {4, 64, 1024, 16384, 100000}, true, rows, false);
}

void check_lemma2(Context& ctx) {
  const std::string check = "lemma2";
  sweep_M(ctx, check, lemma_Ms(ctx), false, [&](const LemmaCase& k) {
    const auto& [s, L, sigma, eta, m, M, at, smp, ring, t, rho_t] = k;
    const double lhs = mean(smp.lemma2_lhs), se = std_error(smp.lemma2_lhs);
    const double disp = mean(smp.dispersion_sq);
    const double printed = 2 * sigma / std::sqrt(m * M) + 2 * disp;
    Row r = make_row(check, at + "(1/M) sum E||ĝ 1/M - ĝ e_i||^2 <= 2 sigma/sqrt(mM) + 2 (1/M) sum ||g(z^i)-g(z̄)||^2 (printed)",
                     lhs, "<=", printed, printed_status(lhs - 3 * se, lhs + 3 * se, printed),
                     "W = 11^T/M, t = 1, eta L = " + short_number(s.eta_L) + "; the right side's dispersion measured in the same loop");
    r.margin = lhs / printed;
    r.margin_kind = "measured/bound";
    ctx.add(r);
    // README: the noise part is exactly (1-1/M) E||eps||^2 <= (1-1/M) sigma^2/m, the rest is at most
    // the dispersion about g(z̄), with constant 1.
    const double corrected = (1 - 1 / M) * sigma * sigma / m + disp;
    Row c = make_row(check, at + "same left side <= (1-1/M) sigma^2/m + (1/M) sum ||g(z^i)-g(z̄)||^2 (corrected)",
                     lhs - 3 * se, "<=", corrected, lhs - 3 * se <= corrected ? Status::pass : Status::fail,
                     "equality for a linear g: judged at mean - 3 s.e., the closed-form row below fixes the level");
    c.margin = lhs / corrected;
    c.margin_kind = "measured/bound";
    ctx.add(c);
    const double closed = (1 - 1 / M) * s.sigma * s.sigma / (m * (1 - eta * eta * L * L));
    const double rel = std::abs(lhs - closed) / closed;
    const double tol = std::max(0.01, 4 * se / closed);
    Row e = make_row(check, at + "left side ~= closed form (1-1/M) sigma^2/(m(1-eta^2 L^2))", lhs, "~=", closed,
                     rel <= tol ? Status::pass : Status::fail, "tolerance " + short_number(tol) + " relative");
    e.margin = rel;
    e.margin_kind = "rel. error";
    ctx.add(e);
  });
}

}  // namespace dposg::verify
