// ctest-label: unit
// The LIBSVM loader (data/libsvm.hpp) on files this test writes, damaged files as one-line errors, and
// robust-regression (problems/robust_regression.hpp): g against central differences of f, the minibatch
// operator's mean against the exact one, and a run from the CLI.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include "cli_harness.hpp"
#include "core/error.hpp"
#include "data/libsvm.hpp"
#include "problems/robust_regression.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir / name;
  std::ofstream(path) << text;
  return path;
}

const char* kSmall =
    "# a comment line\n"
    "+1 1:0.5 3:1\n"
    "\n"
    "-1 2:2 4:-1.5   # trailing comment\n"
    "1 4:1\n";

problems::RobustRegressionProblem make(const std::string& file, double lambda = 1.0) {
  problems::SyntheticOptions o;
  o.file = file;
  o.alpha = lambda;
  return problems::RobustRegressionProblem(o);
}

}  // namespace

TEST_CASE("libsvm: a small file reads into compressed rows and writes back the same", "[data]") {
  TempDir dir;
  const auto s = data::read_libsvm(write(dir, "a.txt", kSmall));
  REQUIRE(s.rows() == 3);
  CHECK(s.features == 4);
  CHECK(s.labels == std::vector<double>{1, -1, 1});
  CHECK(s.row_start == std::vector<std::size_t>{0, 2, 4, 5});
  CHECK(s.index == std::vector<Index>{0, 2, 1, 3, 3});
  CHECK(s.value == std::vector<double>{0.5, 1, 2, -1.5, 1});
  data::write_libsvm(dir / "b.txt", s);
  const auto t = data::read_libsvm(dir / "b.txt");
  CHECK(t.labels == s.labels);
  CHECK(t.index == s.index);
  CHECK(t.value == s.value);
  CHECK(t.row_start == s.row_start);
}

TEST_CASE("libsvm: damaged files are one-line errors naming the file and the line", "[data]") {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> bad{
      {"1 1:1\nx 1:1\n", ":2: label"},       {"1 1-1\n", ":1: '1-1' is not index:value"},
      {"1 0:1\n", ":1: index '0'"},          {"1 3:1 2:1\n", ":1: index 2 does not increase"},
      {"1 2:abc\n", ":1: value 'abc'"},      {"1 1.5:1\n", ":1: index '1.5'"},
      {"# only a comment\n\n", "holds no samples"}, {"1 2:1e999\n", ":1: value"}};
  int k = 0;
  for (const auto& [text, what] : bad) {
    const std::string path = write(dir, "bad" + std::to_string(k++) + ".txt", text);
    INFO(text);
    try {
      data::read_libsvm(path);
      FAIL("accepted");
    } catch (const InputError& e) {
      const std::string msg = e.what();
      CHECK(msg.find("--problem-file") == 0);
      CHECK(msg.find(what) != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
    }
  }
  CHECK_THROWS_AS(data::read_libsvm(dir / "missing.txt"), InputError);
}

TEST_CASE("robust-regression: g is [grad_x f, -grad_y f] by central differences", "[problems]") {
  TempDir dir;
  const auto p = make(write(dir, "a.txt", kSmall), 0.7);
  REQUIRE(p.dim() == 8);
  REQUIRE(p.dim_u() == 4);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> nd;
  for (int trial = 0; trial < 5; ++trial) {
    Vector z(8);
    for (Index j = 0; j < 8; ++j) z[j] = nd(rng);
    Matrix G;
    p.exact(Matrix(z), G);
    for (Index j = 0; j < 8; ++j) {
      Vector a = z, b = z;
      a[j] += 1e-6;
      b[j] -= 1e-6;
      const double df = (p.value(a) - p.value(b)) / 2e-6;
      CHECK(G(j, 0) == Approx(j < 4 ? df : -df).margin(1e-7));
    }
  }
}

TEST_CASE("robust-regression: the minibatch operator is unbiased, one row is exact", "[problems]") {
  TempDir dir;
  const auto p = make(write(dir, "a.txt", kSmall));
  Matrix Z(8, 2);
  Z.col(0) << 0.3, -0.2, 0.1, 0.5, 0.05, 0.1, -0.1, 0.2;
  Z.col(1) = -Z.col(0);
  Matrix exact, G, sum = Matrix::Zero(8, 2);
  p.exact(Z, exact);
  WorkerRngs rngs(3, 2);
  const int draws = 30000;
  for (int k = 0; k < draws; ++k) {
    p.sample(Z, 1, rngs, G);
    sum += G;
  }
  CHECK((sum / draws - exact).cwiseAbs().maxCoeff() < 0.01);
  const auto one = make(write(dir, "one.txt", "-1 1:2 2:1\n"));
  Matrix z1 = Matrix::Constant(4, 1, 0.3), e1, s1;
  one.exact(z1, e1);
  WorkerRngs r1(5, 1);
  one.sample(z1, 3, r1, s1);
  CHECK((e1 - s1).cwiseAbs().maxCoeff() < 1e-15);
}

TEST_CASE("robust-regression: runs from the CLI; a damaged file is exit 2 with one line", "[problems]") {
  TempDir dir;
  write(dir, "a.txt", kSmall);
  const auto ok = run_cli("run --problem robust-regression --problem-file a.txt --algorithm dgda-vr --large-batch 4 "
                          "--batch 2 --workers 4 --iters 30 --lr 0.05 --quiet --out r.h5",
                          dir);
  CHECK(ok.code == 0);
  CHECK(ok.err.empty());
  write(dir, "bad.txt", "1 1:1\n1 2:x\n");
  const auto bad = run_cli("run --problem robust-regression --problem-file bad.txt --quiet --out s.h5", dir);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--problem-file: ") != std::string::npos);
  CHECK(bad.err.find("bad.txt:2") != std::string::npos);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
}
