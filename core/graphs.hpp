#pragma once
// The graphs of the decentralized min-max literature beyond the circulants of core/topology.hpp
// (issue #18): a star, a grid without wrap-around, Erdos-Renyi G(M, p), each with Metropolis-Hastings
// weights, and BlueFog's one-peer exponential schedule, whose W changes every round.
//
// Metropolis-Hastings weights: W_ij = 1 / (1 + max(deg_i, deg_j)) on an edge, W_ii = 1 - sum of the
// row. W is symmetric and doubly stochastic for any graph, and rho < 1 exactly when the graph is
// connected (the self weights make it aperiodic).
//
// One-peer exponential (BlueFog's dynamic schedule): with tau = ceil(log2 M), round g averages
// node i with node i + 2^(g mod tau):  x_i <- (x_i + x_{i + 2^(g mod tau)}) / 2.  Each W_g = (I + S^h)/2
// (S the cyclic shift, h = 2^(g mod tau)) is a circulant: doubly stochastic but not symmetric, and
// for h dividing M it is disconnected on its own. Its products are circulants too, with eigenvalues
//   mu_j = prod_g (1 + omega^(j h_g)) / 2,   |mu_j| = prod_g |cos(pi j h_g / M)|,   omega = e^(2 pi i / M),
// and, being normal, singular values |mu_j|; so ||W_{g+t-1} ... W_g - 11^T/M||_2 = max_{j != 0} |mu_j|,
// O(M t) without any matrix. For M a power of two, tau consecutive rounds give exactly 11^T/M.
#include <cstdint>
#include <string>

#include "core/topology.hpp"
#include "core/types.hpp"

namespace dposg {

// Node 0 the hub. Metropolis: hub-leaf 1/M, leaf self 1 - 1/M, hub self 1/M.
Topology star_topology(Index M);
// Closed form of the star's spectrum (W = I - L/M, L the star's Laplacian with eigenvalues 0, 1
// (M - 2 times), M): 1, 1 - 1/M (M - 2 times), 0, descending.
Vector star_spectrum(Index M);

// r x c grid without wrap-around, r the largest divisor of M <= sqrt(M) (as the torus), Metropolis.
Topology grid_topology(Index M);

// G(M, p) with Metropolis weights, drawn from `seed` (the run's --seed) through a stream of its own;
// a disconnected draw is redrawn, up to kErdosRenyiAttempts times, then refused (InputError naming
// --edge-prob). Edges are drawn by geometric skips over the M(M-1)/2 pairs: O(M + edges), not O(M^2).
inline constexpr int kErdosRenyiAttempts = 100;
struct ErdosRenyiGraph {
  Topology W;
  int attempt = 0;  // the draw that was connected (0: the first)
};
ErdosRenyiGraph erdos_renyi_topology(Index M, double p, std::uint64_t seed);
// The edge probability used when --edge-prob is not given: 2 ln(M) / M (twice the connectivity
// threshold), at most 1.
double default_edge_prob(Index M);

// tau = ceil(log2 M), the schedule's period (1 for M <= 2).
int one_peer_period(Index M);
// The distance 2^(g mod tau) of global round g.
Index one_peer_distance(Index M, std::int64_t g);
// W_g: x_i <- (x_i + x_{i + h}) / 2. M = 1: W = I.
Topology one_peer_topology(Index M, Index h);
// ||W_{g0+t-1} ... W_{g0} - 11^T/M||_2 by the closed form above (1 for t = 0 and M > 1; 0 for M = 1).
double one_peer_product_deviation(Index M, std::int64_t g0, int t);
// max over the period's rounds of ||W_g - 11^T/M||_2: the schedule's rho in the paper's sense
// rho = ||W - 11^T/M||_2 (which for a symmetric W is max(|lambda_2|, |lambda_M|)).
double one_peer_rho(Index M);

}  // namespace dposg
