#include "core/mixer.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace dposg {
namespace {

std::vector<Index> random_permutation(Index M, std::uint64_t seed) {
  std::vector<Index> perm(static_cast<std::size_t>(M));
  std::iota(perm.begin(), perm.end(), Index{0});
  Rng rng(seed);
  // Fisher-Yates with our own bounded draw, so the permutation does not depend on the
  // standard library's (implementation-defined) shuffle.
  for (Index i = M - 1; i > 0; --i) {
    const auto bound = static_cast<std::uint64_t>(i + 1);
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t r;
    do r = rng(); while (r >= limit);
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(r % bound)]);
  }
  return perm;
}

// Distinct draws of the deviation estimate must not reuse the run's own (iteration, round) keys.
constexpr std::int64_t kDeviationDrawOffset = std::int64_t{1} << 52;

}  // namespace

std::vector<std::string> topology_names() {
  return {"single", "complete", "ring", "torus", "exponential", "random-ring", "file"};
}

MixingSchedule::MixingSchedule(const std::string& kind, Index workers, std::uint64_t seed, const std::string& file)
    : kind_(kind), workers_(workers), seed_(seed) {
  if (workers < 1) {
    std::ostringstream s;
    s << "--workers: must be >= 1, got " << workers;
    throw InputError(s.str());
  }
  if (kind == "single") {
    if (workers != 1) {
      std::ostringstream s;
      s << "--topology single: needs --workers 1 (W = I), got " << workers;
      throw InputError(s.str());
    }
    base_ = single_topology();
  } else if (kind == "complete") {
    base_ = complete_topology(workers);
  } else if (kind == "ring" || kind == "random-ring") {
    base_ = ring_topology(workers);
  } else if (kind == "torus") {
    base_ = torus_topology(workers);
  } else if (kind == "exponential") {
    base_ = exponential_topology(workers);
  } else if (kind == "file") {
    if (file.empty()) throw InputError("--topology-file: required with --topology file");
    base_ = topology_from_file(file);
    if (base_.workers != workers) {
      std::ostringstream s;
      s << "--topology-file: W in '" << file << "' is " << base_.workers << "x" << base_.workers
        << " but --workers is " << workers;
      throw InputError(s.str());
    }
  } else {
    std::string known;
    for (const auto& n : topology_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("--topology: unknown topology '" + kind + "' (known: " + known + ")");
  }
  spectrum_ = spectrum(base_);
}

MixingSchedule::MixingSchedule(Topology W, std::string label)
    : kind_(std::move(label)), workers_(W.workers), seed_(0), base_(std::move(W)) {
  spectrum_ = spectrum(base_);
}

Topology MixingSchedule::at(std::int64_t iteration, int round) const {
  if (!is_random()) return base_;
  const std::uint64_t key = splitmix64(static_cast<std::uint64_t>(iteration)) ^ static_cast<std::uint64_t>(round);
  return permuted_ring_topology(random_permutation(workers_, derive_seed(seed_, StreamPurpose::mixing, key)));
}

double MixingSchedule::product_deviation(int rounds, std::int64_t draw) const {
  const Index M = workers_;
  Matrix P = Matrix::Identity(M, M);
  const int effective = is_complete() ? std::min(rounds, 1) : rounds;
  for (int r = 0; r < effective; ++r) P = P * at(kDeviationDrawOffset + draw, r).dense();
  P.array() -= 1.0 / static_cast<double>(M);
  Eigen::JacobiSVD<Matrix> svd(P);
  return svd.singularValues()(0);
}

double MixingSchedule::mean_product_deviation(int rounds, int draws) const {
  if (!is_random()) return product_deviation(rounds, 0);
  double sum = 0.0;
  for (int k = 0; k < draws; ++k) sum += product_deviation(rounds, k);
  return sum / draws;
}

double MixingSchedule::bytes_busiest_per_iteration(Index d, int rounds) const {
  const int effective = is_complete() ? std::min(rounds, 1) : rounds;
  // Every round of a random ring has the ring's degree, so the base degree serves for all kinds.
  return static_cast<double>(effective) * static_cast<double>(base_.max_degree()) * static_cast<double>(d) *
         static_cast<double>(sizeof(double));
}

void CpuMixer::mix(Matrix& X, int rounds, std::int64_t iteration) const {
  const Index M = X.cols();
  const Index d = X.rows();
  if (rounds <= 0 || M == 1 || d == 0) return;
  if (schedule_.is_complete()) {
    const Vector mean = X.rowwise().mean();
    X.colwise() = mean;
    return;
  }
  std::vector<Topology> drawn;
  if (schedule_.is_random()) {
    drawn.reserve(static_cast<std::size_t>(rounds));
    for (int r = 0; r < rounds; ++r) drawn.push_back(schedule_.at(iteration, r));
  }
  auto round_topology = [&](int r) -> const Topology& {
    return schedule_.is_random() ? drawn[static_cast<std::size_t>(r)] : schedule_.base();
  };
  // Two B x M buffers of doubles sized to stay in a per-core L2 cache (~256 KiB), kept per thread
  // so that repeated calls do not allocate.
  const Index block = std::min(d, std::max<Index>(8, (16 * 1024) / M));
  const Index blocks = (d + block - 1) / block;
  // Small matrices are mixed on one thread: waking a team costs more than the work.
  const bool parallel = d * M * rounds >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    thread_local Matrix a, b;
    if (a.rows() != block || a.cols() != M) {
      a.resize(block, M);
      b.resize(block, M);
    }
#pragma omp for schedule(static)
    for (Index blk = 0; blk < blocks; ++blk) {
      const Index r0 = blk * block;
      const Index nb = std::min(block, d - r0);
      a.topRows(nb) = X.middleRows(r0, nb);
      for (int r = 0; r < rounds; ++r) {
        const Topology& topo = round_topology(r);
        for (Index i = 0; i < M; ++i) {
          const auto& row = topo.rows[static_cast<std::size_t>(i)];
          auto out = b.col(i).head(nb);
          out = row[0].second * a.col(row[0].first).head(nb);
          for (std::size_t e = 1; e < row.size(); ++e) out += row[e].second * a.col(row[e].first).head(nb);
        }
        a.swap(b);
      }
      X.middleRows(r0, nb) = a.topRows(nb);
    }
  }
}

}  // namespace dposg
