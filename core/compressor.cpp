#include "core/compressor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <numeric>
#include <sstream>

#include "core/error.hpp"

namespace dposg {
namespace {

// A uniform draw from 0..n-1 by rejection, so that streams do not depend on the standard
// library's (implementation-defined) distributions.
std::uint64_t uniform_below(Rng& rng, std::uint64_t n) {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t r;
  do r = rng(); while (r >= limit);
  return r % n;
}

// Uniform in [0, 1) from the top 53 bits.
double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

class NoneCompressor final : public Compressor {
 public:
  explicit NoneCompressor(Index d) : Compressor(d) {}
  std::string name() const override { return "none"; }
  double delta() const override { return 1.0; }
  void compress(const Eigen::Ref<const Vector>& x, Rng&, CompressedVector& out) const override {
    out.dim = dim_;
    out.values.assign(x.data(), x.data() + x.size());
    out.bits = bits();
  }
  void decompress(const CompressedVector& c, Eigen::Ref<Vector> out) const override {
    out = Eigen::Map<const Vector>(c.values.data(), dim_);
  }

 protected:
  Layout layout() const override { return {.values = dim_}; }
};

// top-k and rand-k share the sparse message: (index, value) pairs.
class SparseCompressor : public Compressor {
 public:
  SparseCompressor(Index d, Index k) : Compressor(d), k_(k) {}
  Index k() const override { return k_; }
  double delta() const override { return static_cast<double>(k_) / static_cast<double>(dim_); }
  void decompress(const CompressedVector& c, Eigen::Ref<Vector> out) const override {
    out.setZero();
    for (std::size_t q = 0; q < c.indices.size(); ++q) out[c.indices[q]] = c.values[q];
  }

 protected:
  Layout layout() const override { return {.indices = k_, .values = k_}; }
  // Fills out's indices (sorted) and values from the first k entries of `order`.
  void emit(const Eigen::Ref<const Vector>& x, std::vector<std::uint32_t>& order, CompressedVector& out) const {
    std::sort(order.begin(), order.begin() + k_);
    out.dim = dim_;
    out.indices.assign(order.begin(), order.begin() + k_);
    out.values.resize(static_cast<std::size_t>(k_));
    for (Index q = 0; q < k_; ++q) out.values[static_cast<std::size_t>(q)] = x[out.indices[static_cast<std::size_t>(q)]];
    out.levels.clear();
    out.bits = bits();
  }
  Index k_;
};

class TopK final : public SparseCompressor {
 public:
  using SparseCompressor::SparseCompressor;
  std::string name() const override { return "top-k"; }
  void compress(const Eigen::Ref<const Vector>& x, Rng&, CompressedVector& out) const override {
    thread_local std::vector<std::uint32_t> order;
    order.resize(static_cast<std::size_t>(dim_));
    std::iota(order.begin(), order.end(), 0u);
    std::nth_element(order.begin(), order.begin() + (k_ - 1), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      const double xa = std::abs(x[a]), xb = std::abs(x[b]);
      return xa > xb || (xa == xb && a < b);
    });
    emit(x, order, out);
  }
};

class RandK final : public SparseCompressor {
 public:
  using SparseCompressor::SparseCompressor;
  std::string name() const override { return "rand-k"; }
  bool randomized() const override { return true; }
  void compress(const Eigen::Ref<const Vector>& x, Rng& rng, CompressedVector& out) const override {
    thread_local std::vector<std::uint32_t> order;
    order.resize(static_cast<std::size_t>(dim_));
    std::iota(order.begin(), order.end(), 0u);
    // The first k steps of Fisher-Yates: a uniform k-subset.
    for (Index i = 0; i < k_; ++i) {
      const auto j = static_cast<std::size_t>(i) + uniform_below(rng, static_cast<std::uint64_t>(dim_ - i));
      std::swap(order[static_cast<std::size_t>(i)], order[j]);
    }
    emit(x, order, out);
  }
};

class SignCompressor final : public Compressor {
 public:
  explicit SignCompressor(Index d) : Compressor(d) {}
  std::string name() const override { return "sign"; }
  double delta() const override { return 1.0 / static_cast<double>(dim_); }
  void compress(const Eigen::Ref<const Vector>& x, Rng&, CompressedVector& out) const override {
    out.dim = dim_;
    out.scale = x.lpNorm<1>() / static_cast<double>(dim_);
    out.levels.resize(static_cast<std::size_t>(dim_));
    for (Index j = 0; j < dim_; ++j) out.levels[static_cast<std::size_t>(j)] = x[j] < 0.0 ? -1 : 1;
    out.indices.clear();
    out.values.clear();
    out.bits = bits();
  }
  void decompress(const CompressedVector& c, Eigen::Ref<Vector> out) const override {
    for (Index j = 0; j < dim_; ++j) out[j] = c.scale * c.levels[static_cast<std::size_t>(j)];
  }

 protected:
  Layout layout() const override { return {.levels = dim_, .magnitude_bits = 0, .scale = true}; }
};

class Qsgd final : public Compressor {
 public:
  Qsgd(Index d, int s) : Compressor(d), s_(s) {
    const double dd = static_cast<double>(d), ss = static_cast<double>(s);
    beta_ = std::min(dd / (ss * ss), std::sqrt(dd) / ss);
  }
  std::string name() const override { return "qsgd"; }
  bool randomized() const override { return true; }
  double delta() const override { return 1.0 / (1.0 + beta_); }
  double beta() const { return beta_; }
  void compress(const Eigen::Ref<const Vector>& x, Rng& rng, CompressedVector& out) const override {
    out.dim = dim_;
    out.levels.resize(static_cast<std::size_t>(dim_));
    out.indices.clear();
    out.values.clear();
    out.bits = bits();
    const double norm = x.norm();
    const double s = static_cast<double>(s_);
    out.scale = norm / (s * (1.0 + beta_));
    for (Index j = 0; j < dim_; ++j) {
      // One draw per coordinate whatever x is, so the stream advances the same way for every input.
      const double u = uniform01(rng);
      const double a = norm > 0.0 ? s * std::abs(x[j]) / norm : 0.0;
      double l = std::floor(a);
      if (u < a - l) l += 1.0;
      const auto level = static_cast<std::int32_t>(std::min(l, s));
      out.levels[static_cast<std::size_t>(j)] = x[j] < 0.0 ? -level : level;
    }
  }
  void decompress(const CompressedVector& c, Eigen::Ref<Vector> out) const override {
    for (Index j = 0; j < dim_; ++j) out[j] = c.scale * c.levels[static_cast<std::size_t>(j)];
  }

 protected:
  Layout layout() const override {
    return {.levels = dim_, .magnitude_bits = index_bits(static_cast<Index>(s_) + 1), .scale = true};
  }

 private:
  int s_;
  double beta_ = 0;
};

// A little-endian bit stream over a byte buffer: bit b of the stream is bit (b % 8) of byte b / 8.
class BitWriter {
 public:
  explicit BitWriter(std::uint8_t* out) : out_(out) {}
  void put(std::uint64_t v, int n) {
    while (n > 0) {
      const int offset = static_cast<int>(pos_ & 7);
      const int take = std::min(8 - offset, n);
      out_[pos_ >> 3] |= static_cast<std::uint8_t>((v & ((1u << take) - 1)) << offset);
      v >>= take;
      n -= take;
      pos_ += static_cast<std::size_t>(take);
    }
  }

 private:
  std::uint8_t* out_;
  std::size_t pos_ = 0;
};

class BitReader {
 public:
  explicit BitReader(const std::uint8_t* in) : in_(in) {}
  std::uint64_t get(int n) {
    std::uint64_t v = 0;
    for (int got = 0; got < n;) {
      const int offset = static_cast<int>(pos_ & 7);
      const int take = std::min(8 - offset, n - got);
      v |= static_cast<std::uint64_t>((in_[pos_ >> 3] >> offset) & ((1u << take) - 1)) << got;
      got += take;
      pos_ += static_cast<std::size_t>(take);
    }
    return v;
  }

 private:
  const std::uint8_t* in_;
  std::size_t pos_ = 0;
};

std::uint64_t double_bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

double bits_double(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

}  // namespace

std::int64_t Compressor::bits() const {
  const Layout l = layout();
  return l.indices * index_bits(dim_) + 64 * l.values + l.levels * (1 + l.magnitude_bits) + (l.scale ? 64 : 0);
}

void Compressor::encode(const CompressedVector& c, std::vector<std::uint8_t>& out) const {
  out.resize(wire_bytes());
  encode(c, out.data());
}

void Compressor::encode(const CompressedVector& c, std::uint8_t* out) const {
  const Layout l = layout();
  std::fill_n(out, wire_bytes(), std::uint8_t{0});
  BitWriter w(out);
  const int ib = index_bits(dim_);
  for (Index q = 0; q < l.indices; ++q) w.put(c.indices[static_cast<std::size_t>(q)], ib);
  for (Index q = 0; q < l.values; ++q) w.put(double_bits(c.values[static_cast<std::size_t>(q)]), 64);
  for (Index q = 0; q < l.levels; ++q) {
    const std::int32_t level = c.levels[static_cast<std::size_t>(q)];
    w.put(level < 0 ? 1 : 0, 1);
    w.put(static_cast<std::uint64_t>(level < 0 ? -static_cast<std::int64_t>(level) : level), l.magnitude_bits);
  }
  if (l.scale) w.put(double_bits(c.scale), 64);
}

void Compressor::decode(const std::uint8_t* bytes, std::size_t n, CompressedVector& out) const {
  const Layout l = layout();
  if (n != wire_bytes())
    throw std::runtime_error("compressed message of " + std::to_string(n) + " bytes; " + name() + " sends " +
                             std::to_string(wire_bytes()));
  BitReader r(bytes);
  const int ib = index_bits(dim_);
  out.dim = dim_;
  out.bits = bits();
  out.indices.resize(static_cast<std::size_t>(l.indices));
  for (auto& i : out.indices) i = static_cast<std::uint32_t>(r.get(ib));
  out.values.resize(static_cast<std::size_t>(l.values));
  for (auto& v : out.values) v = bits_double(r.get(64));
  out.levels.resize(static_cast<std::size_t>(l.levels));
  for (auto& level : out.levels) {
    const bool negative = r.get(1) != 0;
    const auto magnitude = l.magnitude_bits == 0 ? 1 : static_cast<std::int32_t>(r.get(l.magnitude_bits));
    level = negative ? -magnitude : magnitude;
  }
  out.scale = l.scale ? bits_double(r.get(64)) : 0.0;
}

int index_bits(Index d) {
  int b = 0;
  while ((Index{1} << b) < d) ++b;
  return b;
}

std::vector<std::string> compressor_names() { return {"none", "top-k", "rand-k", "sign", "qsgd"}; }

std::unique_ptr<Compressor> make_compressor(const CompressorOptions& o, Index d) {
  const bool sparse = o.name == "top-k" || o.name == "rand-k";
  if (o.k < 0) throw InputError(setting("compressor.k") + ": must be >= 0, got " + std::to_string(o.k));
  if (o.ratio != 0.0 && !(o.ratio > 0.0 && o.ratio <= 1.0)) {
    std::ostringstream s;
    s << setting("compressor.ratio") << ": must be in (0, 1], got " << o.ratio;
    throw InputError(s.str());
  }
  if (!sparse && (o.k != 0 || o.ratio != 0.0))
    throw InputError(setting(o.k != 0 ? "compressor.k" : "compressor.ratio") + ": only " + setting("compressor.name") +
                     " top-k and rand-k keep k coordinates, got " + setting("compressor.name") + " " + o.name);
  if (o.name == "none") return std::make_unique<NoneCompressor>(d);
  if (o.name == "sign") return std::make_unique<SignCompressor>(d);
  if (o.name == "qsgd") {
    if (o.qsgd_levels < 1) throw InputError(setting("compressor.qsgd_levels") + ": must be >= 1, got " + std::to_string(o.qsgd_levels));
    return std::make_unique<Qsgd>(d, o.qsgd_levels);
  }
  if (sparse) {
    if (o.k != 0 && o.ratio != 0.0) throw InputError(setting("compressor.k") + ": give " + setting("compressor.k") + " or " + setting("compressor.ratio") +
                                                    ", not both");
    if (o.k == 0 && o.ratio == 0.0)
      throw InputError(setting("compressor.k") + ": " + setting("compressor.name") + " " + o.name + " needs " +
                       setting("compressor.k") + " or " + setting("compressor.ratio"));
    const Index k = o.k != 0 ? o.k
                             : std::clamp<Index>(static_cast<Index>(std::ceil(o.ratio * static_cast<double>(d) - 1e-9)),
                                                 1, d);
    if (k > d)
      throw InputError(setting("compressor.k") + ": k = " + std::to_string(k) + " exceeds the dimension d = " + std::to_string(d));
    if (o.name == "top-k") return std::make_unique<TopK>(d, k);
    return std::make_unique<RandK>(d, k);
  }
  std::string known;
  for (const auto& n : compressor_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError(setting("compressor.name") + ": unknown compressor '" + o.name + "' (known: " + known + ")");
}

Rng compression_rng(std::uint64_t seed, std::uint64_t channel, Index worker, std::int64_t iteration) {
  const std::uint64_t key =
      splitmix64(splitmix64(splitmix64(static_cast<std::uint64_t>(worker)) ^ static_cast<std::uint64_t>(iteration)) ^
                 channel);
  return make_rng(seed, StreamPurpose::compression, key);
}

ColumnCompressor::ColumnCompressor(std::shared_ptr<const Compressor> c, bool error_feedback, std::uint64_t seed)
    : c_(std::move(c)), error_feedback_(error_feedback), seed_(seed) {}

void ColumnCompressor::compress(const Matrix& X, std::int64_t iteration, std::uint64_t channel, Matrix& sent,
                                Index first_worker) {
  const Index d = X.rows(), M = X.cols();
  sent.resize(d, M);
  if (error_feedback_ && (memory_.rows() != d || memory_.cols() != M)) memory_.setZero(d, M);
  scratch_.resize(static_cast<std::size_t>(M));
  // Workers are independent (own stream, own memory): parallel over them gives the same numbers.
#pragma omp parallel for schedule(static) if (d * M >= kParallelMinWork)
  for (Index i = 0; i < M; ++i) {
    Rng rng = compression_rng(seed_, channel, first_worker + i, iteration);
    auto& msg = scratch_[static_cast<std::size_t>(i)];
    if (error_feedback_) {
      const Vector p = X.col(i) + memory_.col(i);
      c_->apply(p, rng, msg, sent.col(i));
      memory_.col(i) = p - sent.col(i);
    } else {
      c_->apply(X.col(i), rng, msg, sent.col(i));
    }
  }
}

}  // namespace dposg
