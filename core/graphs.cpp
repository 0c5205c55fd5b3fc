#include "core/graphs.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace dposg {
namespace {

// Metropolis-Hastings weights on an undirected graph given by its adjacency lists (sorted, no self).
Topology metropolis_topology(const std::vector<std::vector<Index>>& adj) {
  const Index M = static_cast<Index>(adj.size());
  Topology t;
  t.workers = M;
  t.rows.resize(static_cast<std::size_t>(M));
  for (Index i = 0; i < M; ++i) {
    const auto& nb = adj[static_cast<std::size_t>(i)];
    const double di = static_cast<double>(nb.size());
    auto& row = t.rows[static_cast<std::size_t>(i)];
    row.reserve(nb.size() + 1);
    double off = 0.0;
    for (Index j : nb) off += 1.0 / (1.0 + std::max(di, static_cast<double>(adj[static_cast<std::size_t>(j)].size())));
    bool self_done = false;
    for (Index j : nb) {
      if (!self_done && j > i) {
        row.emplace_back(i, 1.0 - off);
        self_done = true;
      }
      row.emplace_back(j, 1.0 / (1.0 + std::max(di, static_cast<double>(adj[static_cast<std::size_t>(j)].size()))));
    }
    if (!self_done) row.emplace_back(i, 1.0 - off);
  }
  return t;
}

bool connected(const std::vector<std::vector<Index>>& adj) {
  const std::size_t M = adj.size();
  if (M == 0) return true;
  std::vector<char> seen(M, 0);
  std::vector<Index> stack = {0};
  seen[0] = 1;
  std::size_t reached = 1;
  while (!stack.empty()) {
    const Index i = stack.back();
    stack.pop_back();
    for (Index j : adj[static_cast<std::size_t>(i)])
      if (!seen[static_cast<std::size_t>(j)]) {
        seen[static_cast<std::size_t>(j)] = 1;
        ++reached;
        stack.push_back(j);
      }
  }
  return reached == M;
}

// The grid's and torus's shape: r the largest divisor of M at most sqrt(M).
std::pair<Index, Index> grid_shape(Index M) {
  Index r = static_cast<Index>(std::floor(std::sqrt(static_cast<double>(M))));
  while (r > 1 && M % r != 0) --r;
  return {r, M / r};
}

}  // namespace

Topology star_topology(Index M) {
  std::vector<std::vector<Index>> adj(static_cast<std::size_t>(M));
  for (Index i = 1; i < M; ++i) {
    adj[0].push_back(i);
    adj[static_cast<std::size_t>(i)].push_back(0);
  }
  return metropolis_topology(adj);
}

Vector star_spectrum(Index M) {
  Vector ev = Vector::Constant(M, 1.0 - 1.0 / static_cast<double>(M));
  ev[0] = 1.0;
  if (M >= 2) ev[M - 1] = 0.0;
  return ev;
}

Topology grid_topology(Index M) {
  const auto [r, c] = grid_shape(M);
  std::vector<std::vector<Index>> adj(static_cast<std::size_t>(M));
  for (Index a = 0; a < r; ++a)
    for (Index b = 0; b < c; ++b) {
      auto& nb = adj[static_cast<std::size_t>(a * c + b)];
      if (a > 0) nb.push_back((a - 1) * c + b);
      if (b > 0) nb.push_back(a * c + b - 1);
      if (b + 1 < c) nb.push_back(a * c + b + 1);
      if (a + 1 < r) nb.push_back((a + 1) * c + b);
    }
  return metropolis_topology(adj);
}

double default_edge_prob(Index M) {
  if (M <= 2) return 1.0;
  return std::min(1.0, 2.0 * std::log(static_cast<double>(M)) / static_cast<double>(M));
}

ErdosRenyiGraph erdos_renyi_topology(Index M, double p, std::uint64_t seed) {
  if (!(p > 0.0 && p <= 1.0)) {
    std::ostringstream s;
    s << setting("mixer.edge_prob") << ": must be in (0, 1], got " << p;
    throw InputError(s.str());
  }
  // The expected edge count bounds the graph's memory (two entries of 16 bytes per edge).
  const double expected = p * static_cast<double>(M) * static_cast<double>(M - 1) / 2.0;
  constexpr double kMaxEdges = 5e7;
  if (expected > kMaxEdges) {
    std::ostringstream s;
    s << setting("mixer.edge_prob") << ": G(M, p) with M = " << M << " and p = " << p << " has about " << expected
      << " edges; at most " << kMaxEdges << " are stored (lower " << setting("mixer.edge_prob") << " or "
      << setting("mixer.workers") << ")";
    throw InputError(s.str());
  }
  const double log_q = std::log1p(-p);
  for (int attempt = 0; attempt < kErdosRenyiAttempts; ++attempt) {
    // A stream of its own (purpose graph, key = the attempt): the graph does not depend on any
    // other draw of the run, and a redraw is a fresh graph.
    Rng rng = make_rng(seed, StreamPurpose::graph, static_cast<std::uint64_t>(attempt));
    std::vector<std::vector<Index>> adj(static_cast<std::size_t>(M));
    // Batagelj & Brandes (2005): the gaps between successive edges of the pairs (v, w), w < v, in
    // row order are geometric with parameter p.
    Index v = 1, w = -1;
    while (v < M) {
      if (p < 1.0) {
        const double u = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
        w += 1 + static_cast<Index>(std::floor(std::log(u) / log_q));
      } else {
        w += 1;
      }
      while (w >= v && v < M) {
        w -= v;
        ++v;
      }
      if (v < M) {
        adj[static_cast<std::size_t>(v)].push_back(w);
        adj[static_cast<std::size_t>(w)].push_back(v);
      }
    }
    if (!connected(adj)) continue;
    for (auto& nb : adj) std::sort(nb.begin(), nb.end());
    return {metropolis_topology(adj), attempt};
  }
  std::ostringstream s;
  s << setting("mixer.edge_prob") << ": G(" << M << ", " << p << ") was disconnected in all " << kErdosRenyiAttempts
    << " draws from this " << setting("mixer.seed") << "; connectivity needs p well above ln(M)/M = " << std::log(static_cast<double>(M)) / static_cast<double>(M);
  throw InputError(s.str());
}

int one_peer_period(Index M) {
  int tau = 0;
  while ((Index{1} << tau) < M) ++tau;
  return std::max(tau, 1);
}

Index one_peer_distance(Index M, std::int64_t g) {
  const int tau = one_peer_period(M);
  const std::int64_t k = ((g % tau) + tau) % tau;
  return Index{1} << k;
}

Topology one_peer_topology(Index M, Index h) {
  Topology t;
  t.workers = M;
  t.rows.resize(static_cast<std::size_t>(M));
  for (Index i = 0; i < M; ++i) {
    const Index j = (i + h) % M;
    auto& row = t.rows[static_cast<std::size_t>(i)];
    if (j == i) {
      row.emplace_back(i, 1.0);
    } else {
      row.emplace_back(std::min(i, j), 0.5);
      row.emplace_back(std::max(i, j), 0.5);
    }
  }
  return t;
}

double one_peer_product_deviation(Index M, std::int64_t g0, int t) {
  if (M <= 1) return 0.0;
  if (t <= 0) return 1.0;
  std::vector<Index> h(static_cast<std::size_t>(t));
  for (int r = 0; r < t; ++r) h[static_cast<std::size_t>(r)] = one_peer_distance(M, g0 + r);
  const double step = std::numbers::pi / static_cast<double>(M);
  double best = 0.0;
#pragma omp parallel for reduction(max : best) schedule(static) if (M * t >= 100000)
  for (Index j = 1; j < M; ++j) {
    double mu = 1.0;
    for (int r = 0; r < t && mu != 0.0; ++r)
      // |cos(pi y / M)| has period M in y: reduce j h mod M so the argument stays in [0, pi).
      mu *= std::abs(std::cos(step * static_cast<double>((j * h[static_cast<std::size_t>(r)]) % M)));
    best = std::max(best, mu);
  }
  return best;
}

double one_peer_rho(Index M) {
  if (M <= 2) return M == 2 ? std::abs(std::cos(std::numbers::pi / 2.0)) : 0.0;
  // For h sharing a factor with M, j = M / gcd(h, M) gives |mu_j| = 1 (W_h alone splits the nodes
  // into gcd(h, M) cycles); for h coprime to M, j h runs over every non-zero residue and the
  // largest |cos(pi y / M)| is cos(pi / M).
  double rho = 0.0;
  for (int k = 0; k < one_peer_period(M); ++k) {
    const Index h = Index{1} << k;
    rho = std::max(rho, std::gcd(h, M) > 1 ? 1.0 : std::cos(std::numbers::pi / static_cast<double>(M)));
  }
  return rho;
}

}  // namespace dposg
