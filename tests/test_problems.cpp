// ctest-label: unit
// Tests of problems/: every numerical claim of a problem (its operator, Assumption 1 constants,
// noise model, determinism, input validation) is checked against a computation done here, from the
// written formula, not against the code's own output.
#include <H5Cpp.h>
#include <omp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "app/problem_catalog.hpp"
#include "core/rng.hpp"

using dposg::Index;
using dposg::InputError;
using dposg::Matrix;
using dposg::Problem;
using dposg::ProblemOptions;
using dposg::Vector;
using dposg::WorkerRngs;

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Helpers

struct MapWriter : dposg::InstanceWriter {
  std::map<std::string, Matrix> matrices;
  std::map<std::string, Vector> vectors;
  std::map<std::string, double> scalars;
  std::map<std::string, std::string> texts;
  void matrix(const std::string& n, const Matrix& m) override { matrices[n] = m; }
  void vector(const std::string& n, const Vector& v) override { vectors[n] = v; }
  void scalar(const std::string& n, double x) override { scalars[n] = x; }
  void text(const std::string& n, const std::string& s) override { texts[n] = s; }
  bool operator==(const MapWriter& o) const {
    return matrices == o.matrices && vectors == o.vectors && scalars == o.scalars &&
           texts == o.texts;
  }
};

MapWriter instance_of(const Problem& p) {
  MapWriter w;
  p.write_instance(w);
  return w;
}

using Fn = std::function<double(const Vector&)>;

Vector gaussian(std::mt19937_64& rng, Index n) {
  std::normal_distribution<double> N(0.0, 1.0);
  Vector v(n);
  for (Index i = 0; i < n; ++i) v[i] = N(rng);
  return v;
}

Vector unit(std::mt19937_64& rng, Index n) {
  Vector v = gaussian(rng, n);
  return v / v.norm();
}

double uniform(std::mt19937_64& rng, double a, double b) {
  return std::uniform_real_distribution<double>(a, b)(rng);
}

Vector uniform_box(std::mt19937_64& rng, Index n, double r) {
  Vector v(n);
  for (Index i = 0; i < n; ++i) v[i] = uniform(rng, -r, r);
  return v;
}

Vector exact1(const Problem& p, const Vector& z) {
  Matrix G;
  p.exact(Matrix(z), G);
  return G.col(0);
}

// Central finite differences of the scalar f, turned into [df/du, -df/dv].
Vector fd_operator(const Fn& f, const Vector& z, Index dim_u, double h) {
  Vector g(z.size());
  for (Index k = 0; k < z.size(); ++k) {
    Vector zp = z, zm = z;
    zp[k] += h;
    zm[k] -= h;
    const double df = (f(zp) - f(zm)) / (2.0 * h);
    g[k] = k < dim_u ? df : -df;
  }
  return g;
}

ProblemOptions opts_for(const std::string& name, Index dim = 20) {
  ProblemOptions o;
  o.name = name;
  o.dim = dim;
  o.noise = 0.7;
  o.cond = 10.0;
  o.coupling = 1.5;
  o.alpha = 0.8;
  o.solution_norm = 2.5;
  o.seed = 12345;
  return o;
}

// A temp directory for this test process, removed at exit.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("dposg_test_problems_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
const fs::path& tmpdir() {
  static TempDir t;
  return t.path;
}

// Writes datasets to an HDF5 file the way h5py does: row-major (C order), at the root.
struct Dataset {
  std::string name;
  std::vector<hsize_t> dims;
  std::vector<double> data;  // row-major
};
Dataset ds_matrix(const std::string& name, const Matrix& M) {
  Dataset d{name, {static_cast<hsize_t>(M.rows()), static_cast<hsize_t>(M.cols())}, {}};
  for (Index i = 0; i < M.rows(); ++i)
    for (Index j = 0; j < M.cols(); ++j) d.data.push_back(M(i, j));
  return d;
}
Dataset ds_vector(const std::string& name, const Vector& v) {
  return Dataset{name, {static_cast<hsize_t>(v.size())}, std::vector<double>(v.data(), v.data() + v.size())};
}
std::string write_h5(const std::string& file, const std::vector<Dataset>& sets) {
  const std::string path = (tmpdir() / file).string();
  H5::H5File f(path, H5F_ACC_TRUNC);
  for (const auto& s : sets) {
    H5::DataSpace space(static_cast<int>(s.dims.size()), s.dims.data());
    H5::DataSet ds = f.createDataSet(s.name, H5::PredType::NATIVE_DOUBLE, space);
    ds.write(s.data.data(), H5::PredType::NATIVE_DOUBLE);
  }
  return path;
}

// The quadratic game the tests write to HDF5: n_u = 3, n_v = 4 (non-square A catches transposes).
struct QuadData {
  Matrix A, P, Q;
  Vector b, c;
};
QuadData quad_data(bool p_indefinite) {
  std::mt19937_64 rng(777);
  QuadData q;
  q.A.resize(3, 4);
  for (Index i = 0; i < 3; ++i)
    for (Index j = 0; j < 4; ++j) q.A(i, j) = gaussian(rng, 1)[0];
  Matrix B(3, 2), C(4, 4);
  for (Index i = 0; i < B.size(); ++i) B.data()[i] = gaussian(rng, 1)[0];
  for (Index i = 0; i < C.size(); ++i) C.data()[i] = gaussian(rng, 1)[0];
  q.P = B * B.transpose();  // PSD, rank 2
  if (p_indefinite) {
    Vector diag(3);
    diag << 1.0, -1.0, 0.5;
    q.P = diag.asDiagonal();
  }
  q.Q = C * C.transpose() / 4.0;
  q.b = gaussian(rng, 3);
  q.c = gaussian(rng, 4);
  return q;
}
std::string quad_file(const QuadData& q, const std::string& name) {
  return write_h5(name, {ds_matrix("A", q.A), ds_matrix("P", q.P), ds_matrix("Q", q.Q),
                         ds_vector("b", q.b), ds_vector("c", q.c)});
}
Fn quad_f(const QuadData& q) {
  return [q](const Vector& z) {
    const Vector u = z.head(3), v = z.tail(4);
    return 0.5 * u.dot(q.P * u) + u.dot(q.A * v) - 0.5 * v.dot(q.Q * v) + q.b.dot(u) - q.c.dot(v);
  };
}

double psi_t(double s) { return s / 2 - 2 * std::pow(s, 3) + std::pow(s, 5); }
double phi_t(double s) { return s * s / 4 - std::pow(s, 4) / 2 + std::pow(s, 6) / 6; }

// f of every problem, coded here from the formula in DESIGN.md §6 / the brief, with the random
// instance data taken from write_instance.
Fn formula_f(const Problem& p) {
  const MapWriter w = instance_of(p);
  const Index n = p.dim_u();
  const std::string name = p.name();
  if (name == "bilinear") {
    const Matrix A = w.matrices.at("A");
    const Vector b = w.vectors.at("b"), c = w.vectors.at("c");
    return [=](const Vector& z) {
      const Vector u = z.head(n), v = z.tail(n);
      return u.dot(A * v) + b.dot(u) + c.dot(v);
    };
  }
  if (name == "star") {
    // --coupling-matrix diagonal writes no A: it is diag(singular_values).
    const Matrix A = w.matrices.count("A") ? w.matrices.at("A")
                                           : Matrix(w.vectors.at("singular_values").asDiagonal());
    const Vector x = w.vectors.at("shift");
    const double alpha = w.scalars.at("alpha");
    return [=](const Vector& z) {
      const Vector u = z.head(n) - x.head(n), v = z.tail(n) - x.tail(n);
      double f = u.dot(A * v);
      for (Index i = 0; i < n; ++i)
        f += alpha * std::log(1 + u[i] * u[i]) - alpha * std::log(1 + v[i] * v[i]);
      return f;
    };
  }
  if (name == "gaussian-wgan") {
    const Vector mu = w.vectors.at("mu_star");
    // f = E[v^T x_real] - E[v^T (u + e)], x_real ~ N(mu, I), e ~ N(0, I)
    return [=](const Vector& z) { return z.tail(n).dot(mu) - z.tail(n).dot(z.head(n)); };
  }
  if (name == "forsaken") {
    return [=](const Vector& z) {
      double f = 0;
      for (Index i = 0; i < n; ++i) {
        const double x = z[i], y = z[n + i];
        f += x * (y - 0.45) + phi_t(x) - phi_t(y);
      }
      return f;
    };
  }
  FAIL("no formula for " << name);
  return {};
}

// One problem under test, with where to sample it.
struct Case {
  std::string label;
  std::unique_ptr<Problem> p;
  Fn f;                 // independent scalar f
  double noise_sigma;   // the per-sample sigma the noise model promises
  bool in_box = false;  // forsaken: constants hold on [-10, 10]^d
};

std::vector<Case> all_cases() {
  std::vector<Case> cs;
  for (const std::string name : {"bilinear", "star", "gaussian-wgan", "forsaken"}) {
    auto p = dposg::make_problem(opts_for(name));
    Fn f = formula_f(*p);
    const double s = name == "gaussian-wgan" ? std::sqrt(20.0) : 0.7;
    cs.push_back(Case{name, std::move(p), f, s, name == "forsaken"});
  }
  ProblemOptions diag = opts_for("star");
  diag.coupling_matrix = "diagonal";
  auto pd = dposg::make_problem(diag);
  Fn fd = formula_f(*pd);
  cs.push_back(Case{"star (diagonal A)", std::move(pd), fd, 0.7, false});
  const QuadData q = quad_data(false);
  ProblemOptions o = opts_for("quadratic-file");
  o.file = quad_file(q, "quad_psd.h5");
  cs.push_back(Case{"quadratic-file", dposg::make_problem(o), quad_f(q), 0.7, false});
  return cs;
}

// Points where a problem is sampled: around x* at several scales (or in the box for forsaken).
Vector sample_point(const Case& c, std::mt19937_64& rng, double scale) {
  const Index d = c.p->dim();
  if (c.in_box) return uniform_box(rng, d, std::min(scale, 10.0));
  const Vector xs = *c.p->constants().x_star;
  return xs + scale * unit(rng, d) * uniform(rng, 0.0, 1.0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Registry and input validation

TEST_CASE("problems: registry knows exactly the eleven problems", "[problems]") {
  const std::vector<std::string> expected{"bilinear", "star",     "gaussian-wgan",     "quadratic-file",
                                          "forsaken", "pl-game",  "robust-regression", "gan-mog8",
                                          "gan-mog25", "gan-fashion", "gan-cifar10"};
  REQUIRE(dposg::problem_names() == expected);
  for (const auto& c : all_cases()) {
    CHECK(c.label.rfind(c.p->name(), 0) == 0);
    CHECK(c.p->has_exact());
  }
  REQUIRE_NOTHROW(dposg::make_problem(ProblemOptions{}));  // the default options build
  ProblemOptions o = opts_for("nope");
  REQUIRE_THROWS_AS(dposg::make_problem(o), InputError);
  REQUIRE_THROWS_WITH(dposg::make_problem(o), Catch::Contains("--problem") &&
                                                  Catch::Contains("'nope'") &&
                                                  Catch::Contains("bilinear, star, gaussian-wgan, "
                                                                  "quadratic-file, forsaken"));
}

TEST_CASE("problems: bad options throw InputError naming the option", "[problems]") {
  auto throws_with = [](ProblemOptions o, const std::string& option) {
    INFO(o.name << " expecting " << option);
    CHECK_THROWS_AS(dposg::make_problem(o), InputError);
    CHECK_THROWS_WITH(dposg::make_problem(o), Catch::Contains(option));
  };
  for (const std::string name : {"bilinear", "star", "gaussian-wgan", "forsaken"}) {
    for (Index d : {Index(7), Index(0), Index(1), Index(-4)}) {
      ProblemOptions o = opts_for(name);
      o.dim = d;
      throws_with(o, "--dim");
    }
    ProblemOptions o = opts_for(name);
    o.dim = 7;
    CHECK_THROWS_WITH(dposg::make_problem(o), Catch::Contains("even") && Catch::Contains("got 7"));
  }
  for (const std::string name : {"bilinear", "star", "forsaken", "quadratic-file"}) {
    for (double bad : {-0.1, std::numeric_limits<double>::quiet_NaN()}) {
      ProblemOptions o = opts_for(name);
      o.noise = bad;
      throws_with(o, "--noise");
    }
  }
  for (const std::string name : {"bilinear", "star"}) {
    for (double bad : {0.5, 0.0, -2.0, std::numeric_limits<double>::infinity()}) {
      ProblemOptions o = opts_for(name);
      o.cond = bad;
      throws_with(o, "--cond");
    }
    for (double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
      ProblemOptions o = opts_for(name);
      o.coupling = bad;
      throws_with(o, "--coupling");
    }
  }
  for (const std::string name : {"bilinear", "star", "gaussian-wgan"}) {
    ProblemOptions o = opts_for(name);
    o.solution_norm = -1.0;
    throws_with(o, "--solution-norm");
  }
  ProblemOptions o = opts_for("star");
  o.alpha = -0.5;
  throws_with(o, "--alpha");

  // Edge values that are valid.
  o = opts_for("bilinear", 2);
  o.cond = 1.0;
  o.solution_norm = 0.0;
  CHECK_NOTHROW(dposg::make_problem(o));
  o = opts_for("star", 2);
  o.alpha = 0.0;
  o.noise = 0.0;
  CHECK_NOTHROW(dposg::make_problem(o));
}

TEST_CASE("problems: sample rejects batch < 1 with --batch", "[problems]") {
  auto p = dposg::make_problem(opts_for("bilinear"));
  Matrix Z = Matrix::Zero(20, 2), G;
  WorkerRngs rngs(1, 2);
  CHECK_THROWS_WITH(p->sample(Z, 0, rngs, G), Catch::Contains("problem.batch"));
}

// ---------------------------------------------------------------------------------------------
// The operator

TEST_CASE("problems: exact(Z) matches central differences of f, column by column", "[problems]") {
  std::mt19937_64 rng(1);
  for (const auto& c : all_cases()) {
    INFO(c.label);
    const Index d = c.p->dim();
    Matrix Z(d, 3);
    for (Index j = 0; j < 3; ++j)
      Z.col(j) = c.in_box ? uniform_box(rng, d, 2.0) : sample_point(c, rng, 3.0 * (j + 1));
    Matrix G;
    c.p->exact(Z, G);
    REQUIRE(G.rows() == d);
    REQUIRE(G.cols() == 3);
    for (Index j = 0; j < 3; ++j) {
      const Vector fd = fd_operator(c.f, Z.col(j), c.p->dim_u(), 1e-5);
      INFO("column " << j << " |g| = " << G.col(j).norm());
      CHECK((G.col(j) - fd).norm() <= 1e-6 * std::max(1.0, fd.norm()));
    }
    // Column independence: evaluating a column alone gives the same bits.
    CHECK(exact1(*c.p, Z.col(1)) == G.col(1));
  }
}

TEST_CASE("problems: sample with noise 0 is the exact operator", "[problems]") {
  for (const std::string name : {"bilinear", "star", "forsaken"}) {
    ProblemOptions o = opts_for(name);
    o.noise = 0.0;
    auto p = dposg::make_problem(o);
    std::mt19937_64 rng(3);
    Matrix Z(20, 4);
    for (Index j = 0; j < 4; ++j) Z.col(j) = gaussian(rng, 20);
    Matrix G, E;
    WorkerRngs rngs(5, 4);
    p->sample(Z, 3, rngs, G);
    p->exact(Z, E);
    CHECK(G == E);
    CHECK(p->constants().sigma == 0.0);
  }
}

// ---------------------------------------------------------------------------------------------
// Instances

TEST_CASE("bilinear and star: A = U diag(s) V^T with log-spaced s, x* of the requested norm",
          "[problems]") {
  for (const std::string name : {"bilinear", "star"}) {
    INFO(name);
    ProblemOptions o = opts_for(name, 16);
    auto p = dposg::make_problem(o);
    const MapWriter w = instance_of(*p);
    const Index n = 8;
    REQUIRE(p->dim() == 16);
    REQUIRE(p->dim_u() == 8);
    const Matrix A = w.matrices.at("A");
    REQUIRE(A.rows() == n);
    REQUIRE(A.cols() == n);
    Eigen::JacobiSVD<Matrix> svd(A);
    for (Index k = 0; k < n; ++k) {
      const double expected = o.coupling * std::pow(o.cond, -double(k) / double(n - 1));
      CHECK(svd.singularValues()[k] == Approx(expected).epsilon(1e-12));
    }
    // Random orthogonal factors: A is far from diagonal.
    CHECK(A.diagonal().norm() < 0.9 * A.norm());
    const Vector xs = *p->constants().x_star;
    CHECK(xs.norm() == Approx(o.solution_norm).epsilon(1e-13));
    CHECK(w.vectors.at("x_star") == xs);
    CHECK(w.vectors.at("shift") == xs);
    if (name == "bilinear") {
      // b = -A v*, c = -A^T u*: the solution is x*.
      CHECK((w.vectors.at("b") + A * xs.tail(n)).norm() <= 1e-14 * xs.norm());
      CHECK((w.vectors.at("c") + A.transpose() * xs.head(n)).norm() <= 1e-14 * xs.norm());
    }
    // Different seed, different instance; same seed and options across bilinear/star: same A.
    ProblemOptions o2 = o;
    o2.seed = o.seed + 1;
    const MapWriter w2 = instance_of(*dposg::make_problem(o2));
    CHECK((w2.matrices.at("A") - A).norm() > 0.1);
    CHECK((w2.vectors.at("x_star") - xs).norm() > 0.1);
    ProblemOptions other = o;
    other.name = name == "bilinear" ? "star" : "bilinear";
    CHECK(instance_of(*dposg::make_problem(other)).matrices.at("A") == A);
  }
  // dim 2: n = 1, A = [coupling] up to sign.
  auto p = dposg::make_problem(opts_for("bilinear", 2));
  CHECK(std::abs(instance_of(*p).matrices.at("A")(0, 0)) == Approx(1.5).epsilon(1e-14));
}

TEST_CASE("gaussian-wgan: x* = (mu*, 0) with ||mu*|| = --solution-norm", "[problems]") {
  ProblemOptions o = opts_for("gaussian-wgan", 10);
  auto p = dposg::make_problem(o);
  const MapWriter w = instance_of(*p);
  const Vector mu = w.vectors.at("mu_star");
  REQUIRE(mu.size() == 5);
  CHECK(mu.norm() == Approx(2.5).epsilon(1e-13));
  const Vector xs = *p->constants().x_star;
  CHECK(xs.head(5) == mu);
  CHECK(xs.tail(5).isZero(0.0));
  // g(z) = [-v, u - mu*] at a point computed by hand.
  Vector z(10);
  z << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
  Vector expected(10);
  expected << -6, -7, -8, -9, -10, 1 - mu[0], 2 - mu[1], 3 - mu[2], 4 - mu[3], 5 - mu[4];
  CHECK((exact1(*p, z) - expected).norm() <= 1e-14 * expected.norm());
}

TEST_CASE("forsaken: x* is the unique zero per copy, solved to 1e-14", "[problems]") {
  auto p = dposg::make_problem(opts_for("forsaken", 6));
  const auto c = p->constants();
  REQUIRE(c.x_star);
  const Vector xs = *c.x_star;
  CHECK_FALSE(c.assumption_iv);
  for (Index i = 0; i < 3; ++i) {
    const double x = xs[i], y = xs[3 + i];
    CHECK(x == Approx(0.0780267).margin(1e-7));
    CHECK(y == Approx(0.411934).margin(1e-6));
    CHECK(std::abs(psi_t(x) + y - 0.45) < 1e-14);
    CHECK(std::abs(-x + psi_t(y)) < 1e-14);
  }
  // Uniqueness: a zero has x = psi(y) and r(y) = y - 0.45 + psi(psi(y)) = 0. For |y| >= 3,
  // |psi(y)| >= 190 and psi is increasing there, so r has the sign of y: all zeros lie in (-3, 3).
  // Scan that interval: exactly one sign change, at y*, and |r| stays away from 0 elsewhere.
  const double ys = xs[3];
  int sign_changes = 0;
  double prev = 0, min_far = 1e300;
  const int N = 600000;
  for (int k = 0; k <= N; ++k) {
    const double y = -3.0 + 6.0 * k / N;
    const double r = y - 0.45 + psi_t(psi_t(y));
    if (k > 0 && prev * r <= 0) {
      ++sign_changes;
      CHECK(std::abs(y - ys) < 1e-4);
    }
    if (std::abs(y - ys) > 1e-2) min_far = std::min(min_far, std::abs(r));
    prev = r;
  }
  CHECK(sign_changes == 1);
  CHECK(min_far > 1e-3);
}

// ---------------------------------------------------------------------------------------------
// Assumption 1

TEST_CASE("problems: g(x*) = 0 for the exact operator", "[problems]") {
  for (const auto& c : all_cases()) {
    INFO(c.label);
    const auto k = c.p->constants();
    REQUIRE(k.x_star);
    REQUIRE(k.x_star->size() == c.p->dim());
    const Vector g = exact1(*c.p, *k.x_star);
    CHECK(g.norm() <= 1e-12 * std::max(1.0, k.L * k.x_star->norm()));
    CHECK(k.x_star->norm() <= k.D / 2.0);  // Theorem 1's ||x*|| <= D/2
  }
}

TEST_CASE("problems: sampled Lipschitz ratios stay below L", "[problems]") {
  std::mt19937_64 rng(2);
  for (const auto& c : all_cases()) {
    INFO(c.label);
    const double L = c.p->constants().L;
    const Index d = c.p->dim();
    const int K = 600;
    Matrix Z1(d, K), Z2(d, K);
    for (int j = 0; j < K; ++j) {
      const double scale = std::pow(10.0, uniform(rng, -2.0, 1.5));
      Z1.col(j) = sample_point(c, rng, c.in_box ? 10.0 : scale);
      const double gap = j % 2 ? 1e-6 : scale;  // close pairs and far pairs
      Vector z2 = Z1.col(j) + gap * unit(rng, d);
      if (c.in_box) z2 = z2.cwiseMax(-10.0).cwiseMin(10.0);
      Z2.col(j) = z2;
    }
    // Close pairs right at the point of largest curvature: x* for star (h' = 2 alpha at w = 0),
    // the box corner for forsaken (|psi'| largest at |s| = 10).
    for (int j = 0; j < 20; ++j) {
      const Vector base = c.in_box ? Vector(Vector::Constant(d, 10.0 - 1e-3))
                                   : *c.p->constants().x_star;
      Z1.col(j) = base;
      Z2.col(j) = base + 1e-4 * unit(rng, d);
    }
    Matrix G1, G2;
    c.p->exact(Z1, G1);
    c.p->exact(Z2, G2);
    double worst = 0;
    for (int j = 0; j < K; ++j)
      worst = std::max(worst, (G1.col(j) - G2.col(j)).norm() / (Z1.col(j) - Z2.col(j)).norm());
    INFO("max ratio " << worst << " L " << L);
    CHECK(worst <= L * (1 + 1e-6));
    CHECK(worst >= 0.5 * L);  // and L is not vacuous
  }
}

TEST_CASE("bilinear: L = ||A|| is attained along the top singular pair", "[problems]") {
  auto p = dposg::make_problem(opts_for("bilinear"));
  const Matrix A = instance_of(*p).matrices.at("A");
  Eigen::JacobiSVD<Matrix> svd(A, Eigen::ComputeFullU);
  Vector dz = Vector::Zero(20);
  dz.head(10) = svd.matrixU().col(0);
  const Vector z = Vector::Constant(20, 0.3);
  const double ratio = (exact1(*p, z + dz) - exact1(*p, z)).norm();
  CHECK(ratio == Approx(p->constants().L).epsilon(1e-12));
  CHECK(p->constants().L == 1.5);
}

TEST_CASE("quadratic-file: L equals the spectral norm of J computed here", "[problems]") {
  const QuadData q = quad_data(false);
  ProblemOptions o = opts_for("quadratic-file");
  o.file = quad_file(q, "quad_L.h5");
  auto p = dposg::make_problem(o);
  Matrix J(7, 7);
  J << q.P, q.A, -q.A.transpose(), q.Q;
  Eigen::JacobiSVD<Matrix> svd(J);
  CHECK(p->constants().L == Approx(svd.singularValues()[0]).epsilon(1e-12));
  CHECK(p->dim() == 7);
  CHECK(p->dim_u() == 3);
}

TEST_CASE("problems: <g(x), x - x*> >= 0 where Assumption 1(iv) is claimed", "[problems]") {
  std::mt19937_64 rng(4);
  for (const auto& c : all_cases()) {
    const auto k = c.p->constants();
    if (!k.assumption_iv) continue;
    INFO(c.label);
    const Vector xs = *k.x_star;
    const int K = 2000;
    Matrix Z(c.p->dim(), K);
    for (int j = 0; j < K; ++j) Z.col(j) = sample_point(c, rng, std::pow(10.0, uniform(rng, -3, 3)));
    Matrix G;
    c.p->exact(Z, G);
    double worst = 1e300;
    for (int j = 0; j < K; ++j) {
      const Vector w = Z.col(j) - xs;
      // Rounding in g(z) = J z + r is relative to L (||z|| + ||x*||), not to ||g||.
      const double scale = w.norm() * (G.col(j).norm() + k.L * xs.norm());
      worst = std::min(worst, G.col(j).dot(w) / std::max(scale, 1e-300));
    }
    INFO("min <g, x - x*> / (|x - x*| (|g| + L |x*|)) = " << worst);
    CHECK(worst >= -1e-12);
  }
}

TEST_CASE("star: g is not monotone, yet (iv) holds (the point of the problem)", "[problems]") {
  auto p = dposg::make_problem(opts_for("star"));
  const Vector xs = *p->constants().x_star;
  Vector e = Vector::Zero(20);
  e[0] = 1.0;
  // Along u_0 from x*: the separable term h(s) = 2 alpha s/(1+s^2) decreases for s > 1, the skew
  // part cancels, so <g(z1) - g(z2), z1 - z2> = (h(2) - h(3)) (2 - 3) = -0.2 alpha < 0.
  const Vector z1 = xs + 2 * e, z2 = xs + 3 * e;
  const double mono = (exact1(*p, z1) - exact1(*p, z2)).dot(z1 - z2);
  CHECK(mono == Approx(-0.2 * 0.8).epsilon(1e-12));
}

TEST_CASE("forsaken: the negative control violates (iv) at its only candidate x*", "[problems]") {
  auto p = dposg::make_problem(opts_for("forsaken"));
  const Vector xs = *p->constants().x_star;
  const Index n = 10;
  // Along v_0: <g(x* + t e), t e> = t (psi(y* + t) - psi(y*)) ~ psi'(y*) t^2, psi'(y*) ~ -0.37.
  Vector e = Vector::Zero(20);
  e[n] = 1.0;
  const double t = 1e-2;
  const double inner = exact1(*p, xs + t * e).dot(t * e);
  const double expected = t * (psi_t(xs[n] + t) - psi_t(xs[n]));
  CHECK(inner == Approx(expected).epsilon(1e-8));
  CHECK(inner < 0);
  // Random points near x* find violations too.
  std::mt19937_64 rng(5);
  int negatives = 0;
  for (int j = 0; j < 500; ++j) {
    const Vector z = xs + 0.2 * gaussian(rng, 20);
    if (exact1(*p, z).dot(z - xs) < 0) ++negatives;
  }
  INFO(negatives << " of 500 random points near x* have <g(x), x - x*> < 0");
  CHECK(negatives > 10);
}

TEST_CASE("quadratic-file: indefinite P or no zero -> assumption_iv false", "[problems]") {
  {
    const QuadData q = quad_data(true);  // P = diag(1, -1, 0.5)
    ProblemOptions o = opts_for("quadratic-file");
    o.file = quad_file(q, "quad_indef.h5");
    auto p = dposg::make_problem(o);
    const auto k = p->constants();
    CHECK_FALSE(k.assumption_iv);
    REQUIRE(k.x_star);
    CHECK(exact1(*p, *k.x_star).norm() < 1e-12 * k.L * k.x_star->norm());
    // And the violation is real: along u_1 the inner product is -t^2.
    Vector e = Vector::Zero(7);
    e[1] = 1;
    CHECK(exact1(*p, *k.x_star + 0.5 * e).dot(0.5 * e) == Approx(-0.25).epsilon(1e-10));
    // The operator still matches f.
    const Vector z = Vector::LinSpaced(7, -1, 2);
    CHECK((exact1(*p, z) - fd_operator(quad_f(q), z, 3, 1e-5)).norm() < 1e-6);
  }
  {
    // Only A (3 x 4): J = [[0, A], [-A^T, 0]] is singular (rank 6 < 7) and r = 0: x* = 0.
    const QuadData q = quad_data(false);
    ProblemOptions o = opts_for("quadratic-file");
    o.file = write_h5("quad_only_A.h5", {ds_matrix("A", q.A)});
    auto p = dposg::make_problem(o);
    const auto k = p->constants();
    REQUIRE(k.x_star);
    CHECK(k.x_star->norm() < 1e-14);
    CHECK(k.assumption_iv);
    CHECK(k.D == 4.0);
    const Vector z = Vector::LinSpaced(7, -1, 2);
    Vector expected(7);
    expected << q.A * z.tail(4), -q.A.transpose() * z.head(3);
    CHECK((exact1(*p, z) - expected).norm() < 1e-14);
  }
  {
    // c with a component in ker(A): J z = -[0; c] has no solution (range(A^T) = ker(A)^perp).
    const QuadData q = quad_data(false);
    Eigen::FullPivLU<Matrix> lu(q.A);
    const Vector kernel = lu.kernel().col(0);
    ProblemOptions o = opts_for("quadratic-file");
    o.file = write_h5("quad_nozero.h5", {ds_matrix("A", q.A), ds_vector("c", kernel)});
    auto p = dposg::make_problem(o);
    const auto k = p->constants();
    CHECK_FALSE(k.x_star);
    CHECK_FALSE(k.assumption_iv);
    CHECK(k.D == 4.0);
  }
}

TEST_CASE("problems: sampled ||g(z)|| over the ball ||z|| <= D/2 stays below G", "[problems]") {
  std::mt19937_64 rng(6);
  for (const auto& c : all_cases()) {
    INFO(c.label);
    const auto k = c.p->constants();
    const Index d = c.p->dim();
    const int K = 3000;
    Matrix Z(d, K);
    for (int j = 0; j < K; ++j) {
      if (c.in_box) {
        // forsaken: the constants hold on the box [-10, 10]^d; half the points are corners.
        Z.col(j) = uniform_box(rng, d, 10.0);
        if (j % 2) Z.col(j) = 10.0 * Z.col(j).cwiseSign();
      } else {
        const double r = k.D / 2.0 * (j % 3 ? 1.0 : std::pow(uniform(rng, 0, 1), 1.0 / double(d)));
        Z.col(j) = r * unit(rng, d);  // boundary (2/3) and uniform in the ball (1/3)
      }
    }
    // The worst direction for a linear part: -x* scaled to the boundary.
    if (!c.in_box && k.x_star->norm() > 0) Z.col(0) = -k.D / 2.0 * k.x_star->normalized();
    if (c.in_box) Z.col(0) << Vector::Constant(d / 2, -10.0), Vector::Constant(d / 2, -10.0);
    Matrix G;
    c.p->exact(Z, G);
    double worst = 0;
    for (int j = 0; j < K; ++j) worst = std::max(worst, G.col(j).norm());
    INFO("max |g| " << worst << " G " << k.G << " D " << k.D);
    CHECK(worst <= k.G * (1 + 1e-12));  // gaussian-wgan attains G exactly: allow rounding
    CHECK(worst >= 0.25 * k.G);  // G is not vacuous
    if (c.in_box) CHECK(k.D == Approx(20.0));
    else CHECK(k.D == Approx(4.0 * std::max(1.0, k.x_star->norm())));
  }
}

TEST_CASE("problems: documented constants formulas", "[problems]") {
  const ProblemOptions o = opts_for("star");
  auto star = dposg::make_problem(o);
  CHECK(star->constants().L == Approx(2 * o.alpha + o.coupling));
  CHECK(star->constants().sigma == o.noise);
  auto bil = dposg::make_problem(opts_for("bilinear"));
  CHECK(bil->constants().L == o.coupling);
  auto wgan = dposg::make_problem(opts_for("gaussian-wgan"));
  CHECK(wgan->constants().L == 1.0);
  CHECK(wgan->constants().sigma == Approx(std::sqrt(20.0)));
  CHECK(wgan->constants().G == Approx(wgan->constants().D / 2 + 2.5));
  auto fk = dposg::make_problem(opts_for("forsaken"));
  // max |psi'| on [-10, 10] = psi'(10) = 1/2 - 600 + 50000.
  CHECK(fk->constants().L == 49400.5 + 1.0);
  const double a = psi_t(10) + 10.45, b = psi_t(10) + 10;
  CHECK(fk->constants().G == Approx(std::sqrt(10 * (a * a + b * b))));
  for (const auto& c : all_cases()) {
    INFO(c.label);
    CHECK(c.p->constants().assumption_iv == (c.label != "forsaken"));
  }
}

// ---------------------------------------------------------------------------------------------
// Noise

TEST_CASE("problems: E||g(z;xi) - g(z)||^2 = sigma^2/m and E[g(z;xi)] = g(z)", "[problems]") {
  // N draws of the squared error; for additive N(0, s^2 I_d) noise (s^2 = sigma^2/(d m)),
  // ||e||^2 = s^2 chi^2_d has mean sigma^2/m and sd (sigma^2/m) sqrt(2/d); gaussian-wgan's v-part
  // has n coordinates of variance 2/m: mean 2n/m, sd (2/m) sqrt(2n). Tolerance: 5 standard errors.
  std::mt19937_64 rng(7);
  for (const auto& c : all_cases()) {
    const Index d = c.p->dim();
    const bool wgan = c.label == "gaussian-wgan";
    CHECK(c.p->constants().sigma == Approx(c.noise_sigma).epsilon(1e-14));
    for (Index m : {Index(1), Index(4)}) {
      INFO(c.label << " batch " << m);
      const Index M = 64;
      const int reps = 40;
      WorkerRngs rngs(99, M);
      Matrix Z(d, M);
      for (Index j = 0; j < M; ++j) Z.col(j) = sample_point(c, rng, 2.0);
      Matrix E, G;
      c.p->exact(Z, E);
      double sum_sq = 0;
      Vector sum = Vector::Zero(d);
      double u_part_max = 0;
      for (int r = 0; r < reps; ++r) {
        c.p->sample(Z, m, rngs, G);
        const Matrix err = G - E;
        sum_sq += err.squaredNorm();
        sum += err.rowwise().sum();
        if (wgan) u_part_max = std::max(u_part_max, err.topRows(d / 2).cwiseAbs().maxCoeff());
      }
      const double N = double(M) * reps;
      const double sigma2 = wgan ? double(d) : 0.49;  // 2n = d
      const double expected = sigma2 / double(m);
      const double sd_one = wgan ? (2.0 / double(m)) * std::sqrt(double(d)) : expected * std::sqrt(2.0 / double(d));
      const double mean_sq = sum_sq / N;
      INFO("mean squared error " << mean_sq << " expected " << expected << " +- " << sd_one / std::sqrt(N));
      CHECK(std::abs(mean_sq - expected) <= 5 * sd_one / std::sqrt(N));
      // Mean: each coordinate's average over N draws has variance (per-coordinate var)/N, so
      // ||mean||^2 ~ (sigma^2/(m N)) chi^2 with d (or n) degrees of freedom.
      const double k_dof = wgan ? double(d / 2) : double(d);
      const double mean_norm2 = (sum / N).squaredNorm();
      CHECK(mean_norm2 <= expected / N * (1.0 + 5.0 * std::sqrt(2.0 / k_dof)));
      if (wgan) CHECK(u_part_max < 1e-12);  // the generator's gradient -v is exact
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Determinism

TEST_CASE("problems: same seed, same instance and samples; streams and threads", "[problems]") {
  std::mt19937_64 rng(8);
  for (const auto& c : all_cases()) {
    INFO(c.label);
    const Index d = c.p->dim();
    const Index M = 6;
    Matrix Z(d, M);
    for (Index j = 0; j < M; ++j) Z.col(j) = sample_point(c, rng, 2.0);
    Z.col(1) = Z.col(0);  // same point, different workers

    // Same instance when rebuilt from the same options.
    const MapWriter w1 = instance_of(*c.p);
    ProblemOptions o = opts_for(c.p->name());
    if (c.label == "quadratic-file") o.file = (tmpdir() / "quad_psd.h5").string();
    if (c.label == "star (diagonal A)") o.coupling_matrix = "diagonal";
    auto again = dposg::make_problem(o);
    CHECK(instance_of(*again) == w1);

    // Same worker seed: identical samples, also from the rebuilt problem.
    Matrix G1, G2, G3;
    WorkerRngs r1(42, M), r2(42, M);
    c.p->sample(Z, 2, r1, G1);
    again->sample(Z, 2, r2, G2);
    CHECK(G1 == G2);
    // Different worker streams, different noise.
    CHECK((G1.col(0) - G1.col(1)).norm() > 1e-3);
    // A different run seed gives different noise.
    WorkerRngs r3(43, M);
    c.p->sample(Z, 2, r3, G3);
    CHECK((G3 - G1).norm() > 1e-3);

    // Independent of the number of OpenMP threads, bit for bit.
    const int saved = omp_get_max_threads();
    Matrix T1, T2;
    omp_set_num_threads(1);
    WorkerRngs s1(11, M);
    c.p->sample(Z, 3, s1, T1);
    omp_set_num_threads(2);
    WorkerRngs s2(11, M);
    c.p->sample(Z, 3, s2, T2);
    omp_set_num_threads(saved);
    CHECK(T1 == T2);

    // A process holding workers [2, 5) only computes the same columns.
    WorkerRngs block(11, 3, 2);
    Matrix B;
    c.p->sample(Z.middleCols(2, 3), 3, block, B);
    CHECK(B == T1.middleCols(2, 3));
  }
}

// ---------------------------------------------------------------------------------------------
// quadratic-file input

TEST_CASE("quadratic-file: row-major datasets, optional parts, integer data", "[problems]") {
  const QuadData q = quad_data(false);
  // Only A and b: P, Q, c are zero.
  ProblemOptions o = opts_for("quadratic-file");
  o.dim = 999;  // ignored: the dimension comes from the file
  o.file = write_h5("quad_Ab.h5", {ds_matrix("A", q.A), ds_vector("b", q.b)});
  auto p = dposg::make_problem(o);
  REQUIRE(p->dim() == 7);
  const Vector z = Vector::LinSpaced(7, -1, 2);
  Vector expected(7);
  expected << q.A * z.tail(4) + q.b, -q.A.transpose() * z.head(3);
  CHECK((exact1(*p, z) - expected).norm() < 1e-13);

  // An integer dataset (as h5py writes np.int64) is converted.
  {
    const std::string path = (tmpdir() / "quad_int.h5").string();
    H5::H5File f(path, H5F_ACC_TRUNC);
    const hsize_t dims[2] = {1, 2};
    const long long data[2] = {3, -5};
    H5::DataSet ds = f.createDataSet("A", H5::PredType::NATIVE_LLONG, H5::DataSpace(2, dims));
    ds.write(data, H5::PredType::NATIVE_LLONG);
    f.close();
    o.file = path;
    auto pi = dposg::make_problem(o);
    Vector zi(3);
    zi << 1.0, 2.0, 4.0;
    Vector gi(3);
    gi << 3 * 2.0 - 5 * 4.0, -3 * 1.0, 5 * 1.0;  // [A v, -A^T u]
    CHECK(exact1(*pi, zi) == gi);
  }

  // write_instance carries everything needed to recompute g.
  o.file = quad_file(q, "quad_inst.h5");
  auto pq = dposg::make_problem(o);
  const MapWriter w = instance_of(*pq);
  Matrix J(7, 7);
  J << w.matrices.at("P"), w.matrices.at("A"), -w.matrices.at("A").transpose(), w.matrices.at("Q");
  Vector r(7);
  r << w.vectors.at("b"), w.vectors.at("c");
  CHECK((exact1(*pq, z) - (J * z + r)).norm() < 1e-13);
  CHECK(w.texts.count("formula") == 1);
  CHECK(w.scalars.at("L") == pq->constants().L);
}

TEST_CASE("quadratic-file: bad files throw InputError naming --problem-file", "[problems]") {
  const QuadData q = quad_data(false);
  ProblemOptions o = opts_for("quadratic-file");
  auto fails_with = [&](const std::string& file, const std::string& what) {
    o.file = file;
    INFO(file << " expecting " << what);
    CHECK_THROWS_AS(dposg::make_problem(o), InputError);
    CHECK_THROWS_WITH(dposg::make_problem(o),
                      Catch::Contains("--problem-file") && Catch::Contains(what));
  };
  fails_with("", "required");
  fails_with((tmpdir() / "does_not_exist.h5").string(), "cannot open");
  {
    std::ofstream((tmpdir() / "not_hdf5.h5").string()) << "hello\n";
    fails_with((tmpdir() / "not_hdf5.h5").string(), "cannot open");
  }
  fails_with(write_h5("no_A.h5", {ds_matrix("P", q.P)}), "dataset A");
  Matrix Pnan = q.P;
  Pnan(1, 1) = std::numeric_limits<double>::quiet_NaN();
  fails_with(write_h5("nan_P.h5", {ds_matrix("A", q.A), ds_matrix("P", Pnan)}),
             "dataset P contains NaN/Inf");
  Matrix Ainf = q.A;
  Ainf(0, 3) = std::numeric_limits<double>::infinity();
  fails_with(write_h5("inf_A.h5", {ds_matrix("A", Ainf)}), "dataset A contains NaN/Inf");
  fails_with(write_h5("shape_P.h5", {ds_matrix("A", q.A), ds_matrix("P", q.Q)}),
             "dataset P has shape (4, 4)");
  fails_with(write_h5("shape_Q.h5", {ds_matrix("A", q.A), ds_matrix("Q", q.P)}), "dataset Q");
  fails_with(write_h5("shape_b.h5", {ds_matrix("A", q.A), ds_vector("b", q.c)}), "dataset b");
  fails_with(write_h5("shape_c.h5", {ds_matrix("A", q.A), ds_vector("c", q.b)}), "dataset c");
  fails_with(write_h5("A_1d.h5", {ds_vector("A", q.b)}), "dataset A");
  Matrix Pasym = q.P;
  Pasym(0, 1) += 1e-6;
  fails_with(write_h5("asym_P.h5", {ds_matrix("A", q.A), ds_matrix("P", Pasym)}), "not symmetric");
  // Symmetric within the tolerance is accepted.
  Matrix Pnear = q.P;
  Pnear(0, 1) += 1e-15;
  o.file = write_h5("near_P.h5", {ds_matrix("A", q.A), ds_matrix("P", Pnear)});
  CHECK_NOTHROW(dposg::make_problem(o));
  // --noise is still validated.
  o.file = quad_file(q, "quad_noise.h5");
  o.noise = -1;
  CHECK_THROWS_WITH(dposg::make_problem(o), Catch::Contains("--noise"));
}

TEST_CASE("problems: write_instance records the formula and constants", "[problems]") {
  for (const auto& c : all_cases()) {
    INFO(c.label);
    const MapWriter w = instance_of(*c.p);
    const auto k = c.p->constants();
    CHECK(w.texts.count("formula") == 1);
    CHECK(w.scalars.at("L") == k.L);
    CHECK(w.scalars.at("G") == k.G);
    CHECK(w.scalars.at("D") == k.D);
    CHECK(w.scalars.at("sigma") == k.sigma);
    CHECK(w.scalars.at("dim") == double(c.p->dim()));
    CHECK(w.scalars.at("dim_u") == double(c.p->dim_u()));
    CHECK(w.vectors.at("x_star") == *k.x_star);
  }
}

TEST_CASE("star --coupling-matrix diagonal: the dense game with U = V = I, bad values named", "[problems]") {
  ProblemOptions o = opts_for("star");
  o.coupling_matrix = "diagonal";
  const auto p = dposg::make_problem(o);
  const auto dense = dposg::make_problem(opts_for("star"));
  // Same constants (they depend on ||A|| = coupling only) up to the shift's coupling term.
  CHECK(p->constants().L == dense->constants().L);
  CHECK(*p->constants().x_star == *dense->constants().x_star);
  // g at z: written out from the definition with A = diag(s) (alpha = 0.8 in opts_for).
  const MapWriter w = instance_of(*p);
  const Vector s = w.vectors.at("singular_values"), x = *p->constants().x_star;
  const Index n = p->dim_u();
  std::mt19937_64 rng(3);
  const Vector z = x + unit(rng, 2 * n) * 2.0;
  Vector want(2 * n);
  for (Index i = 0; i < n; ++i) {
    const double u = z[i] - x[i], v = z[n + i] - x[n + i];
    want[i] = s[i] * v + 2 * 0.8 * u / (1 + u * u);
    want[n + i] = -s[i] * u + 2 * 0.8 * v / (1 + v * v);
  }
  CHECK((exact1(*p, z) - want).norm() <= 1e-14 * want.norm());
  o.coupling_matrix = "sparse";
  CHECK_THROWS_WITH(dposg::make_problem(o), Catch::Contains("--coupling-matrix"));
  ProblemOptions b = opts_for("bilinear");
  b.coupling_matrix = "diagonal";
  CHECK_THROWS_WITH(dposg::make_problem(b), Catch::Contains("--coupling-matrix"));
}
