// ctest-label: unit
#include <catch2/catch.hpp>

#include <cmath>

#include "core/driver.hpp"
#include "core/error.hpp"
#include "core/theorem.hpp"
#include "driver_run.hpp"
#include "linear_problem.hpp"

using namespace dposg;
using dposg::test::bilinear_test_problem;
using dposg::test::LinearProblem;
using dposg::test::run_rule;
using dposg::test::Trace;

TEST_CASE("M = 1, W = I reproduces single-machine OSG computed by a plain loop", "[osg]") {
  const LinearProblem p = bilinear_test_problem(5, 0.3, 1);
  const double eta = 0.1;
  const std::int64_t N = 50;
  const Index m = 2;
  Trace trace;
  run_rule(p, "single", 1, 3, "osg", eta, N, m, 7, nullptr, &trace);

  // Equation (2) of the paper, with the same noise stream (worker 0 of seed 7).
  WorkerRngs rngs(7, 1);
  Matrix z = Matrix::Zero(p.dim(), 1), x = z, g;
  p.sample(z, m, rngs, g);  // g(z_0; xi_0)
  REQUIRE(trace.rows.size() == static_cast<std::size_t>(N + 1));
  for (std::int64_t k = 1; k <= N; ++k) {
    z = x - eta * g;       // z_k = x_{k-1} - eta g(z_{k-1}; xi_{k-1})
    p.sample(z, m, rngs, g);
    x = x - eta * g;       // x_k = x_{k-1} - eta g(z_k; xi_k)
    Matrix gz;
    p.exact(z, gz);
    const double expected = gz.squaredNorm();
    CHECK(trace.rows[static_cast<std::size_t>(k)].get("grad_norm_sq") == Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("complete topology with t = 1 equals CPOSG (averaging every iteration)", "[osg]") {
  const LinearProblem p = bilinear_test_problem(4, 0.5, 2);
  const Index M = 6;
  const double eta = 0.05;
  const std::int64_t N = 40;
  Matrix zbar;
  run_rule(p, "complete", M, 1, "osg", eta, N, 1, 3, &zbar);

  // CPOSG by hand: one shared x; each worker's z^i from its own noise.
  WorkerRngs rngs(3, M);
  Matrix Z = Matrix::Zero(p.dim(), M), X = Z, G;
  p.sample(Z, 1, rngs, G);
  for (std::int64_t k = 1; k <= N; ++k) {
    const Vector xbar = X.rowwise().mean();
    for (Index i = 0; i < M; ++i) Z.col(i) = xbar - eta * G.col(i);
    p.sample(Z, 1, rngs, G);
    for (Index i = 0; i < M; ++i) X.col(i) = xbar - eta * G.col(i);
  }
  CHECK((zbar - Z.rowwise().mean()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("workers that start identical and see identical (no) noise stay identical on any topology", "[osg]") {
  const LinearProblem p = bilinear_test_problem(3, 0.0, 4);
  for (const std::string topo : {"ring", "torus", "exponential", "random-ring", "complete"}) {
    Trace trace;
    run_rule(p, topo, 9, 2, "osg", 0.1, 30, 1, 5, nullptr, &trace);
    INFO(topo);
    // Identical columns stay identical; the mean over 9 copies may differ from them by round-off.
    for (const auto& r : trace.rows)
      CHECK(r.get("consensus_error") <= 1e-28 * (1 + r.get("z_bar_norm") * r.get("z_bar_norm")));
  }
}

TEST_CASE("on a bilinear game GDA moves away from the solution while OSG and extragradient approach it", "[rules]") {
  const LinearProblem p = bilinear_test_problem(4, 0.0, 8);
  const double d0 = p.constants().x_star->norm();
  for (const std::string topo : {"single", "ring"}) {
    const Index M = topo == "single" ? 1 : 8;
    Matrix zbar;
    auto gda = run_rule(p, topo, M, 2, "gda", 0.3, 400, 1, 1);
    auto osg = run_rule(p, topo, M, 2, "osg", 0.3, 400, 1, 1);
    auto eg = run_rule(p, topo, M, 2, "extragradient", 0.3, 400, 1, 1);
    INFO(topo);
    CHECK(gda.last.get("dist_to_solution") > 2 * d0);
    CHECK(osg.last.get("dist_to_solution") < 0.1 * d0);
    CHECK(eg.last.get("dist_to_solution") < 0.1 * d0);
  }
}

TEST_CASE("one OAdam update against hand-computed numbers", "[oadam]") {
  // d = 2, M = 1, g(z) = J z with J = [[0, 1], [-1, 0]], no noise, start z0 = (1, 2).
  Matrix J(2, 2);
  J << 0, 1, -1, 0;
  const LinearProblem p(J, Vector::Zero(2), 0.0, 1);
  StepRuleOptions so;
  so.name = "oadam";
  so.step = {0.1, 0.1, 1};
  so.beta1 = 0.5;
  so.beta2 = 0.9;
  so.eps = 1e-8;
  auto rule = make_step_rule(so);
  ProblemOracle oracle(p, 1, 0, 1);
  Matrix Z(2, 1), X(2, 1);
  Z << 1, 2;
  X = Z;
  rule->init(Z, X, oracle);
  rule->step(Z, X, oracle);
  // g0 = J z0 = (2, -1). m1 = 0.5 g0, v1 = 0.1 g0^2; bias-corrected: m̂ = g0, v̂ = g0^2,
  // D0 = g0 / (|g0| + eps) = (1, -1) (to 1e-8).
  // z1 = x0 - 0.1 D0 = (0.9, 2.1). g1 = J z1 = (2.1, -0.9).
  // m2 = 0.5 * 0.5 g0 + 0.5 g1 = (0.5 + 1.05, -0.25 - 0.45) = (1.55, -0.7); m̂2 = m2 / 0.75.
  // v2 = 0.9 * 0.1 g0^2 + 0.1 g1^2 = (0.36 + 0.441, 0.09 + 0.081) = (0.801, 0.171); v̂2 = v2 / 0.19.
  // x1 = x0 - 0.1 m̂2 / (sqrt(v̂2) + eps).
  // The same arithmetic with eps kept exactly:
  const double e = 1e-8;
  const double d0a = 2.0 / (2.0 + e), d0b = -1.0 / (1.0 + e);
  const double z1a = 1 - 0.1 * d0a, z1b = 2 - 0.1 * d0b;
  const double g1a = z1b, g1b = -z1a;
  const double m1 = (0.25 * 2.0 + 0.5 * g1a) / 0.75, m2 = (0.25 * -1.0 + 0.5 * g1b) / 0.75;
  const double v1 = (0.09 * 4.0 + 0.1 * g1a * g1a) / 0.19, v2 = (0.09 * 1.0 + 0.1 * g1b * g1b) / 0.19;
  CHECK(Z(0, 0) == Approx(z1a).epsilon(1e-14));
  CHECK(Z(1, 0) == Approx(z1b).epsilon(1e-14));
  CHECK(z1a == Approx(0.9).epsilon(1e-7));
  CHECK(X(0, 0) == Approx(1 - 0.1 * m1 / (std::sqrt(v1) + e)).epsilon(1e-13));
  CHECK(X(1, 0) == Approx(2 - 0.1 * m2 / (std::sqrt(v2) + e)).epsilon(1e-13));
}

TEST_CASE("separate step sizes act on the u and v blocks", "[rules]") {
  Matrix base = Matrix::Ones(4, 2), dir = Matrix::Ones(4, 2), out;
  apply_step(base, {0.1, 0.3, 1}, dir, out);
  CHECK(out(0, 0) == Approx(0.9));
  CHECK(out(1, 1) == Approx(0.7));
  CHECK(out(3, 0) == Approx(0.7));
}

TEST_CASE("a NaN in the iterates stops the run as diverged with earlier metrics kept", "[driver]") {
  const LinearProblem p = bilinear_test_problem(3, 0.0, 2);
  Trace trace;
  // GDA with a huge step overflows to Inf/NaN.
  auto out = run_rule(p, "ring", 4, 1, "gda", 1e30, 1000, 1, 0, nullptr, &trace);
  CHECK(out.status == RunStatus::diverged);
  CHECK(out.iterations_done < 1000);
  CHECK(!trace.rows.empty());
  CHECK(std::isfinite(trace.rows.front().get("grad_norm_sq")));
}

TEST_CASE("Theorem 1 quantities against values computed independently", "[theorem]") {
  // Expected values from a separate Python computation of the same formulas:
  // L=2, M=8, m=4, rho=0.8, rho^t=0.5, G=3, sigma=0.5, D=4, ||x0-x*||=1.5, N=1000, c=321.
  TheoremInputs in;
  in.constants.L = 2;
  in.constants.G = 3;
  in.constants.sigma = 0.5;
  in.constants.D = 4;
  in.constants.x_star = Vector::Zero(1);
  in.M = 8;
  in.m = 4;
  in.rho = 0.8;
  in.rho_t = 0.5;
  in.rounds = 29;
  in.iters = 1000;
  in.x0_dist = 1.5;
  const auto q = theorem1(in);
  CHECK(q.eta_term1 == Approx(0.05892556509887895).epsilon(1e-12));
  CHECK(q.eta_term2 == Approx(0.0008721024565405431).epsilon(1e-12));
  CHECK(q.eta_term2_literal == Approx(0.0012333391218185288).epsilon(1e-12));
  CHECK(q.eta_term3 == Approx(0.016091930811774357).epsilon(1e-12));
  CHECK(q.eta_max == Approx(0.0008721024565405431).epsilon(1e-12));
  CHECK(q.t_min == Approx(28.49313297821604).epsilon(1e-12));
  CHECK(q.t_min_alt == Approx(23.849651614019216).epsilon(1e-12));
  CHECK(q.bound == Approx(23956.43756672411).epsilon(1e-10));
  CHECK(q.t_condition);
  in.rounds = 28;
  CHECK_FALSE(theorem1(in).t_condition);
}

TEST_CASE("bad step-rule options are rejected naming the option", "[rules]") {
  StepRuleOptions so;
  so.name = "adam";
  CHECK_THROWS_WITH(make_step_rule(so), Catch::Contains("step_rule.name"));
  so.name = "osg";
  so.step.eta_u = 0;
  CHECK_THROWS_WITH(make_step_rule(so), Catch::Contains("step.eta_u"));
  so.step.eta_u = 0.1;
  so.name = "oadam";
  so.beta1 = 1.0;
  CHECK_THROWS_WITH(make_step_rule(so), Catch::Contains("step_rule.beta1"));
}
