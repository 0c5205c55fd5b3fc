#include "core/spectral.hpp"

#include <Spectra/SymEigsSolver.h>

#include "core/graphs.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <set>
#include <stdexcept>
#include <vector>

namespace dposg {
namespace {

Index wrap(Index i, Index M) { return ((i % M) + M) % M; }

// lambda_j = sum_o w_o cos(2 pi j o / M) for the circulant whose first row has weight w_o at offset o.
// j o is reduced mod M before the division, so the argument stays in [0, 2 pi) for any M.
Vector circulant_spectrum(const std::vector<std::pair<Index, double>>& offsets, Index M) {
  Vector ev(M);
  const double step = 2.0 * std::numbers::pi / static_cast<double>(M);
  // Each lambda_j on its own (the same sums whatever the thread count): 4 * 10^7 cosines for the
  // exponential graph at M = 10^6.
#pragma omp parallel for schedule(static) if (M * static_cast<Index>(offsets.size()) >= (Index{1} << 16))
  for (Index j = 0; j < M; ++j) {
    double s = 0.0;
    for (const auto& [o, w] : offsets) s += w * std::cos(step * static_cast<double>((j * o) % M));
    ev[j] = s;
  }
  return ev;
}

Vector descending(Vector v) {
  std::sort(v.data(), v.data() + v.size(), std::greater<double>());
  return v;
}

double rho_of(const Vector& descending_ev) {
  const Index M = descending_ev.size();
  return M >= 2 ? std::max(std::abs(descending_ev[1]), std::abs(descending_ev[M - 1])) : 0.0;
}

// A symmetric operator on R^M restricted to 1^perp: x is projected before `apply` and the result
// after it, so that 1 (an eigenvector of every W and of every product of them) never enters the
// Krylov space and the solver sees the spectrum on the complement only (plus an eigenvalue 0).
class ComplementOp {
 public:
  using Scalar = double;
  ComplementOp(Index M, const std::function<void(const double*, double*)>& apply)
      : M_(M), apply_(apply), x_(static_cast<std::size_t>(M)) {}
  Eigen::Index rows() const { return M_; }
  Eigen::Index cols() const { return M_; }
  void perform_op(const double* in, double* out) const {
    const double mean_in = mean(in);
    for (Index i = 0; i < M_; ++i) x_[static_cast<std::size_t>(i)] = in[i] - mean_in;
    apply_(x_.data(), out);
    const double mean_out = mean(out);
    for (Index i = 0; i < M_; ++i) out[i] -= mean_out;
  }

 private:
  double mean(const double* v) const {
    double s = 0.0;
    for (Index i = 0; i < M_; ++i) s += v[i];
    return s / static_cast<double>(M_);
  }
  Index M_;
  const std::function<void(const double*, double*)>& apply_;
  mutable std::vector<double> x_;
};

// The eigenvalue of largest magnitude (rule LargestMagn) or largest value (LargestAlge) on 1^perp.
double lanczos_extreme(Index M, const std::function<void(const double*, double*)>& apply, Spectra::SortRule rule,
                       double tol, Index ncv_wanted) {
  if (M < 2) return 0.0;
  const bool magnitude = rule == Spectra::SortRule::LargestMagn;
  ComplementOp op(M, apply);
  if (M <= kDenseComplementMaxWorkers) {
    // Small operators as a matrix, column by column: a Krylov space of a few dimensions breaks
    // down (Lanczos's tridiagonal solve fails when the space is invariant early, as for W = J).
    Matrix A(M, M);
    Vector e = Vector::Zero(M);
    for (Index j = 0; j < M; ++j) {
      e.setZero();
      e[j] = 1.0;
      op.perform_op(e.data(), A.col(j).data());
    }
    const Vector ev = Eigen::SelfAdjointEigenSolver<Matrix>(0.5 * (A + A.transpose()), Eigen::EigenvaluesOnly).eigenvalues();
    return magnitude ? ev.cwiseAbs().maxCoeff() : ev.maxCoeff();
  }
  {
    // The zero operator on 1^perp (W = 11^T/M read from a file) has no Krylov space to build.
    Vector v(M), y(M);
    for (Index i = 0; i < M; ++i) v[i] = std::cos(1.0 + 7.0 * static_cast<double>(i));
    op.perform_op(v.data(), y.data());
    if (!(y.norm() > 1e-14 * v.norm())) return 0.0;
  }
  // Two wanted values: the extreme one on 1^perp and room for the 0 that the projection adds, so
  // that a spectrum with only tiny values does not stall on it. The Krylov space's size trades
  // restarts against the O(M ncv^2) work of each (measured at M = 10^5 on the random-ring product:
  // ncv 10 took 0.3 s per draw, ncv 40 2.1 s, for the same value to 2e-6).
  const Index nev = std::min<Index>(2, M - 1);
  const Index ncv = std::min<Index>(M, std::max<Index>(2 * nev + 1, ncv_wanted));
  Spectra::SymEigsSolver<ComplementOp> eigs(op, nev, ncv);
  eigs.init();
  eigs.compute(rule, 10000, tol);
  if (eigs.info() != Spectra::CompInfo::Successful)
    throw std::runtime_error("Lanczos (Spectra) did not converge on an M = " + std::to_string(M) + " operator");
  const Vector ev = eigs.eigenvalues();
  double best = 0.0;
  for (Index i = 0; i < ev.size(); ++i)
    best = magnitude ? std::max(best, std::abs(ev[i])) : std::max(best, ev[i]);
  return best;
}

}  // namespace

namespace {
// The closed-form eigenvalues in their natural order: index 0 is the eigenvector 1's eigenvalue 1
// (DFT frequency 0; the torus's a = b = 0; the star and complete are already descending).
std::optional<Vector> closed_form_eigenvalues(const std::string& kind, Index M) {
  if (M < 1) return std::nullopt;
  if (M == 1 || kind == "single") return Vector::Ones(1);
  if (kind == "complete") {
    Vector ev = Vector::Zero(M);
    ev[0] = 1.0;
    return ev;
  }
  if (kind == "ring" || kind == "random-ring") {
    // 1/3 on itself and on each neighbour; the three entries are listed separately so that M = 2
    // (both neighbours the same node, weight 2/3) needs no special case.
    return circulant_spectrum({{0, 1.0 / 3}, {1, 1.0 / 3}, {M - 1, 1.0 / 3}}, M);
  }
  if (kind == "star") return star_spectrum(M);  // core/graphs.hpp: W = I - L/M
  if (kind == "exponential") {
    std::set<Index> set;
    for (Index h = 1; h < M; h *= 2) {
      set.insert(wrap(h, M));
      set.insert(wrap(-h, M));
    }
    set.erase(0);
    const double w = 1.0 / static_cast<double>(set.size() + 1);
    std::vector<std::pair<Index, double>> off = {{0, w}};
    for (Index o : set) off.emplace_back(o, w);
    return circulant_spectrum(off, M);
  }
  if (kind == "torus") {
    Index r = static_cast<Index>(std::floor(std::sqrt(static_cast<double>(M))));
    while (r > 1 && M % r != 0) --r;
    const Index c = M / r;
    Vector ev(M);
    for (Index a = 0; a < r; ++a)
      for (Index b = 0; b < c; ++b)
        ev[a * c + b] = (1.0 + 2.0 * std::cos(2.0 * std::numbers::pi * static_cast<double>(a) / static_cast<double>(r)) +
                         2.0 * std::cos(2.0 * std::numbers::pi * static_cast<double>(b) / static_cast<double>(c))) /
                        5.0;
    return ev;
  }
  return std::nullopt;
}
}  // namespace

std::optional<Vector> closed_form_spectrum(const std::string& kind, Index M) {
  auto ev = closed_form_eigenvalues(kind, M);
  if (ev) *ev = descending(std::move(*ev));
  return ev;
}

double sparse_rho(const Topology& W) {
  const Index M = W.workers;
  const std::function<void(const double*, double*)> apply = [&W, M](const double* x, double* y) {
    for (Index i = 0; i < M; ++i) {
      double s = 0.0;
      for (const auto& [j, w] : W.rows[static_cast<std::size_t>(i)]) s += w * x[j];
      y[i] = s;
    }
  };
  return lanczos_extreme(M, apply, Spectra::SortRule::LargestMagn, 1e-10, 40);
}

namespace {
// The largest eigenvalue of the k x k symmetric tridiagonal (alpha, beta) by Sturm bisection on
// [lo, Gershgorin's bound]: O(k) a count, so a long Lanczos run (thousands of steps) does not pay
// the O(k^2) of a full tridiagonal solve at every step. lo: a value known to be below it (the
// previous step's, by interlacing).
double top_of_tridiagonal(const Vector& alpha, const Vector& beta, int k, double lo) {
  double hi = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < k; ++i)
    hi = std::max(hi, alpha[i] + (i > 0 ? std::abs(beta[i - 1]) : 0.0) + (i + 1 < k ? std::abs(beta[i]) : 0.0));
  lo = std::min(lo, hi);
  // Eigenvalues of T below x: the negative pivots of T - x I's LDL^T.
  auto below = [&](double x) {
    int n = 0;
    double d = 1.0;
    for (int i = 0; i < k; ++i) {
      d = alpha[i] - x - (i > 0 ? beta[i - 1] * beta[i - 1] / d : 0.0);
      if (d == 0.0) d = -std::numeric_limits<double>::min();
      n += d < 0.0;
    }
    return n;
  };
  if (below(lo) == k) lo -= std::abs(hi - lo) + std::abs(lo) + 1.0;  // lo was not below it after all
  for (int it = 0; it < 200 && hi - lo > 4 * std::numeric_limits<double>::epsilon() * std::max(std::abs(lo), std::abs(hi));
       ++it) {
    const double mid = 0.5 * (lo + hi);
    (below(mid) == k ? hi : lo) = mid;
  }
  return hi;
}
}  // namespace

RitzValue largest_ritz_value_on_complement(Index M, const std::function<void(const double*, double*)>& apply,
                                           double rel_tol, int max_steps) {
  RitzValue r;
  if (M < 2) return r;
  constexpr int kMinSteps = 8;
  // At M = 10^6 a step is memory-bound, so each Lanczos vector is kept unnormalised, v = s u, and
  // the scale folded into the two passes a step makes besides `apply` (one for the mean and
  // alpha, one for the next vector and its norm). The mean of each product is removed there: the
  // operator maps 1^perp to itself only up to rounding, and 1 has the top eigenvalue of P^T P.
  std::vector<double> u(static_cast<std::size_t>(M)), u_prev(static_cast<std::size_t>(M)), y(static_cast<std::size_t>(M));
  double s = 0.0, s_prev = 0.0;
  {
    double mean = 0.0, sq = 0.0;
    for (Index i = 0; i < M; ++i) mean += u[static_cast<std::size_t>(i)] = std::cos(1.0 + 7.0 * static_cast<double>(i));
    mean /= static_cast<double>(M);
    for (double& x : u) {
      x -= mean;
      sq += x * x;
    }
    s = 1.0 / std::sqrt(sq);
  }
  Vector alpha(max_steps), beta(max_steps);
  std::vector<double> theta;
  double b = 0.0;
  for (int k = 1; k <= max_steps; ++k) {
    apply(u.data(), y.data());  // A v = s y
    double sum = 0.0, dot = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      sum += y[i];
      dot += u[i] * y[i];
    }
    const double mean = sum / static_cast<double>(M);
    const double a = s * s * dot;  // v . (A v); v is orthogonal to 1
    // w = A v - mean - a v - b v_prev, written over u_prev.
    const double cy = s, cu = a * s, cp = b * s_prev;
    double sq = 0.0;
    for (Index i = 0; i < M; ++i) {
      const auto j = static_cast<std::size_t>(i);
      const double w = cy * (y[j] - mean) - cu * u[j] - (k > 1 ? cp * u_prev[j] : 0.0);
      u_prev[j] = w;
      sq += w * w;
    }
    alpha[k - 1] = a;
    theta.push_back(k == 1 ? a : top_of_tridiagonal(alpha, beta, k, theta.back()));
    r.value = theta.back();
    r.steps = k;
    r.change = k >= 2 ? r.value - theta[static_cast<std::size_t>(k / 2 - 1)] : r.value;
    b = std::sqrt(sq);
    // A closed Krylov space (the zero operator of W = 11^T/M, tiny M): its Ritz values are eigenvalues.
    if (!(b > 1e-12 * std::max(std::abs(a), std::abs(r.value)))) {
      r.invariant = true;
      r.change = 0.0;
      break;
    }
    if (k >= kMinSteps && r.change <= rel_tol * r.value) break;
    beta[k - 1] = b;
    u.swap(u_prev);
    s_prev = s;
    s = 1.0 / b;
  }
  return r;
}

Spectrum spectrum_for(const std::string& kind, const Topology& W) {
  const Index M = W.workers;
  if (M <= kDenseSpectrumMaxWorkers) return spectrum(W);
  Spectrum s;
  if (M > kStoredSpectrumMaxWorkers) {
    // Not stored, so not sorted (10^6 values): rho = max over j >= 1 of |lambda_j|, the same value as
    // max(|lambda_2|, |lambda_M|) of the sorted list (index 0 holds lambda_1 = 1).
    if (auto ev = closed_form_eigenvalues(kind, M)) {
      s.rho = ev->tail(M - 1).cwiseAbs().maxCoeff();
      s.method = "closed form";
      s.full = false;
      return s;
    }
  }
  if (auto ev = closed_form_spectrum(kind, M)) {
    s.rho = rho_of(*ev);
    s.method = "closed form";
    if (M <= kStoredSpectrumMaxWorkers) s.eigenvalues = std::move(*ev);
  } else {
    s.rho = sparse_rho(W);
    s.method = "Lanczos";
  }
  s.full = s.eigenvalues.size() == M;
  return s;
}

}  // namespace dposg
