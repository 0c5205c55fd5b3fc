#pragma once
// Gossip topologies: a symmetric doubly stochastic W stored by rows of (neighbour, weight),
// and the spectral quantities the theory uses. `rho` is the paper's
// rho = max(|lambda_2(W)|, |lambda_M(W)|); `spectral_gap` is 1 - rho (DESIGN.md §3).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace dposg {

struct Topology {
  Index workers = 1;
  // row i: (j, W_ij) for W_ij != 0, j sorted, self included.
  std::vector<std::vector<std::pair<Index, double>>> rows;

  Matrix dense() const;
  // Largest number of other nodes any node sends to in one round.
  Index max_degree() const;
};

// complete_topology stores all M^2 weights (64 Mi doubles at this bound); larger M are refused.
inline constexpr Index kCompleteMaxWorkers = 8192;

Topology single_topology();
Topology complete_topology(Index M);
Topology ring_topology(Index M);         // 1/3 self and each neighbour (for M = 2 the two merge)
Topology torus_topology(Index M);        // r x c wrap-around grid, r the largest divisor <= sqrt(M), 1/5 each
Topology exponential_topology(Index M);  // neighbours i +- 2^k, uniform weight 1/(degree + 1)
// A ring through the nodes in the order `perm` (Rand-DP-OAdam's random ring).
Topology permuted_ring_topology(const std::vector<Index>& perm);
// The same Topology written over W's rows: once W has held a ring of this M nothing is allocated
// (a run draws two of 10^6 rows every iteration at M = 10^6).
void fill_permuted_ring(const std::vector<Index>& perm, Topology& W);
// The same ring without W's rows, for M >= 3 and M <= kRingTripleMaxWorkers: node i's row of
// permuted_ring_topology(perm) is (triples[3i], triples[3i+1], triples[3i+2]), each of weight 1/3,
// the three nodes distinct and sorted as the row's entries are (12 B a node against a row's 24 B
// header and 48 B of entries, which a million-worker mix wrote and read again every round).
inline constexpr Index kRingTripleMaxWorkers = Index{1} << 32;
void permuted_ring_triples(const std::vector<Index>& perm, std::vector<std::uint32_t>& triples);
// Maximal runs [begin, end) of nodes whose rows are translates of the run's first row: row i holds
// (j + i - begin, w) for each (j, w) of row begin. A circulant W is a few such runs (a ring: node 0,
// nodes 1..M-2, node M-1; every wrap-around of an offset starts a new one), and over a run each of
// W's sorted positions reads one contiguous stretch of columns, which the column path of the mix
// sums as one long vector operation instead of node by node.
struct NodeRun {
  Index begin = 0, end = 0;
};
std::vector<NodeRun> translate_runs(const Topology& W);
// Validates a user W: square, symmetric, non-negative, rows summing to 1, rho < 1. Throws
// InputError naming `option` and the first violation found.
Topology topology_from_dense(const Matrix& W, const std::string& option);
// Reads dataset "W" (M x M, M <= kDenseFileMaxWorkers) or CSR datasets indptr/indices/data from an
// HDF5 file and validates it.
inline constexpr Index kDenseFileMaxWorkers = 8192;
Topology topology_from_file(const std::string& path);

struct Spectrum {
  Vector eigenvalues;  // descending; empty where not stored (large M, core/spectral.hpp)
  double rho = 0.0;    // max(|lambda_2|, |lambda_M|); 0 for M = 1
  bool full = true;    // eigenvalues holds all M of them
  std::string method = "dense";  // dense | closed form | Lanczos (core/spectral.hpp)
};
Spectrum spectrum(const Topology& topology);

// Remark 2: rho of the ring for M >= 4 is 1/3 + 2/3 cos(2 pi / M).
double ring_rho_closed_form(Index M);

// rho from the closed-form eigenvalues of circulant W (ring, exponential; torus as a Kronecker
// sum of two circulants; complete and single are 0), computed without any eigen-solver. Empty for
// kinds without one (file, and random-ring, whose rounds differ).
std::optional<double> closed_form_rho(const std::string& kind, Index M);

}  // namespace dposg
