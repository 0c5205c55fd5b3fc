#include "core/counter_normals.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics warn of their own _mm512_undefined_* placeholders when inlined under
// a target attribute (GCC bug 105593); the warning is about the header, not this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

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

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DPOSG_ZIGGURAT_AVX512 1

// Eight columns, stream l in lane l: word k of every lane, mix64, the layer's k and w gathered,
// the fast path's x with its sign in the IEEE sign bit, as ziggurat_normal computes it; lanes that
// miss their rectangle go through ziggurat_slow_path one by one with their own stream, which then
// continues in the lane. Positions come in chunks whose normals are scaled in a tile and added to
// the columns (stddev * n, then the add: the scalar loop's two roundings, no fused multiply-add).
__attribute__((target("avx512f,avx512dq"), optimize("fp-contract=off"))) void add_normals8_avx512(
    const std::uint64_t* keys, double stddev, double* out, Index n, const ZigguratTables& t) {
  alignas(64) std::uint64_t lane_state[8], lane_gamma[8], lane_word[8];
  alignas(64) double lane_x[8];
  for (int l = 0; l < 8; ++l) {
    const SplitStream s(keys[l]);
    lane_state[l] = s.state();
    lane_gamma[l] = s.gamma();
  }
  __m512i state = _mm512_load_si512(lane_state);
  const __m512i gamma = _mm512_load_si512(lane_gamma);
  const __m512i m1 = _mm512_set1_epi64(static_cast<long long>(0xbf58476d1ce4e5b9ULL));
  const __m512i m2 = _mm512_set1_epi64(static_cast<long long>(0x94d049bb133111ebULL));
  const __m512i layer_bits = _mm512_set1_epi64(0xff);
  const __m512i sign_bit = _mm512_set1_epi64(0x100);
  const __m512d scale = _mm512_set1_pd(stddev);
  constexpr Index kChunk = 64;
  alignas(64) double tile[8 * kChunk];
  for (Index k0 = 0; k0 < n; k0 += kChunk) {
    const Index len = std::min(kChunk, n - k0);
    for (Index k = 0; k < len; ++k) {
      state = _mm512_add_epi64(state, gamma);
      __m512i z = state;
      z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), m1);
      z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), m2);
      z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
      const __m512i layer = _mm512_and_si512(z, layer_bits);
      const __m512i magnitude = _mm512_srli_epi64(z, 12);
      const __m512i inner = _mm512_i64gather_epi64(layer, t.k.data(), 8);
      const __m512d width = _mm512_i64gather_pd(layer, t.w.data(), 8);
      __m512d x = _mm512_mul_pd(_mm512_cvtepi64_pd(magnitude), width);
      x = _mm512_castsi512_pd(
          _mm512_xor_si512(_mm512_castpd_si512(x), _mm512_slli_epi64(_mm512_and_si512(z, sign_bit), 55)));
      const __mmask8 fast = _mm512_cmplt_epu64_mask(magnitude, inner);
      if (fast != 0xff) [[unlikely]] {
        _mm512_store_si512(lane_state, state);
        _mm512_store_si512(lane_word, z);
        _mm512_store_pd(lane_x, x);
        for (int l = 0; l < 8; ++l) {
          if (fast & (1u << l)) continue;
          const ZigguratSlow slow = ziggurat_slow_path(SplitStream(lane_state[l], lane_gamma[l]), t, lane_word[l]);
          lane_x[l] = slow.value;
          lane_state[l] = slow.stream.state();
        }
        state = _mm512_load_si512(lane_state);
        x = _mm512_load_pd(lane_x);
      }
      _mm512_store_pd(tile + 8 * k, _mm512_mul_pd(scale, x));
    }
    for (int l = 0; l < 8; ++l) {
      double* col = out + l * n + k0;
      for (Index k = 0; k < len; ++k) col[k] = col[k] + tile[8 * k + l];
    }
  }
}
#pragma GCC diagnostic pop
#endif

bool has_avx512_kernel() {
#ifdef DPOSG_ZIGGURAT_AVX512
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

}  // namespace

bool ziggurat_vector_kernel_available() {
  static const bool available = has_avx512_kernel();
  return available;
}

void add_ziggurat_normals_columns(const std::uint64_t* keys, Index count, double stddev, double* out, Index n,
                                  [[maybe_unused]] ZigguratKernel kernel) {
  Index c = 0;
#ifdef DPOSG_ZIGGURAT_AVX512
  if (kernel == ZigguratKernel::best && n > 0 && ziggurat_vector_kernel_available()) {
    const ZigguratTables& t = ZigguratTables::get();
    for (; c + 8 <= count; c += 8) add_normals8_avx512(keys + c, stddev, out + c * n, n, t);
  }
#endif
  for (; c < count; ++c) add_ziggurat_normals(keys[c], stddev, out + c * n, n);
}

}  // namespace dposg
