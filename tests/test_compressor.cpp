// ctest-label: unit
// Compressors (core/compressor.hpp): the delta-approximation ||C(x) - x||^2 <= (1 - delta)||x||^2
// on random and adversarial inputs, exact bit counts, error feedback's memory identity.
#include <catch2/catch.hpp>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/compressor.hpp"
#include "core/error.hpp"

using namespace dposg;

namespace {

std::unique_ptr<Compressor> make(const std::string& name, Index d, Index k = 0, double ratio = 0.0, int s = 4) {
  CompressorOptions o;
  o.name = name;
  o.k = k;
  o.ratio = ratio;
  o.qsgd_levels = s;
  return make_compressor(o, d);
}

// The inputs every compressor is checked on: random (Gaussian, heavy-tailed Cauchy) and
// adversarial (all equal, one spike, alternating signs, zero).
std::vector<std::pair<std::string, Vector>> inputs(Index d, std::uint64_t seed) {
  Rng rng(seed);
  std::normal_distribution<double> n;
  std::cauchy_distribution<double> cauchy;
  std::vector<std::pair<std::string, Vector>> v;
  Vector x(d);
  for (Index j = 0; j < d; ++j) x[j] = n(rng);
  v.emplace_back("gaussian", x);
  for (Index j = 0; j < d; ++j) x[j] = cauchy(rng);
  v.emplace_back("cauchy", x);
  v.emplace_back("all-equal", Vector::Constant(d, 0.7));
  x.setZero();
  x[d / 2] = -3.0;
  v.emplace_back("spike", x);
  for (Index j = 0; j < d; ++j) x[j] = (j % 2 ? -1.0 : 1.0) * 1e-3;
  v.emplace_back("alternating", x);
  v.emplace_back("zero", Vector::Zero(d));
  return v;
}

double err2(const Compressor& c, const Vector& x, Rng& rng) {
  CompressedVector msg;
  Vector y(x.size());
  c.apply(x, rng, msg, y);
  return (y - x).squaredNorm();
}

struct Kind {
  std::string name;
  Index k;
  double ratio;
  int s;
};

}  // namespace

TEST_CASE("index bits are ceil(log2 d)", "[compressor]") {
  CHECK(index_bits(1) == 0);
  CHECK(index_bits(2) == 1);
  CHECK(index_bits(3) == 2);
  CHECK(index_bits(4) == 2);
  CHECK(index_bits(5) == 3);
  CHECK(index_bits(1024) == 10);
  CHECK(index_bits(1025) == 11);
}

TEST_CASE("bit counts match the hand computation", "[compressor]") {
  // d = 50: an index takes ceil(log2 50) = 6 bits, a value 64.
  CHECK(make("none", 50)->bits() == 50 * 64);
  CHECK(make("top-k", 50, 5)->bits() == 5 * (64 + 6));
  CHECK(make("rand-k", 50, 5)->bits() == 5 * (64 + 6));
  CHECK(make("top-k", 50, 0, 0.1)->bits() == 5 * 70);       // k = ceil(0.1 * 50) = 5
  CHECK(make("top-k", 50, 0, 0.11)->k() == 6);              // k = ceil(5.5) = 6
  CHECK(make("sign", 50)->bits() == 50 + 64);               // one bit per sign, one double scale
  CHECK(make("qsgd", 50, 0, 0, 4)->bits() == 64 + 50 * 4);  // norm + (sign + ceil(log2 5) = 3 level bits)
  CHECK(make("qsgd", 50, 0, 0, 1)->bits() == 64 + 50 * 2);  // levels 0..1: 1 bit
  CHECK(make("top-k", 1, 1)->bits() == 64);                 // d = 1: no index bits
  // The message itself says the same.
  Rng rng(1);
  CompressedVector msg;
  for (const char* name : {"none", "sign", "qsgd"}) {
    auto c = make(name, 50);
    c->compress(Vector::Ones(50), rng, msg);
    CHECK(msg.bits == c->bits());
  }
  auto t = make("top-k", 50, 7);
  t->compress(Vector::LinSpaced(50, -1, 2), rng, msg);
  CHECK(msg.bits == 7 * 70);
  CHECK(msg.indices.size() == 7);
}

namespace {

// Bytes 0..n-1 of a little-endian bit stream held as a 128-bit integer.
std::vector<std::uint8_t> stream_bytes(unsigned __int128 v, std::size_t n) {
  std::vector<std::uint8_t> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return b;
}

std::uint64_t bits_of(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

}  // namespace

TEST_CASE("the wire format is the documented bit stream", "[compressor]") {
  Rng rng(1);
  CompressedVector msg;
  std::vector<std::uint8_t> wire;
  // sign, d = 3, x = (1, -2, 3): sign bits 0, 1, 0, then the scale ||x||_1 / d = 2 at bit 3.
  auto s = make("sign", 3);
  s->compress((Vector(3) << 1, -2, 3).finished(), rng, msg);
  s->encode(msg, wire);
  CHECK(wire == stream_bytes(0b010 | (static_cast<unsigned __int128>(bits_of(2.0)) << 3), 9));
  // top-k, d = 5, k = 1: the index 2 in ceil(log2 5) = 3 bits, then the value -1.5.
  auto t = make("top-k", 5, 1);
  t->compress((Vector(5) << 0, 0.5, -1.5, 0, 1).finished(), rng, msg);
  t->encode(msg, wire);
  CHECK(wire == stream_bytes(2 | (static_cast<unsigned __int128>(bits_of(-1.5)) << 3), 9));
  // qsgd, s = 1 (magnitude 1 bit), d = 2, x = (0, -1): levels +0 (00) and -1 (sign 1, magnitude 1),
  // then the scale ||x|| / (s (1 + beta)) with beta = min(d / s^2, sqrt(d) / s) = sqrt(2).
  auto q = make("qsgd", 2, 0, 0.0, 1);
  q->compress((Vector(2) << 0, -1).finished(), rng, msg);
  REQUIRE(msg.levels == std::vector<std::int32_t>{0, -1});
  q->encode(msg, wire);
  CHECK(wire == stream_bytes(0b1100 | (static_cast<unsigned __int128>(bits_of(msg.scale)) << 4), 9));
  CHECK(msg.scale == 1.0 / (1.0 + std::sqrt(2.0)));
}

TEST_CASE("encode is ceil(bits/8) bytes and decode inverts it", "[compressor]") {
  const std::vector<Kind> kinds{{"none", 0, 0, 4},   {"top-k", 3, 0, 4}, {"top-k", 0, 0.3, 4}, {"rand-k", 5, 0, 4},
                                {"sign", 0, 0, 4},   {"qsgd", 0, 0, 1},  {"qsgd", 0, 0, 4},    {"qsgd", 0, 0, 255}};
  for (Index d : {1, 5, 37, 1000}) {
    for (const auto& kind : kinds) {
      if (kind.k > d) continue;
      auto c = make(kind.name, d, kind.k, kind.ratio, kind.s);
      Rng rng(5);
      for (const auto& [label, x] : inputs(d, 17)) {
        INFO(kind.name << " k=" << kind.k << " s=" << kind.s << " d=" << d << " " << label);
        CompressedVector msg, back;
        c->compress(x, rng, msg);
        std::vector<std::uint8_t> wire;
        c->encode(msg, wire);
        CHECK(static_cast<std::int64_t>(wire.size()) == (c->bits() + 7) / 8);
        c->decode(wire.data(), wire.size(), back);
        Vector a(d), b(d);
        c->decompress(msg, a);
        c->decompress(back, b);
        CHECK((a.array() == b.array()).all());
        CHECK(back.indices == msg.indices);
        CHECK(back.levels == msg.levels);
        CHECK(std::memcmp(&back.scale, &msg.scale, sizeof(double)) == 0);
      }
      std::vector<std::uint8_t> short_wire(static_cast<std::size_t>((c->bits() + 7) / 8) - 1);
      CompressedVector out;
      CHECK_THROWS(c->decode(short_wire.data(), short_wire.size(), out));
    }
  }
}

TEST_CASE("none round-trips exactly", "[compressor]") {
  for (Index d : {1, 7, 64}) {
    auto c = make("none", d);
    Rng rng(3);
    for (const auto& [label, x] : inputs(d, 11)) {
      INFO(label);
      Vector y(d);
      CompressedVector msg;
      c->apply(x, rng, msg, y);
      CHECK((y.array() == x.array()).all());
    }
  }
}

TEST_CASE("deterministic compressors: ||C(x) - x||^2 <= (1 - delta)||x||^2 for every input", "[compressor]") {
  const std::vector<Kind> kinds = {{"none", 0, 0, 0}, {"top-k", 1, 0, 0},  {"top-k", 0, 0.1, 0},
                                   {"top-k", 0, 0.5, 0}, {"top-k", 0, 1.0, 0}, {"sign", 0, 0, 0}};
  for (Index d : {1, 2, 7, 50, 301}) {
    for (const auto& kind : kinds) {
      auto c = make(kind.name, d, kind.k, kind.ratio);
      for (const auto& [label, x] : inputs(d, 100 + static_cast<std::uint64_t>(d))) {
        INFO(kind.name << " k=" << kind.k << " ratio=" << kind.ratio << " d=" << d << " input " << label);
        Rng rng(5);
        const double e = err2(*c, x, rng);
        const double x2 = x.squaredNorm();
        CHECK(e <= (1.0 - c->delta()) * x2 * (1 + 1e-12) + 1e-300);
        if (kind.name == "sign" && x2 > 0) {
          // Exactly ||x||^2 - ||x||_1^2/d: delta(x) = ||x||_1^2/(d ||x||^2) >= 1/d.
          const double l1 = x.lpNorm<1>();
          CHECK(e == Approx(x2 - l1 * l1 / static_cast<double>(d)).epsilon(1e-12).margin(1e-12 * x2));
        }
      }
    }
  }
}

TEST_CASE("top-k keeps the k largest magnitudes", "[compressor]") {
  Vector x(6);
  x << 0.1, -5, 2, -2, 0.3, 4;
  auto c = make("top-k", 6, 3);
  Rng rng(0);
  CompressedVector msg;
  Vector y(6);
  c->apply(x, rng, msg, y);
  Vector want(6);
  want << 0, -5, 2, 0, 0, 4;  // |2| = |-2|: the lower index wins
  CHECK(y == want);
}

TEST_CASE("randomized compressors: E||C(x) - x||^2 within the bound (Monte-Carlo mean + 4 s.e.)", "[compressor]") {
  // rand-k: E||C(x) - x||^2 = (1 - k/d)||x||^2 exactly, so the Monte-Carlo mean must agree with
  // the bound within 4 standard errors (equality: a one-sided test would fail half the time).
  // qsgd: the bound is an inequality, mean + 4 s.e. <= (1 - delta)||x||^2.
  const int draws = 4000;
  const std::vector<Kind> kinds = {{"rand-k", 1, 0, 0}, {"rand-k", 0, 0.1, 0}, {"rand-k", 0, 0.5, 0},
                                   {"qsgd", 0, 0, 1},   {"qsgd", 0, 0, 4},     {"qsgd", 0, 0, 16}};
  for (Index d : {1, 7, 50, 301}) {
    for (const auto& kind : kinds) {
      auto c = make(kind.name, d, kind.k, kind.ratio, kind.s);
      REQUIRE(c->randomized());
      for (const auto& [label, x] : inputs(d, 200 + static_cast<std::uint64_t>(d))) {
        INFO(kind.name << " k=" << kind.k << " ratio=" << kind.ratio << " s=" << kind.s << " d=" << d << " input "
                       << label);
        std::vector<double> e(draws);
        for (int t = 0; t < draws; ++t) {
          Rng rng = compression_rng(42, 0, 0, t);
          e[static_cast<std::size_t>(t)] = err2(*c, x, rng);
        }
        double m = 0, ss = 0;
        for (double v : e) m += v;
        m /= draws;
        for (double v : e) ss += (v - m) * (v - m);
        const double se = std::sqrt(ss / (draws - 1) / draws);
        const double x2 = x.squaredNorm();
        const double bound = (1.0 - c->delta()) * x2;
        const double slack = 1e-12 * x2 + 1e-300;
        if (kind.name == "rand-k") {
          CHECK(std::abs(m - bound) <= 4 * se + slack);
        } else {
          CHECK(m + 4 * se <= bound + slack);
        }
      }
    }
  }
}

TEST_CASE("qsgd before scaling is unbiased", "[compressor]") {
  const Index d = 20;
  auto c = make("qsgd", d, 0, 0, 2);
  Vector x = Vector::LinSpaced(d, -1, 3);
  Vector sum = Vector::Zero(d), y(d);
  CompressedVector msg;
  const int draws = 20000;
  for (int t = 0; t < draws; ++t) {
    Rng rng = compression_rng(7, 0, 0, t);
    c->apply(x, rng, msg, y);
    sum += y;
  }
  // E C(x) = x / (1 + beta) = delta x.
  const Vector mean = sum / draws;
  CHECK((mean - c->delta() * x).norm() <= 0.02 * x.norm());
}

TEST_CASE("bad compressor options are InputErrors naming the option", "[compressor]") {
  auto msg = [](const CompressorOptions& o, Index d) {
    try {
      make_compressor(o, d);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CompressorOptions o;
  o.name = "zip";
  CHECK(msg(o, 10).find("compressor.name") == 0);
  o.name = "top-k";
  CHECK(msg(o, 10).find("compressor.k") == 0);  // neither k nor ratio
  o.k = 11;
  CHECK(msg(o, 10).find("compressor.k") == 0);  // k > d
  o.k = 0;
  o.ratio = 1.5;
  CHECK(msg(o, 10).find("compressor.ratio") == 0);
  o.ratio = -0.1;
  CHECK(msg(o, 10).find("compressor.ratio") == 0);
  o.name = "sign";
  o.ratio = 0.5;
  CHECK(msg(o, 10).find("compressor.ratio") == 0);  // sign keeps no k
  o = {};
  o.name = "qsgd";
  o.qsgd_levels = 0;
  CHECK(msg(o, 10).find("compressor.qsgd_levels") == 0);
}

TEST_CASE("error feedback: sum of sent messages + final memory = sum of inputs", "[compressor]") {
  const Index d = 30, M = 4;
  for (const char* name : {"top-k", "rand-k", "sign", "qsgd"}) {
    INFO(name);
    std::shared_ptr<const Compressor> c = make(name, d, std::string(name).find("-k") != std::string::npos ? 3 : 0);
    ColumnCompressor ef(c, true, 9);
    Rng rng(4);
    Matrix inputs = Matrix::Zero(d, M), sent_sum = Matrix::Zero(d, M), X(d, M), sent;
    for (int k = 1; k <= 50; ++k) {
      for (Index i = 0; i < M; ++i) fill_normal(rng, 1.0, X.col(i));
      ef.compress(X, k, 0, sent);
      inputs += X;
      sent_sum += sent;
    }
    CHECK((sent_sum + ef.memory() - inputs).norm() <= 1e-12 * inputs.norm());
    // And the memory stays bounded (no drift): well below the sum of inputs.
    CHECK(ef.memory().norm() < inputs.norm());
  }
}

TEST_CASE("compression streams are keyed by (worker, iteration): the same numbers on any thread count",
          "[compressor]") {
  const Index d = 8192, M = 12;  // above the parallel threshold
  std::shared_ptr<const Compressor> c = make("qsgd", d, 0, 0, 4);
  Rng rng(8);
  Matrix X(d, M);
  for (Index i = 0; i < M; ++i) fill_normal(rng, 1.0, X.col(i));
  const int before = omp_get_max_threads();
  Matrix a, b;
  omp_set_num_threads(1);
  ColumnCompressor(c, false, 5).compress(X, 3, 0, a);
  omp_set_num_threads(2);
  ColumnCompressor(c, false, 5).compress(X, 3, 0, b);
  omp_set_num_threads(before);
  CHECK(a == b);
  // Column i depends on worker i's stream alone.
  Matrix one;
  ColumnCompressor(c, false, 5).compress(Matrix(X.rightCols(1)), 3, 0, one);
  CHECK(one.col(0) != a.col(M - 1));  // worker 0's stream differs from worker M-1's
}
