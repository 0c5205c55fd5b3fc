#pragma once
// Spectral quantities of W for any M without an M x M matrix (issue #20). The dense eigensolver is
// cubic in M (15 s at M = 4096), so it runs only where M is small; above that:
//   * circulant W (ring, exponential, complete, single) by its DFT eigenvalues
//       lambda_j = sum_o w_o cos(2 pi j o / M),  j = 0..M-1, o over the first row's offsets,
//     O(M x offsets) = O(M) for the ring, O(M log M) for the exponential graph;
//   * the torus (an r x c wrap-around grid, W = (I + S_r + S_r^T) (x) I / 5 + I (x) (S_c + S_c^T) / 5
//     with S the cyclic shift) as the Kronecker sum of two circulants:
//       lambda_ab = (1 + 2 cos(2 pi a / r) + 2 cos(2 pi b / c)) / 5;
//   * any other W (a file) by Lanczos (Spectra, implicitly restarted) on W - 11^T/M, whose largest
//     magnitude eigenvalue is rho = max(|lambda_2|, |lambda_M|) because W 1 = 1 and W is symmetric.
// The full spectrum is kept only up to kStoredSpectrumMaxWorkers values (an HDF5 attribute holds at
// most 64 KiB); beyond that `Spectrum::eigenvalues` is empty and `Spectrum::full` false.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/topology.hpp"
#include "core/types.hpp"

namespace dposg {

// The dense eigensolver (Eigen's SelfAdjointEigenSolver) for M at or below this.
inline constexpr Index kDenseSpectrumMaxWorkers = 256;
// Operators on 1^perp of at most this size are solved as dense matrices by sparse_rho (Lanczos needs room).
inline constexpr Index kDenseComplementMaxWorkers = 64;
// The full spectrum is stored for M at or below this (4096 doubles = 32 KiB).
inline constexpr Index kStoredSpectrumMaxWorkers = 4096;

// The closed-form spectrum, descending, of the fixed W of `kind` (single, complete, ring,
// exponential, torus, star); nullopt for kinds without one (file, grid, erdos-renyi).
std::optional<Vector> closed_form_spectrum(const std::string& kind, Index M);

// rho of a symmetric doubly stochastic W by Lanczos on W - 11^T/M (O(nnz) per product).
double sparse_rho(const Topology& W);

// The spectrum of W of kind `kind` by the cheapest exact method for its size (above).
Spectrum spectrum_for(const std::string& kind, const Topology& W);

// The largest eigenvalue of a symmetric positive semi-definite operator A on 1^perp (A must map
// 1^perp to itself up to rounding: the mean of each product is removed), used for
// ||W_t...W_1 - 11^T/M||_2^2 = lambda_max(P^T P) on 1^perp with P the product. Plain Lanczos: the
// three-term recurrence in three M-vectors, no restarts and no reorthogonalisation, whose loss of
// orthogonality only adds copies of converged Ritz values and leaves the largest intact (Paige).
// It stops at the first step k >= 8 where
//   theta_k - theta_{floor(k/2)} <= rel_tol theta_k,
// theta_k the largest eigenvalue of the k x k tridiagonal. Ritz values interlace, so theta_k rises
// to lambda_max from below; `change` = theta_k - theta_{floor(k/2)} is the stated error: if the
// remaining error falls like k^-a with a >= 1 (a = 2 at a square-root spectral edge, faster where the
// top eigenvalue is isolated), it is at most the rise over the last halving of k. Measured against
// long runs (tests/test_spectral.cpp): 1e-7 to 3e-5 below, stated 2e-4 to 4e-4 (rel_tol 1e-3).
struct RitzValue {
  double value = 0.0;
  double change = 0.0;
  int steps = 0;
  bool invariant = false;  // the Krylov space closed (value exact up to rounding)
};
RitzValue largest_ritz_value_on_complement(Index M, const std::function<void(const double*, double*)>& apply,
                                           double rel_tol, int max_steps);

}  // namespace dposg
