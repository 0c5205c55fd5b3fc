#include "core/counter_normals.hpp"

#include <bit>
#include <cmath>

namespace dposg {

namespace {

// java.util.SplittableRandom's mixGamma: an odd gamma with enough bit transitions that the Weyl
// sequence seed + j * gamma does not look regular to mix64.
std::uint64_t mix_gamma(std::uint64_t z) {
  z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
  z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ULL;
  z = (z ^ (z >> 33)) | 1ULL;
  return std::popcount(z ^ (z >> 1)) < 24 ? z ^ 0xaaaaaaaaaaaaaaaaULL : z;
}

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr double kTwo52 = 0x1.0p52;

ZigguratTables make_tables() {
  // Marsaglia & Tsang (2000), zigset, with 256 layers and 52-bit magnitudes. Layer i >= 1 spans
  // y in [f(x_i), f(x_{i-1})] over x in [0, x_i] (x_0 = 0 at the top); layer 0 is the base
  // rectangle [0, r] x [0, f(r)] together with the tail beyond r, of pseudo-width q = v / f(r).
  ZigguratTables t{};
  constexpr int n = ZigguratTables::kLayers;
  const double r = ZigguratTables::r, v = ZigguratTables::v;
  const double f_r = std::exp(-0.5 * r * r);
  const double q = v / f_r;
  double dn = r, tn = r;
  t.k[0] = static_cast<std::uint64_t>((dn / q) * kTwo52);
  t.k[1] = 0;
  t.w[0] = q / kTwo52;
  t.w[n - 1] = dn / kTwo52;
  t.f[0] = 1.0;
  t.f[n - 1] = f_r;
  t.x[0] = q;
  t.x[n - 1] = r;
  for (int i = n - 2; i >= 1; --i) {
    dn = std::sqrt(-2.0 * std::log(v / dn + std::exp(-0.5 * dn * dn)));
    t.k[i + 1] = static_cast<std::uint64_t>((dn / tn) * kTwo52);
    tn = dn;
    t.f[i] = std::exp(-0.5 * dn * dn);
    t.w[i] = dn / kTwo52;
    t.x[i] = dn;
  }
  return t;
}

}  // namespace

SplitStream::SplitStream(std::uint64_t key) : state_(mix64(key + kGolden)), gamma_(mix_gamma(key + 2 * kGolden)) {}

const ZigguratTables& ZigguratTables::get() {
  static const ZigguratTables tables = make_tables();
  return tables;
}

ZigguratSlow ziggurat_slow_path(SplitStream s, const ZigguratTables& t, std::uint64_t word) {
  for (;;) {
    const unsigned layer = static_cast<unsigned>(word & 0xff);
    const bool negative = (word & 0x100) != 0;
    const std::uint64_t magnitude = word >> 12;
    const double x = static_cast<double>(static_cast<std::int64_t>(magnitude)) * t.w[layer];
    if (magnitude < t.k[layer]) return {negative ? -x : x, s};
    if (layer == 0) {
      // The tail beyond r (Marsaglia 1964); log1p(-U) keeps log away from 0.
      for (;;) {
        const double xx = -std::log1p(-s.uniform()) / ZigguratTables::r;
        const double yy = -std::log1p(-s.uniform());
        if (yy + yy > xx * xx) return {negative ? -(ZigguratTables::r + xx) : ZigguratTables::r + xx, s};
      }
    }
    // The wedge between the layer's inner rectangle and the curve: accept under exp(-x^2/2).
    if ((t.f[layer - 1] - t.f[layer]) * s.uniform() + t.f[layer] < std::exp(-0.5 * x * x))
      return {negative ? -x : x, s};
    word = s();
  }
}

void add_ziggurat_normals(std::uint64_t key, double stddev, double* out, Index n) {
  const ZigguratTables& t = ZigguratTables::get();
  SplitStream s(key);
  for (Index i = 0; i < n; ++i) out[i] += stddev * ziggurat_normal(s, t);
}

}  // namespace dposg
