// ctest-label: unit
// --eval-workers K (core/driver.hpp): Problem::worker_metrics of workers floor(k M / K), k < K, as
// <name>_min / <name>_max, on a problem whose per-worker scores are coordinates of z, so the band is
// known without the driver; and the dcgan image GAN's is_classifier band through `dposg run`.
#include <catch2/catch.hpp>

#include <algorithm>

#include "core/driver.hpp"
#include "core/problem.hpp"

using dposg::Index;
using dposg::Matrix;
using dposg::MetricsRow;
using dposg::Rng;
using dposg::Vector;

namespace {

class ScoredProblem final : public dposg::Problem {
 public:
  std::string name() const override { return "scored-test"; }
  Index dim() const override { return 3; }
  Index dim_u() const override { return 1; }
  void sample(const Matrix& Z, Index, dposg::WorkerRngs&, Matrix& G) const override { G = Z; }
  void exact(const Matrix& Z, Matrix& G) const override { G = Z; }
  dposg::ProblemConstants constants() const override { return {}; }
  void write_instance(dposg::InstanceWriter&) const override {}
  std::vector<std::string> worker_metric_names() const override { return {"first", "second"}; }
  Vector worker_metrics(const Vector& z, Rng&) const override { return Vector{{z[0], -z[1]}}; }
};

}  // namespace

TEST_CASE("eval-workers: the band is the min and max over the K workers spread over the ring", "[driver]") {
  const ScoredProblem p;
  const Index M = 8;
  Matrix Z(3, M);
  const double first[M] = {5, -1, 3, 9, 0.5, 7, -4, 2};
  for (Index i = 0; i < M; ++i) Z.col(i) = Vector{{first[i], 10.0 * first[i], 0.0}};
  for (const Index K : {1, 3, 8, 20}) {
    INFO("K = " << K);
    const dposg::MetricsEvaluator e{p, 1, 0, nullptr, K};
    MetricsRow row;
    e.evaluate(Z, 4, row);
    // K = 3: workers 0, 2, 5 (floor(k 8 / 3)); K >= M: all of them.
    std::vector<double> picked;
    if (K == 1) picked = {5};
    if (K == 3) picked = {5, 3, 7};
    if (K >= 8) picked.assign(first, first + M);
    const auto [lo, hi] = std::minmax_element(picked.begin(), picked.end());
    CHECK(row.get("first_min") == *lo);
    CHECK(row.get("first_max") == *hi);
    CHECK(row.get("second_min") == -10.0 * *hi);
    CHECK(row.get("second_max") == -10.0 * *lo);
  }
  const dposg::MetricsEvaluator none{p, 1, 0, nullptr, 0};
  MetricsRow row;
  none.evaluate(Z, 4, row);
  for (const auto& [name, value] : row.values) CHECK(name.find("first") == std::string::npos);
}
