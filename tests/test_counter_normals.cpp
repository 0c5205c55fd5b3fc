// ctest-label: unit
// core/counter_normals.hpp, the normals of --noise-normals ziggurat, against computations done here:
// SplitStream against java.util.SplittableRandom's outputs (printed by OpenJDK 17), the ziggurat's
// layers against their defining equations, and its normals against the normal distribution
// (Kolmogorov-Smirnov, and chi-square on 2000 bins of equal probability through Phi = erfc, moments, the tail beyond r against
// erfc and the truncated normal's mean). Two broken samplers built from the same tables (wedges
// always accepted; a uniform tail) must fail the same checks: the checks can fail.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <random>
#include <vector>

#include "core/counter_normals.hpp"
#include "core/rng.hpp"

using namespace dposg;

namespace {

constexpr double kTwo52 = 0x1.0p52;

double Phi(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }
double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi); }

// The ziggurat of the tables, with two faults that can be switched on; with neither it must draw
// what ziggurat_normal draws, so that a fault the checks find is a fault of this algorithm.
struct Mutant {
  bool accept_wedges = false;  // every word outside the inner rectangle taken as it is
  bool uniform_tail = false;   // base-layer words beyond r taken as x in [r, q), not the tail
  double operator()(SplitStream& s) const {
    const ZigguratTables& t = ZigguratTables::get();
    for (;;) {
      const std::uint64_t word = s();
      const int layer = int(word & 0xff);
      const double sign = (word & 0x100) ? -1.0 : 1.0;
      const std::uint64_t mag = word >> 12;
      const double x = double(mag) * t.w[layer];
      if (mag < t.k[layer]) return sign * x;
      if (layer == 0) {
        if (uniform_tail) return sign * x;
        for (;;) {
          const double xx = -std::log1p(-s.uniform()) / ZigguratTables::r;
          const double yy = -std::log1p(-s.uniform());
          if (yy + yy > xx * xx) return sign * (ZigguratTables::r + xx);
        }
      }
      if (accept_wedges) return sign * x;
      if ((t.f[layer - 1] - t.f[layer]) * s.uniform() + t.f[layer] < std::exp(-0.5 * x * x)) return sign * x;
    }
  }
};

std::vector<double> draw(std::uint64_t key, Index n, const std::function<double(SplitStream&)>& f) {
  SplitStream s(key);
  std::vector<double> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = f(s);
  return x;
}

std::vector<double> ziggurat(std::uint64_t key, Index n) {
  return draw(key, n, [](SplitStream& s) { return ziggurat_normal(s, ZigguratTables::get()); });
}

// sqrt(n) * sup |F_n - Phi|; above 2.7 has probability below 1e-6 for normal draws.
double ks_statistic(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const double n = double(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = Phi(x[i]);
    d = std::max({d, double(i + 1) / n - u, u - double(i) / n});
  }
  return std::sqrt(n) * d;
}

// Chi-square over `bins` bins of equal normal probability (bin = floor(bins * Phi(x))), in units
// of its standard deviation above its mean: (X^2 - (bins - 1)) / sqrt(2 (bins - 1)).
double chi_square_z(const std::vector<double>& x, int bins) {
  std::vector<double> count(static_cast<std::size_t>(bins), 0.0);
  for (double v : x) count[static_cast<std::size_t>(std::min(bins - 1, int(Phi(v) * bins)))] += 1;
  const double expected = double(x.size()) / bins;
  double chi2 = 0;
  for (double c : count) chi2 += (c - expected) * (c - expected) / expected;
  return (chi2 - (bins - 1)) / std::sqrt(2.0 * (bins - 1));
}

// Beyond r: the count against n * erfc(r / sqrt 2), and the mean of |x| against the truncated
// normal's lambda = phi(r) / Q(r), each in standard errors.
struct TailZ {
  double count, mean;
};
TailZ tail_z(const std::vector<double>& x) {
  const double r = ZigguratTables::r;
  const double p = std::erfc(r / std::numbers::sqrt2);
  const double n = double(x.size());
  double k = 0, sum = 0;
  for (double v : x)
    if (std::abs(v) > r) {
      k += 1;
      sum += std::abs(v);
    }
  const double lambda = phi(r) / (0.5 * std::erfc(r / std::numbers::sqrt2));
  const double var = 1 + r * lambda - lambda * lambda;  // of the normal truncated to (r, inf)
  return {(k - n * p) / std::sqrt(n * p * (1 - p)), (sum / k - lambda) / std::sqrt(var / k)};
}

}  // namespace

TEST_CASE("SplitStream(k) draws what java.util.SplittableRandom(k).split() draws", "[counter-normals]") {
  // Printed by OpenJDK 17: new SplittableRandom(k).split().nextLong(), four times.
  const struct {
    std::uint64_t key;
    std::uint64_t words[4];
  } java[] = {
      {0x0000000000000000ULL, {0x184c6c53fb60892dULL, 0xd08944b9dffc3e93ULL, 0xc54dc71fd35320cdULL, 0x0d33d9b1e27a4160ULL}},
      {0x0000000000000001ULL, {0xc5160d22e54d74b9ULL, 0x6c5d8182190c4046ULL, 0x94cda0f3b0e27cc7ULL, 0x75301b59de1ff242ULL}},
      {0x0123456789abcdefULL, {0x06b8ca9bda6b2d7cULL, 0x428c1e7538260226ULL, 0x6c2d3fb2a41ae308ULL, 0xba31e3271c530093ULL}},
      {0xffffffffffffffffULL, {0x2b9314b9e15e334cULL, 0xe9aacc4a374c5341ULL, 0x7bc14f04d5197795ULL, 0x4e8b165dd36174a6ULL}},
  };
  for (const auto& j : java) {
    SplitStream s(j.key);
    INFO("key " << j.key);
    for (std::uint64_t w : j.words) CHECK(s() == w);
    CHECK((s.gamma() & 1) == 1);
  }
  // With the golden gamma it is Vigna's splitmix64 (seed 0: his published first outputs), which
  // core/rng.hpp's splitmix64 also computes.
  SplitStream golden(0, 0x9e3779b97f4a7c15ULL);
  CHECK(golden() == 0xe220a8397b1dcdafULL);
  CHECK(golden() == 0x6e789e6aa1b965f4ULL);
  CHECK(golden() == 0x06c45d188009454fULL);
  CHECK(splitmix64(0) == 0xe220a8397b1dcdafULL);
  // uniform() has 53 bits: the top 53 of the word.
  SplitStream a(5), b(5);
  CHECK(a.uniform() == double(b() >> 11) / kTwo52 / 2);
}

TEST_CASE("ziggurat tables: every layer has area v, the base with its tail too", "[counter-normals]") {
  const ZigguratTables& t = ZigguratTables::get();
  const double r = ZigguratTables::r, v = ZigguratTables::v;
  const int n = ZigguratTables::kLayers;
  const auto f = [](double x) { return std::exp(-0.5 * x * x); };
  // The base: the rectangle [0, r] x [0, f(r)] plus the integral of f beyond r.
  const double tail = std::sqrt(std::numbers::pi / 2) * std::erfc(r / std::numbers::sqrt2);
  CHECK(r * f(r) + tail == Approx(v).epsilon(1e-10));
  CHECK(t.x[n - 1] == r);
  CHECK(t.x[0] == Approx(v / f(r)).epsilon(1e-15));
  // Layers 2 .. 255: [0, x_i] x [f(x_i), f(x_{i-1})]; the top layer [0, x_1] x [f(x_1), 1].
  for (int i = 2; i < n; ++i) {
    INFO("layer " << i);
    CHECK(t.x[i - 1] < t.x[i]);
    CHECK(t.x[i] * (f(t.x[i - 1]) - f(t.x[i])) == Approx(v).epsilon(1e-12));
  }
  // The top layer closes the recurrence only as well as r and v's printed digits allow.
  CHECK(t.x[1] * (1 - f(t.x[1])) == Approx(v).epsilon(1e-8));
  // The tables that the fast path uses, from the edges.
  for (int i = 1; i < n; ++i) {
    INFO("layer " << i);
    CHECK(t.f[i] == Approx(f(t.x[i])).epsilon(1e-15));
    CHECK(t.w[i] == t.x[i] / kTwo52);
    if (i >= 2) CHECK(t.k[i] == std::uint64_t(t.x[i - 1] / t.x[i] * kTwo52));
  }
  CHECK(t.f[0] == 1.0);
  CHECK(t.k[1] == 0);  // the top layer has no inner rectangle
  CHECK(t.w[0] == t.x[0] / kTwo52);
  CHECK(t.k[0] == std::uint64_t(r / t.x[0] * kTwo52));
}

TEST_CASE("ziggurat normals are standard normal: KS, chi-square, moments, the tail", "[counter-normals]") {
  const Index n = 10'000'000;
  const std::vector<double> x = ziggurat(0x5eed, n);
  // The mutation harness is the same algorithm when no fault is on.
  const std::vector<double> same = draw(0x5eed, 100'000, Mutant{});
  CHECK(std::equal(same.begin(), same.end(), x.begin()));

  const double ks = ks_statistic(std::vector<double>(x.begin(), x.begin() + 1'000'000));
  CHECK(ks < 2.7);
  const double chi = chi_square_z(x, 2000);
  CHECK(std::abs(chi) < 5);
  INFO("KS " << ks << " chi-square z " << chi);

  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (double v : x) {
    m1 += v;
    m2 += v * v;
    m3 += v * v * v;
    m4 += v * v * v * v;
  }
  const double N = double(n);
  m1 /= N, m2 /= N, m3 /= N, m4 /= N;
  // Standard errors of the raw moments of N(0,1): sqrt(Var x^k / n), Var = E x^2k - (E x^k)^2.
  CHECK(std::abs(m1) < 5 * std::sqrt(1 / N));
  CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2 / N));
  CHECK(std::abs(m3) < 5 * std::sqrt(15 / N));
  CHECK(std::abs(m4 - 3) < 5 * std::sqrt(96 / N));

  const TailZ tz = tail_z(x);
  INFO("tail count z " << tz.count << " tail mean z " << tz.mean);
  CHECK(std::abs(tz.count) < 5);
  CHECK(std::abs(tz.mean) < 5);
}

TEST_CASE("ziggurat normals: no correlation along a stream or across adjacent keys", "[counter-normals]") {
  const Index n = 2'000'000;
  const std::vector<double> a = ziggurat(1000, n), b = ziggurat(1001, n);
  double lag1 = 0, lag2 = 0, cross = 0, cross_sq = 0;
  for (Index i = 0; i + 2 < n; ++i) {
    lag1 += a[i] * a[i + 1];
    lag2 += a[i] * a[i + 2];
  }
  for (Index i = 0; i < n; ++i) {
    cross += a[i] * b[i];
    cross_sq += (a[i] * a[i] - 1) * (b[i] * b[i] - 1);  // dependence that leaves the means alone
  }
  const double se = 1 / std::sqrt(double(n));
  CHECK(std::abs(lag1 / n) < 5 * se);
  CHECK(std::abs(lag2 / n) < 5 * se);
  CHECK(std::abs(cross / n) < 5 * se);
  CHECK(std::abs(cross_sq / n) < 5 * 2 * se);  // Var((a^2-1)(b^2-1)) = 4
  // Keys one apart are not one stream shifted: no normal of b appears in a's first draws.
  std::vector<double> head(a.begin(), a.begin() + 10000);
  std::sort(head.begin(), head.end());
  int shared = 0;
  for (Index i = 0; i < 10000; ++i) shared += std::binary_search(head.begin(), head.end(), b[i]);
  CHECK(shared == 0);
}

TEST_CASE("the checks fail a ziggurat that accepts its wedges or flattens its tail", "[counter-normals]") {
  const Index n = 10'000'000;
  const std::vector<double> wedges = draw(0x5eed, n, Mutant{true, false});
  // KS does not see it (the excess is a saw-tooth, 1.2 % of the mass spread over 255 layers:
  // sqrt(n) D stays near 0.9 at n = 10^6); 2000 bins of equal probability do, at z ~ 15.
  const double chi = chi_square_z(wedges, 2000);
  INFO("accepting wedges: chi-square z " << chi);
  CHECK(chi > 5);
  // A uniform tail keeps the tail's mass (the base layer is built that way), not its shape.
  const std::vector<double> flat = draw(0x5eed, n, Mutant{false, true});
  const TailZ tz = tail_z(flat);
  INFO("uniform tail: count z " << tz.count << " mean z " << tz.mean);
  CHECK(std::abs(tz.count) < 5);
  CHECK(std::abs(tz.mean) > 5);
}

TEST_CASE("add_ziggurat_normals adds stddev times the stream's normals, and n = 0 touches nothing", "[counter-normals]") {
  const Index n = 1000;
  std::vector<double> out(n, 2.0);
  add_ziggurat_normals(77, 0.25, out.data(), n);
  const std::vector<double> z = ziggurat(77, n);
  double worst = 0;
  for (Index i = 0; i < n; ++i) worst = std::max(worst, std::abs(out[i] - (2.0 + 0.25 * z[i])));
  CHECK(worst == 0.0);
  add_ziggurat_normals(77, 1.0, nullptr, 0);
}

TEST_CASE("add_ziggurat_normals_columns: eight streams a vector, bit for bit each column's own loop", "[counter-normals]") {
  // The definition is add_ziggurat_normals per column; the vector kernel (AVX-512, eight columns'
  // streams in the lanes) and the scalar twin must both give it exactly, for every column count
  // (a tail of fewer than eight goes to the scalar loop) and length (chunks of 64 positions), with
  // words that miss their layer's rectangle in some lanes and not others.
  if (!ziggurat_vector_kernel_available()) WARN("no AVX-512 here: only the scalar kernel is compared");
  std::mt19937_64 g(11);
  std::normal_distribution<double> start;
  Index tails = 0, slow_words = 0;
  for (Index n : {1, 7, 8, 20, 37, 64, 65, 200}) {
    for (Index count : {0, 1, 7, 8, 9, 23, 64, 1000}) {
      std::vector<std::uint64_t> keys(static_cast<std::size_t>(count));
      for (auto& k : keys) k = g();
      std::vector<double> base(static_cast<std::size_t>(count * n));
      for (auto& v : base) v = start(g);
      std::vector<double> expected = base, best = base, scalar = base;
      for (Index c = 0; c < count; ++c) add_ziggurat_normals(keys[static_cast<std::size_t>(c)], 0.3, expected.data() + c * n, n);
      add_ziggurat_normals_columns(keys.data(), count, 0.3, best.data(), n);
      add_ziggurat_normals_columns(keys.data(), count, 0.3, scalar.data(), n, ZigguratKernel::scalar);
      INFO("n = " << n << ", " << count << " columns");
      Index best_differs = 0, scalar_differs = 0;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        best_differs += best[i] != expected[i];
        scalar_differs += scalar[i] != expected[i];
      }
      CHECK(best_differs == 0);
      CHECK(scalar_differs == 0);
      // What the streams went through: words outside their rectangle (one more word drawn than
      // normals made) and normals beyond r.
      for (Index c = 0; c < count; ++c) {
        SplitStream s(keys[static_cast<std::size_t>(c)]);
        const ZigguratTables& t = ZigguratTables::get();
        for (Index i = 0; i < n; ++i) {
          SplitStream peek = s;
          const std::uint64_t word = peek();
          if ((word >> 12) >= t.k[word & 0xff]) ++slow_words;
          if (std::abs(ziggurat_normal(s, t)) > ZigguratTables::r) ++tails;
        }
      }
    }
  }
  INFO(slow_words << " slow words, " << tails << " normals beyond r");
  CHECK(slow_words > 1000);
  CHECK(tails > 10);
}
