#include "core/mixer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <omp.h>
#include <random>
#include <sstream>
#include <stdexcept>

#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "core/error.hpp"
#include "core/graphs.hpp"
#include "core/rng.hpp"
#include "core/spectral.hpp"

namespace dposg {
namespace {

void random_permutation_into(Index M, std::uint64_t seed, std::vector<Index>& perm) {
  perm.resize(static_cast<std::size_t>(M));
  std::iota(perm.begin(), perm.end(), Index{0});
  Rng rng(seed);
  // Fisher-Yates with our own bounded draw, so the permutation does not depend on the
  // standard library's (implementation-defined) shuffle: position i swaps with r % (i + 1), r the
  // first word below limit = 2^64 - 1 - (2^64 - 1) % (i + 1).
  // The draws do not depend on the swaps, so they come in batches whose targets are prefetched
  // first (at M = 10^6 each swap's random access into 8 MB missed the caches one at a time); and
  // since limit > 2^64 - 1 - (i + 1), only a word above that needs limit's 64-bit division.
  constexpr Index kBatch = 32;
  std::array<std::size_t, kBatch> target;
  Index* const p = perm.data();
  for (Index top = M - 1; top > 0;) {
    const Index n = std::min(kBatch, top);
    for (Index q = 0; q < n; ++q) {
      const auto bound = static_cast<std::uint64_t>(top - q + 1);
      std::uint64_t r = rng();
      if (r > UINT64_MAX - bound) {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
        while (r >= limit) r = rng();
      }
      target[static_cast<std::size_t>(q)] = static_cast<std::size_t>(r % bound);
      __builtin_prefetch(p + target[static_cast<std::size_t>(q)], 1);
    }
    for (Index q = 0; q < n; ++q) std::swap(p[top - q], p[target[static_cast<std::size_t>(q)]]);
    top -= n;
  }
}

std::vector<Index> random_permutation(Index M, std::uint64_t seed) {
  std::vector<Index> perm;
  random_permutation_into(M, seed, perm);
  return perm;
}

// Distinct draws of the deviation estimate must not reuse the run's own (iteration, round) keys.
constexpr std::int64_t kDeviationDrawOffset = std::int64_t{1} << 52;

}  // namespace

std::vector<std::string> topology_names() {
  return {"single", "complete", "ring", "torus", "exponential", "random-ring", "file",
          "star", "grid", "erdos-renyi", "one-peer-exponential"};
}

MixingSchedule::MixingSchedule(const std::string& kind, Index workers, std::uint64_t seed, const std::string& file,
                               double edge_prob)
    : kind_(kind), workers_(workers), seed_(seed) {
  if (workers < 1) {
    std::ostringstream s;
    s << setting("mixer.workers") << ": must be >= 1, got " << workers;
    throw InputError(s.str());
  }
  if (kind == "single") {
    if (workers != 1) {
      std::ostringstream s;
      s << setting("mixer.topology") << " single: needs " << setting("mixer.workers") << " 1 (W = I), got " << workers;
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
  } else if (kind == "star") {
    base_ = star_topology(workers);
  } else if (kind == "grid") {
    base_ = grid_topology(workers);
  } else if (kind == "erdos-renyi") {
    edge_prob_ = edge_prob == 0.0 ? default_edge_prob(workers) : edge_prob;  // outside (0, 1]: refused there
    ErdosRenyiGraph g = erdos_renyi_topology(workers, edge_prob_, seed);
    base_ = std::move(g.W);
    graph_attempt_ = g.attempt;
  } else if (kind == "one-peer-exponential") {
    base_ = one_peer_topology(workers, one_peer_distance(workers, 0));
    // W_g is not symmetric: its rho is ||W_g - 11^T/M||_2 from the singular values (core/graphs.hpp),
    // and it has no real spectrum to store.
    spectrum_.rho = one_peer_rho(workers);
    spectrum_.full = workers == 1;
    spectrum_.eigenvalues = workers == 1 ? Vector::Ones(1) : Vector();
    spectrum_.method = "closed form (singular values of each round's circulant W_g)";
    return;
  } else if (kind == "file") {
    if (file.empty()) throw InputError(setting("mixer.topology_file") + ": required with " + setting("mixer.topology") + " file");
    base_ = topology_from_file(file);
    if (base_.workers != workers) {
      std::ostringstream s;
      s << setting("mixer.topology_file") << ": W in '" << file << "' is " << base_.workers << "x" << base_.workers
        << " but " << setting("mixer.workers") << " is " << workers;
      throw InputError(s.str());
    }
  } else {
    std::string known;
    for (const auto& n : topology_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(setting("mixer.topology") + ": unknown topology '" + kind + "' (known: " + known + ")");
  }
  // The circulants' and the star's W are known in closed form (core/spectral.hpp); the grid's,
  // an Erdos-Renyi graph's and a file's are not.
  spectrum_ = spectrum_for(kind == "random-ring" ? "ring" : kind, base_);
}

MixingSchedule::MixingSchedule(Topology W, std::string label)
    : kind_(std::move(label)), workers_(W.workers), seed_(0), base_(std::move(W)) {
  // The label names W but does not promise it is the built-in W of that name (a test's faulty ring).
  spectrum_ = spectrum_for("file", base_);
}

std::uint64_t MixingSchedule::round_seed(std::int64_t iteration, int round) const {
  const std::uint64_t key = splitmix64(static_cast<std::uint64_t>(iteration)) ^ static_cast<std::uint64_t>(round);
  return derive_seed(seed_, StreamPurpose::mixing, key);
}

std::vector<Index> MixingSchedule::round_permutation(std::int64_t iteration, int round) const {
  return random_permutation(workers_, round_seed(iteration, round));
}

void MixingSchedule::permutation_into(std::int64_t iteration, int round, std::vector<Index>& perm) const {
  if (!is_random()) throw std::logic_error("MixingSchedule::permutation_into: " + kind_ + " is not random-ring");
  random_permutation_into(workers_, round_seed(iteration, round), perm);
}

void MixingSchedule::at_into(std::int64_t iteration, int round, Topology& W) const {
  if (is_random()) {
    // The permutation's buffer is kept: a fresh 8 MB vector per round at M = 10^6 was page faults.
    thread_local std::vector<Index> perm;
    random_permutation_into(workers_, round_seed(iteration, round), perm);
    fill_permuted_ring(perm, W);
    return;
  }
  W = at(iteration, round);
}

Topology MixingSchedule::at(std::int64_t iteration, int round) const {
  if (kind_ == "one-peer-exponential") return one_peer_topology(workers_, one_peer_distance(workers_, iteration + round));
  if (!is_random()) return base_;
  return permuted_ring_topology(round_permutation(iteration, round));
}

double MixingSchedule::product_deviation(int rounds, std::int64_t draw) const {
  return product_deviation_draw(rounds, draw).value;
}

MixingSchedule::Draw MixingSchedule::product_deviation_draw(int rounds, std::int64_t draw) const {
  const Index M = workers_;
  const int effective = effective_rounds(rounds);
  // One-peer: draw = the phase g0 of the iteration's first round (exact, by its closed form).
  if (kind_ == "one-peer-exponential") return {one_peer_product_deviation(M, draw, effective)};
  if (M <= kDenseDeviationMaxWorkers) {
    Matrix P = Matrix::Identity(M, M);
    for (int r = 0; r < effective; ++r) P = P * at(kDeviationDrawOffset + draw, r).dense();
    P.array() -= 1.0 / static_cast<double>(M);
    Eigen::JacobiSVD<Matrix> svd(P);
    return {svd.singularValues()(0)};
  }
  // A fixed symmetric W: ||W^t - J||_2 = rho^t exactly (W^0 - J = I - J has norm 1).
  if (!is_random()) return {std::pow(spectrum_.rho, effective)};
  // One random round: every drawn ring is a relabelled ring, with the ring's spectrum, so the
  // deviation is rho exactly (Lanczos would only approach it from below: the ring's top is clustered).
  if (effective == 1) return {spectrum_.rho};
  // ||P - J||_2 with P = W_0 ... W_{t-1}: sqrt of the largest eigenvalue of P^T P on 1^perp. Round r's
  // W_r = S_r R S_r^T, R the ring in natural order and (S_r^T x)[k] = x[p_r[k]] (node p_r[k] sits at
  // place k of ring r). Lanczos runs on S^T P^T P S with S = S_{t-1}, whose spectrum is P^T P's:
  //   R G_{t-1,t-2} R ... G_{1,0} R R G_{0,1} ... R G_{t-2,t-1} R,
  // G_{r,s} = S_s^T S_r the gather from ring r's places to ring s's, q[k] = place of p_s[k] in ring r.
  // Each factor R G (R or I) is one pass (ring_of_gather): only the gathers touch memory at random,
  // the R before a gather reads the three neighbours of the gathered place, mostly one cache line.
  // Applying each W_r through its permutation instead gathered and scattered three times per round,
  // and at M = 10^6 a step is memory-bound. Places fit 32 bits: M doubles of 2^32 are 32 GiB.
  if (M > static_cast<Index>(std::numeric_limits<std::uint32_t>::max()))
    throw InputError(setting("mixer.workers") + ": random-ring's deviation is computed for M < 2^32");
  std::vector<std::vector<std::uint32_t>> down, up;  // down[r]: G_{r+1,r}; up[r]: G_{r,r+1}
  {
    std::vector<Index> perm = round_permutation(kDeviationDrawOffset + draw, 0);
    std::vector<std::uint32_t> inv(static_cast<std::size_t>(M)), next_inv(static_cast<std::size_t>(M));
    for (Index k = 0; k < M; ++k) inv[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])] = static_cast<std::uint32_t>(k);
    for (int r = 0; r + 1 < effective; ++r) {
      std::vector<Index> next = round_permutation(kDeviationDrawOffset + draw, r + 1);
      for (Index k = 0; k < M; ++k)
        next_inv[static_cast<std::size_t>(next[static_cast<std::size_t>(k)])] = static_cast<std::uint32_t>(k);
      std::vector<std::uint32_t> d(static_cast<std::size_t>(M)), u(static_cast<std::size_t>(M));
      for (Index k = 0; k < M; ++k) {
        d[static_cast<std::size_t>(k)] = next_inv[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])];
        u[static_cast<std::size_t>(k)] = inv[static_cast<std::size_t>(next[static_cast<std::size_t>(k)])];
      }
      down.push_back(std::move(d));
      up.push_back(std::move(u));
      perm = std::move(next);
      inv.swap(next_inv);
    }
  }
  // out = R G_q K x with K = R (ring_first) or I, summed in double whatever the storage.
  auto ring_of_gather = [M](const std::vector<std::uint32_t>& q, bool ring_first, const auto* x, auto* out) {
    auto c = [&](Index j) -> double {
      const Index i = q[static_cast<std::size_t>(j)];
      if (!ring_first) return x[i];
      return (static_cast<double>(x[i == 0 ? M - 1 : i - 1]) + x[i] + x[i + 1 == M ? 0 : i + 1]) / 3.0;
    };
    // The gathered places are known ahead: prefetching them keeps many cache misses in flight
    // (measured at M = 10^6 on a loaded machine: 1.5-2x faster per pass).
    constexpr Index kAhead = 32;
    const double c_last = c(M - 1), c_first = c(0);
    double prev = c_last, cur = c_first;
    for (Index k = 0; k < M; ++k) {
      if (k + kAhead < M) __builtin_prefetch(x + q[static_cast<std::size_t>(k + kAhead)]);
      const double next = k + 1 == M ? c_first : c(k + 1);
      out[k] = static_cast<std::remove_reference_t<decltype(*out)>>((prev + cur + next) / 3.0);
      prev = cur;
      cur = next;
    }
  };
  // Between the passes the vector is stored in single precision: the gathers' random reads then
  // cover 4 bytes a worker, 2.5x faster at M = 10^6 (in cache more often), and the operator's
  // rounding (~1e-7 relative) is far below the stopping tolerance. Lanczos itself is in double.
  std::vector<float> xf(static_cast<std::size_t>(M)), a(static_cast<std::size_t>(M)), b(static_cast<std::size_t>(M));
  const std::function<void(const double*, double*)> gram = [&](const double* x, double* y) {
    for (Index k = 0; k < M; ++k) xf[static_cast<std::size_t>(k)] = static_cast<float>(x[k]);
    // From ring t-1's places down to ring 0 (P x), then back up (P^T P x): 2(t - 1) passes, the
    // last into y, the others alternating between a and b.
    const float* from = xf.data();
    const int passes = 2 * (effective - 1);
    int pass = 0;
    auto step = [&](const std::vector<std::uint32_t>& q, bool ring_first) {
      if (++pass == passes) return ring_of_gather(q, ring_first, from, y);
      float* to = pass % 2 == 1 ? a.data() : b.data();
      ring_of_gather(q, ring_first, from, to);
      from = to;
    };
    for (int r = effective - 2; r >= 0; --r) step(down[static_cast<std::size_t>(r)], r == effective - 2);
    for (int r = 0; r + 1 < effective; ++r) step(up[static_cast<std::size_t>(r)], r == 0);
  };
  // The tolerance is on the eigenvalue, twice the norm's relative change.
  const RitzValue ritz =
      largest_ritz_value_on_complement(M, gram, 2.0 * kDeviationLanczosTolerance, kDeviationLanczosMaxSteps);
  const double norm = std::sqrt(std::max(0.0, ritz.value));
  return {norm, norm - std::sqrt(std::max(0.0, ritz.value - ritz.change)), ritz.steps};
}

DeviationEstimate MixingSchedule::product_deviation_estimate(int rounds, int draws) const {
  if (kind_ == "one-peer-exponential") {
    // Iteration k starts at round g = k, so over the run the phases g mod tau are equally frequent
    // (up to the last partial period): the exact mean over them, no Monte Carlo.
    const int tau = one_peer_period(workers_);
    DeviationEstimate e{0.0, 0.0, tau, "closed form, mean over the " + std::to_string(tau) + " phases"};
    for (int g = 0; g < tau; ++g) {
      const double v = product_deviation(rounds, g);
      e.mean += v / tau;
      e.max = std::max(e.max, v);
    }
    return e;
  }
  if (!is_random()) return {product_deviation(rounds, 0), 0.0, 1, workers_ <= kDenseDeviationMaxWorkers ? "dense" : "rho^t"};
  // Sweeps build the same schedule for every run: the estimate depends only on these.
  using Key = std::tuple<std::string, Index, std::uint64_t, int, int>;
  static std::mutex lock;
  static std::map<Key, DeviationEstimate> cache;
  const Key key{kind_, workers_, seed_, rounds, draws};
  {
    std::lock_guard<std::mutex> g(lock);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  const bool dense = workers_ <= kDenseDeviationMaxWorkers;
  double sum = 0.0, sq = 0.0, largest = 0.0, convergence = 0.0;
  int k = 0, steps = 0;
  // Large M: draws in batches of kMinDeviationDraws, the draws of a batch on all threads (each is
  // one Lanczos solve), until the mean's standard error is below 1e-3 of it: the draws concentrate
  // as M grows. Batches of a fixed size make the number of draws independent of the thread count.
  // The dense path keeps every draw, as it always has.
  const int batch = dense ? draws : kMinDeviationDraws;
  std::vector<Draw> v(static_cast<std::size_t>(batch));
  while (k < draws) {
    const int n_batch = std::min(batch, draws - k);
#pragma omp parallel for schedule(dynamic, 1) if (!dense)
    for (int b = 0; b < n_batch; ++b) v[static_cast<std::size_t>(b)] = product_deviation_draw(rounds, k + b);
    for (int b = 0; b < n_batch; ++b) {
      const Draw& x = v[static_cast<std::size_t>(b)];
      largest = std::max(largest, x.value);
      sum += x.value;
      sq += x.value * x.value;
      convergence += x.convergence_error;
      steps = std::max(steps, x.lanczos_steps);
    }
    k += n_batch;
    if (!dense && k >= 2) {
      const double n = k, mean = sum / n;
      if (std::sqrt(std::max(0.0, sq / n - mean * mean) / (n - 1)) <= 1e-3 * mean) break;
    }
  }
  const double n = k, mean = sum / n;
  DeviationEstimate e{mean, k > 1 ? std::sqrt(std::max(0.0, sq / n - mean * mean) / (n - 1)) : 0.0, k,
                      dense ? "dense" : "Lanczos", largest, convergence / n, steps};
  std::lock_guard<std::mutex> g(lock);
  cache.emplace(key, e);
  return e;
}

double MixingSchedule::mean_product_deviation(int rounds, int draws) const {
  // The dense path of the estimate sums every draw in draw order, as every file so far records.
  return is_time_varying() ? product_deviation_estimate(rounds, draws).mean : product_deviation(rounds, 0);
}

double MixingSchedule::bytes_busiest_per_iteration(Index d, int rounds) const {
  const int effective = effective_rounds(rounds);
  // Every round of a random ring has the ring's degree, so the base degree serves for all kinds.
  return static_cast<double>(effective) * static_cast<double>(base_.max_degree()) * static_cast<double>(d) *
         static_cast<double>(sizeof(double));
}

namespace {

// Row blocking. A block is `block` rows of all M workers; a thread copies it from X into a
// contiguous buffer (one streaming read of M column pieces), runs all t rounds between two such
// buffers and writes the last round straight into X, so X is read once and written once per call
// whatever t is. kBlockDoubles (16 Ki doubles = 128 KiB per buffer) keeps the block of X and the
// two buffers (384 KiB) inside a per-core L2 (1 MiB on the machine measured in bench/README.md);
// blocks have at least kMinBlockRows rows so that every column piece is several cache lines long
// (at M = 1024, d = 10^4, 16-row pieces of 128 B mixed 20-35% slower than 32-row ones).
constexpr Index kBlockDoubles = 16 * 1024;
constexpr Index kMinBlockRows = 32;
// Doubles per SIMD packet in this build (Eigen's choice), for the complete topology's row sums.
constexpr Index kPacket = Eigen::internal::packet_traits<double>::size;

// out[r] (+)= w0 p0[r] + w1 p1[r] + ... for r < n, K <= 4 terms, added left to right in one pass
// (the same order as the row's entries: the result is the same, bit for bit, as summing one
// neighbour at a time).
template <int K, bool Accumulate>
[[gnu::always_inline]] inline void combine(double* __restrict out, const double* __restrict p0,
                                           const double* __restrict p1, const double* __restrict p2,
                                           const double* __restrict p3, double w0, double w1, double w2, double w3,
                                           Index n) {
  for (Index r = 0; r < n; ++r) {
    double s;
    if constexpr (Accumulate) {
      s = out[r] + w0 * p0[r];
    } else {
      s = w0 * p0[r];
    }
    if constexpr (K > 1) s = s + w1 * p1[r];
    if constexpr (K > 2) s = s + w2 * p2[r];
    if constexpr (K > 3) s = s + w3 * p3[r];
    out[r] = s;
  }
}

template <bool Accumulate>
[[gnu::always_inline]] inline void combine_k(std::size_t k, double* out, const double* const* p, const double* w,
                                             Index n) {
  switch (k) {
    case 1: combine<1, Accumulate>(out, p[0], p[0], p[0], p[0], w[0], 0, 0, 0, n); break;
    case 2: combine<2, Accumulate>(out, p[0], p[1], p[1], p[1], w[0], w[1], 0, 0, n); break;
    case 3: combine<3, Accumulate>(out, p[0], p[1], p[2], p[2], w[0], w[1], w[2], 0, n); break;
    default: combine<4, Accumulate>(out, p[0], p[1], p[2], p[3], w[0], w[1], w[2], w[3], n); break;
  }
}

// Nodes ahead whose neighbours' columns the column path prefetches: their addresses come from W's
// rows, which the hardware prefetcher cannot follow (exponential: 2 log2 M streams; random ring:
// random columns).
constexpr Index kPrefetchNodes = 16;

// The lines holding bytes [c, c + bytes), requested.
[[gnu::always_inline]] inline void prefetch_span(const void* c, Index bytes) {
  const auto first = reinterpret_cast<std::uintptr_t>(c) & ~std::uintptr_t{63};
  const auto last = reinterpret_cast<std::uintptr_t>(c) + static_cast<std::uintptr_t>(bytes) - 1;
  for (std::uintptr_t a = first; a <= last; a += 64) __builtin_prefetch(reinterpret_cast<const void*>(a));
}

// out[r] = sum over the row's entries (j, w) of w in[(j + shift) ld + r], r < n, added in the row's
// order in groups of four (the first group not added to out).
[[gnu::always_inline]] inline void combine_row(const std::vector<std::pair<Index, double>>& row, double* o,
                                               const double* in, Index ld, Index shift, Index n) {
  const double* p[4];
  double w[4];
  std::size_t e = 0;
  bool first = true;
  while (e < row.size()) {
    const std::size_t k = std::min<std::size_t>(4, row.size() - e);
    for (std::size_t q = 0; q < k; ++q) {
      p[q] = in + (row[e + q].first + shift) * ld;
      w[q] = row[e + q].second;
    }
    if (first) combine_k<false>(k, o, p, w, n);
    else combine_k<true>(k, o, p, w, n);
    first = false;
    e += k;
  }
}

// Nodes [i0, i1) of one gossip round on rows [0, n) of a block: column i of `out` = sum_j W_ij
// column j of `in` (in and out: column-major with leading dimensions ld_in, ld_out; they never
// overlap), node by node. With `prefetch` (whole columns, n = d) the columns node i + kPrefetchNodes
// reads are requested first, up to node `limit`.
[[gnu::always_inline]] inline void mix_nodes(const Topology& topo, const double* in, Index ld_in, double* out,
                                             Index ld_out, Index n, Index i0, Index i1, bool prefetch, Index limit) {
  for (Index i = i0; i < i1; ++i) {
    if (prefetch && i + kPrefetchNodes < limit) {
      for (const auto& [j, wij] : topo.rows[static_cast<std::size_t>(i + kPrefetchNodes)])
        prefetch_span(in + j * ld_in, n * static_cast<Index>(sizeof(double)));
    }
    combine_row(topo.rows[static_cast<std::size_t>(i)], out + i * ld_out, in, ld_in, 0, n);
  }
}

// Whole columns of a run of translated rows (core/topology.hpp, translate_runs) in tiles of about
// this many bytes of `out`: a tile stays in a core's L2 while each group of four of the row's
// positions is added to it from four contiguous stretches of `in`. Node by node, the 39 offsets of
// an exponential graph at M = 10^6 were 39 interleaved streams that the hardware prefetcher could
// not follow, and the mix ran at 0.1 of the triad.
constexpr Index kRunTileBytes = 128 * 1024;
// Shorter runs (irregular graphs: every run one node) go node by node, prefetched.
constexpr Index kMinRunNodes = 8;

// One gossip round, nodes [i0, i1). With `runs` (whole columns: n = ld_in = ld_out = d) the nodes of
// long runs are mixed a tile at a time: over a tile, position q of every node's row reads the
// columns from row a's entry q on, consecutively, so each combine is one long loop over the tile's
// elements, and every element is still the same sum of the same terms in the row's order.
[[gnu::always_inline]] inline void mix_round_body(const Topology& topo, const double* in, Index ld_in, double* out,
                                                  Index ld_out, Index n, Index i0, Index i1, bool prefetch,
                                                  const std::vector<NodeRun>* runs) {
  if (runs == nullptr) {
    mix_nodes(topo, in, ld_in, out, ld_out, n, i0, i1, prefetch, i1);
    return;
  }
  const Index d = n;
  const Index tile = std::max<Index>(1, kRunTileBytes / (d * static_cast<Index>(sizeof(double))));
  // The first run ending after i0.
  auto it = std::upper_bound(runs->begin(), runs->end(), i0, [](Index i, const NodeRun& r) { return i < r.end; });
  for (; it != runs->end() && it->begin < i1; ++it) {
    const Index b0 = std::max(i0, it->begin), b1 = std::min(i1, it->end);
    if (b1 - b0 < kMinRunNodes) {
      mix_nodes(topo, in, d, out, d, d, b0, b1, prefetch, i1);
      continue;
    }
    const auto& row = topo.rows[static_cast<std::size_t>(it->begin)];
    for (Index a = b0; a < b1; a += tile)
      combine_row(row, out + a * d, in, d, a - it->begin, std::min(tile, b1 - a) * d);
  }
}

// One round of a drawn ring over whole columns, nodes [i0, i1): column i of `out` = the 1/3-weighted
// sum of the columns triples[3i..3i+2] of `in`, in that (sorted) order: combine<3> of the row
// permuted_ring_topology makes, bit for bit, from 12 B a node instead of the row.
[[gnu::always_inline]] inline void mix_ring_body(const std::uint32_t* triples, const double* in, double* out,
                                                 Index d, Index i0, Index i1) {
  constexpr double w = 0.0 + 1.0 / 3.0;
  const Index bytes = d * static_cast<Index>(sizeof(double));
  for (Index i = i0; i < i1; ++i) {
    if (i + kPrefetchNodes < i1) {
      const std::uint32_t* ahead = triples + 3 * (i + kPrefetchNodes);
      for (int q = 0; q < 3; ++q) prefetch_span(in + static_cast<Index>(ahead[q]) * d, bytes);
    }
    const std::uint32_t* t = triples + 3 * i;
    combine<3, false>(out + i * d, in + static_cast<Index>(t[0]) * d, in + static_cast<Index>(t[1]) * d,
                      in + static_cast<Index>(t[2]) * d, in, w, w, w, 0.0, d);
  }
}

// The same code compiled for wider vectors, chosen once at run time: with many rounds the blocks
// sit in L1/L2 and the multiply-adds, not memory, set the pace (AVX-512 mixed t = 16 rounds about
// 1.5x faster than SSE2 here). Contraction into fused multiply-adds is off in every variant, so
// each rounds exactly like the baseline x86-64 build: results do not depend on the machine.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DPOSG_MIX_VARIANTS 1
#define DPOSG_NO_CONTRACT optimize("fp-contract=off")
__attribute__((target("avx512f,prefer-vector-width=512"), DPOSG_NO_CONTRACT)) void mix_round_avx512(
    const Topology& topo, const double* in, Index ld_in, double* out, Index ld_out, Index n, Index i0, Index i1,
    bool prefetch, const std::vector<NodeRun>* runs) {
  mix_round_body(topo, in, ld_in, out, ld_out, n, i0, i1, prefetch, runs);
}
__attribute__((target("avx2"), DPOSG_NO_CONTRACT)) void mix_round_avx2(const Topology& topo, const double* in,
                                                                       Index ld_in, double* out, Index ld_out,
                                                                       Index n, Index i0, Index i1, bool prefetch,
                                                                       const std::vector<NodeRun>* runs) {
  mix_round_body(topo, in, ld_in, out, ld_out, n, i0, i1, prefetch, runs);
}
__attribute__((DPOSG_NO_CONTRACT))
#endif
void mix_round_generic(const Topology& topo, const double* in, Index ld_in, double* out, Index ld_out, Index n,
                       Index i0, Index i1, bool prefetch, const std::vector<NodeRun>* runs) {
  mix_round_body(topo, in, ld_in, out, ld_out, n, i0, i1, prefetch, runs);
}

using MixRoundFn = void (*)(const Topology&, const double*, Index, double*, Index, Index, Index, Index, bool,
                            const std::vector<NodeRun>*);
using MixRingFn = void (*)(const std::uint32_t*, const double*, double*, Index, Index, Index);

#ifdef DPOSG_MIX_VARIANTS
__attribute__((target("avx512f,prefer-vector-width=512"), DPOSG_NO_CONTRACT)) void mix_ring_avx512(
    const std::uint32_t* triples, const double* in, double* out, Index d, Index i0, Index i1) {
  mix_ring_body(triples, in, out, d, i0, i1);
}
__attribute__((target("avx2"), DPOSG_NO_CONTRACT)) void mix_ring_avx2(const std::uint32_t* triples, const double* in,
                                                                      double* out, Index d, Index i0, Index i1) {
  mix_ring_body(triples, in, out, d, i0, i1);
}
__attribute__((DPOSG_NO_CONTRACT))
#endif
void mix_ring_generic(const std::uint32_t* triples, const double* in, double* out, Index d, Index i0, Index i1) {
  mix_ring_body(triples, in, out, d, i0, i1);
}

// The widest of a kernel's builds that this CPU runs.
#ifdef DPOSG_MIX_VARIANTS
template <class Fn>
Fn select_variant(Fn avx512, Fn avx2, Fn generic) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return avx512;
  if (__builtin_cpu_supports("avx2")) return avx2;
  return generic;
}
#define DPOSG_SELECT(kernel) select_variant(kernel##_avx512, kernel##_avx2, kernel##_generic)
#else
#define DPOSG_SELECT(kernel) kernel##_generic
#endif

MixRingFn select_mix_ring() { return DPOSG_SELECT(mix_ring); }
MixRoundFn select_mix_round() { return DPOSG_SELECT(mix_round); }

void mix_round(const Topology& topo, const double* in, Index ld_in, double* out, Index ld_out, Index n) {
  static const MixRoundFn best = select_mix_round();
  best(topo, in, ld_in, out, ld_out, n, 0, topo.workers, false, nullptr);
}

// Nodes [i0, i1) of one round on whole columns (d rows, leading dimension d); `runs`: topo's
// translate_runs, or null.
void mix_round_columns(const Topology& topo, const std::vector<NodeRun>* runs, const double* in, double* out, Index d,
                       Index i0, Index i1) {
  static const MixRoundFn best = select_mix_round();
  best(topo, in, d, out, d, d, i0, i1, true, runs);
}

// Rows per block: about kBlockDoubles / M, at least kMinBlockRows, a multiple of 8 (so that
// blocks start on cache lines when d is), with a number of blocks that is a multiple of the
// thread count so that the static schedule is balanced.
Index block_rows(Index d, Index M, int threads) {
  Index block = std::max<Index>(kMinBlockRows, kBlockDoubles / M);
  Index blocks = (d + block - 1) / block;
  blocks = (blocks + threads - 1) / threads * threads;
  block = (d + blocks - 1) / blocks;
  block = (block + 7) / 8 * 8;
  return std::min(block, d);
}

}  // namespace

// Row blocks keep X's traffic at one read and one write per call only while a block of all M
// workers and its two buffers stay in a core's cache, and they share out only as many blocks as d
// has: at M = 10^6, d = 20 one block of 20 rows (two 160 MB buffers, far past any cache) went to
// one thread of two and streamed every round through memory three times. Past that point each
// round is one parallel pass over the workers between X and a buffer of X's size.
bool mixes_whole_columns(Index d, Index M, int threads) {
  const Index block = block_rows(d, M, threads);
  const Index blocks = (d + block - 1) / block;
  return blocks < threads || block * M > 8 * kBlockDoubles;
}

// Small matrices are mixed on one thread: waking a team costs more than the work.
int CpuMixer::threads_for(Index d, Index M, int rounds) const {
  return d * M * schedule_.effective_rounds(rounds) >= kParallelMinWork ? omp_get_max_threads() : 1;
}

CpuMixer::CpuMixer(MixingSchedule schedule) : schedule_(std::move(schedule)) {
  // complete never takes the column path (and holds M^2 entries to scan).
  if (!schedule_.is_time_varying() && !schedule_.is_complete()) base_runs_ = translate_runs(schedule_.base());
}

bool CpuMixer::takes_whole_columns(Index d, Index M, int rounds) const {
  return rounds > 0 && M > 1 && d > 0 && !schedule_.is_complete() && mixes_whole_columns(d, M, threads_for(d, M, rounds));
}

void CpuMixer::mix(Matrix& X, int rounds, std::int64_t iteration) const {
  const Index M = X.cols();
  const Index d = X.rows();
  if (rounds <= 0 || M == 1 || d == 0) return;
  const bool complete = schedule_.is_complete();
  std::unique_lock<std::mutex> hold(drawn_lock_, std::defer_lock);
  const bool whole_columns = takes_whole_columns(d, M, rounds);
  // A drawn ring on whole columns is mixed from its node triples, not from W's rows.
  const bool ring_triples = whole_columns && schedule_.is_random() && M >= 3 && M <= kRingTripleMaxWorkers;
  if (schedule_.is_time_varying()) {
    hold.lock();
    // Each round's draw is a serial shuffle of its own stream: rounds go to threads (at M = 10^6
    // two draws were a third of a random-ring iteration on one thread).
    if (ring_triples) {
      const auto n = static_cast<std::size_t>(rounds);
      if (ring_orders_.size() < n) ring_orders_.resize(n);
      if (ring_triples_.size() < n) ring_triples_.resize(n);
#pragma omp parallel for schedule(dynamic) if (rounds > 1 && M >= 4096)
      for (int r = 0; r < rounds; ++r) schedule_.permutation_into(iteration, r, ring_orders_[static_cast<std::size_t>(r)]);
      for (int r = 0; r < rounds; ++r)
        permuted_ring_triples(ring_orders_[static_cast<std::size_t>(r)], ring_triples_[static_cast<std::size_t>(r)]);
    } else {
      if (drawn_.size() < static_cast<std::size_t>(rounds)) drawn_.resize(static_cast<std::size_t>(rounds));
#pragma omp parallel for schedule(dynamic) if (rounds > 1 && M >= 4096)
      for (int r = 0; r < rounds; ++r) schedule_.at_into(iteration, r, drawn_[static_cast<std::size_t>(r)]);
    }
  }
  auto round_topology = [&](int r) -> const Topology& {
    return schedule_.is_time_varying() ? drawn_[static_cast<std::size_t>(r)] : schedule_.base();
  };
  const int threads = threads_for(d, M, rounds);
  const bool parallel = threads > 1;
  if (whole_columns) {
    // Each element is the same sum in the same order as in a row block (combine works row by row),
    // so the result does not depend on the path. The buffer belongs to the calling thread and
    // trades places with X after an odd number of rounds (X's storage moves, its values are the
    // mixed ones): each round reads one matrix and writes the other, nothing is copied.
    thread_local Matrix spare;
    spare.resize(d, M);
    const double* in = X.data();
    double* out = spare.data();
    static const MixRingFn mix_ring = select_mix_ring();
    for (int r = 0; r < rounds; ++r) {
      const std::uint32_t* triples = ring_triples ? ring_triples_[static_cast<std::size_t>(r)].data() : nullptr;
      const std::vector<NodeRun>* runs = schedule_.is_time_varying() ? nullptr : &base_runs_;
#pragma omp parallel for schedule(static) if (parallel)
      for (int part = 0; part < threads; ++part) {
        const Index i0 = part * M / threads, i1 = (part + 1) * M / threads;
        if (triples) mix_ring(triples, in, out, d, i0, i1);
        else mix_round_columns(round_topology(r), runs, in, out, d, i0, i1);
      }
      in = out;
      out = out == spare.data() ? X.data() : spare.data();
    }
    if (in == spare.data()) X.swap(spare);
    return;
  }
  const Index block = block_rows(d, M, threads);
  const Index blocks = (d + block - 1) / block;
  double* x = X.data();
#pragma omp parallel if (parallel)
  {
    // Per-thread scratch (two block x M buffers), kept so that repeated calls do not allocate.
    thread_local std::vector<double> scratch;
    if (scratch.size() < static_cast<std::size_t>(2 * block * M)) scratch.resize(static_cast<std::size_t>(2 * block * M));
#pragma omp for schedule(static)
    for (Index blk = 0; blk < blocks; ++blk) {
      const Index r0 = blk * block;
      const Index nb = std::min(block, d - r0);
      double* xb = x + r0;
      if (complete) {
        // W = 11^T/M: every row becomes its mean, summed in the order Eigen's rowwise().sum()
        // uses (first column, then groups of four), then divided by M.
        double* acc = scratch.data();
        std::copy(xb, xb + nb, acc);
        const Index size4 = (M - 1) & ~Index{3};
        Index i = 1;
        for (; i < size4; i += 4) {
          const double* c0 = xb + i * d;
          const double* c1 = c0 + d;
          const double* c2 = c1 + d;
          const double* c3 = c2 + d;
          for (Index r = 0; r < nb; ++r) acc[r] = acc[r] + ((c0[r] + c1[r]) + (c2[r] + c3[r]));
        }
        for (; i < M; ++i) {
          const double* c = xb + i * d;
          for (Index r = 0; r < nb; ++r) acc[r] = acc[r] + c[r];
        }
        // Rows past the last full SIMD packet Eigen sums one column after another.
        for (Index r = std::max(r0, d - d % kPacket); r < r0 + nb; ++r) {
          double sum = xb[r - r0];
          for (Index j = 1; j < M; ++j) sum = sum + xb[j * d + r - r0];
          acc[r - r0] = sum;
        }
        const double m = static_cast<double>(M);
        for (Index r = 0; r < nb; ++r) acc[r] = acc[r] / m;
        for (Index j = 0; j < M; ++j) std::copy(acc, acc + nb, xb + j * d);
        continue;
      }
      // Copy in, t rounds alternating between the buffers (leading dimension nb), the last one
      // written straight into X (for t = 1: buffer -> X, no copy out).
      double* in = scratch.data();
      double* out = in + block * M;
      for (Index j = 0; j < M; ++j) std::copy(xb + j * d, xb + j * d + nb, in + j * nb);
      for (int r = 0; r + 1 < rounds; ++r) {
        mix_round(round_topology(r), in, nb, out, nb, nb);
        std::swap(in, out);
      }
      mix_round(round_topology(rounds - 1), in, nb, xb, d, nb);
    }
  }
}

}  // namespace dposg
