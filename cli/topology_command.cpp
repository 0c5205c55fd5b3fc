#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/mixer.hpp"
#include "core/spectral.hpp"

namespace dposg::cli {

int topology_command(int argc, const char* const argv[]) {
  std::string kind = "ring", file;
  Index workers = 8;
  int rounds = 1, draws = 1000;
  double edge_prob = 0.0;
  std::uint64_t seed = 0;
  po::options_description desc("Topology");
  add_topology_option(desc, kind);
  desc.add_options()
      ("workers", po::value(&workers)->default_value(workers), "M")
      ("topology-file", po::value(&file)->default_value(file), "HDF5 file with dataset W, for --topology file")
      ("rounds", po::value(&rounds)->default_value(rounds), "t: print rho^t (or E||W_t..W_1 - J|| for random-ring) for 1..t")
      ("edge-prob", po::value(&edge_prob)->default_value(edge_prob), "--topology erdos-renyi: p; 0 = 2 ln(M)/M")
      ("draws", po::value(&draws)->default_value(draws), "Monte-Carlo draws for random-ring")
      ("seed", po::value(&seed)->default_value(seed), "seed of random-ring draws");
  if (!parse(argc, argv, desc, "usage: dposg topology [options]\nPrints W's spectrum, rho and rho^t.")) return 0;
  if (rounds < 0) throw InputError("--rounds: must be >= 0, got " + std::to_string(rounds));
  if (draws < 2) throw InputError("--draws: must be >= 2, got " + std::to_string(draws));

  const MixingSchedule s(kind, workers, seed, file, edge_prob);
  const Spectrum& sp = s.base_spectrum();
  std::printf("topology %s, M = %lld, max degree %lld\n", kind.c_str(), static_cast<long long>(workers),
              static_cast<long long>(s.base().max_degree()));
  if (kind == "erdos-renyi")
    std::printf("G(M, p) with p = %.6g, Metropolis weights, connected at draw %d\n", s.edge_prob(), s.graph_attempt());
  const bool one_peer = kind == "one-peer-exponential";
  if (workers <= 12) {
    std::printf(one_peer ? "W_0 (round g averages i with i + 2^(g mod tau)) =\n" : "W =\n");
    const Matrix W = s.base().dense();
    for (Index i = 0; i < workers; ++i) {
      std::printf("  ");
      for (Index j = 0; j < workers; ++j) std::printf(" %7.4f", W(i, j));
      std::printf("\n");
    }
  }
  if (one_peer) std::printf("(W_g is not symmetric: no real spectrum; rho below is max_g ||W_g - J||_2)\n");
  else std::printf("eigenvalues (descending):");
  const Index n = sp.eigenvalues.size();
  for (Index i = 0; i < n; ++i) {
    if (n > 16 && i == 8) {
      std::printf(" ...");
      i = n - 8;
    }
    std::printf(" %.6f", sp.eigenvalues[i]);
  }
  if (!sp.full && !one_peer) std::printf(" (not stored above M = %lld)", static_cast<long long>(kStoredSpectrumMaxWorkers));
  if (!one_peer) std::printf("\n");
  std::printf(one_peer ? "rho = max_g ||W_g - J||_2          = %.12f (%s)%s\n"
                       : "rho = max(|lambda_2|, |lambda_M|) = %.12f (%s)%s\n", sp.rho,
              sp.method == "dense" ? "eigen-solver" : sp.method.c_str(),
              s.is_random() ? ", the same for every drawn ring" : "");
  if (auto cf = closed_form_rho(kind == "random-ring" ? "ring" : kind, workers)) {
    std::printf("rho closed form                   = %.12f", *cf);
    if (kind == "ring" || kind == "random-ring")
      std::printf("  (Remark 2: 1/3 + 2/3 cos(2 pi/M) = %.12f%s)", ring_rho_closed_form(workers),
                  workers >= 4 ? "" : ", stated for M >= 4");
    std::printf("\n");
  }
  std::printf("spectral_gap = 1 - rho = %.12f\n", 1.0 - sp.rho);
  for (int t = 1; t <= rounds; ++t) {
    if (one_peer) {
      const DeviationEstimate e = s.product_deviation_estimate(t, draws);
      std::printf("t = %2d: ||W_{g+t-1}..W_g - J||_2 = %.6e mean, %.6e max over the %d phases (closed form)\n", t,
                  e.mean, e.max, e.draws);
    } else if (s.is_random()) {
      // Above kDenseDeviationMaxWorkers the draws stop once the mean is known to 1e-3 (core/mixer.hpp).
      const DeviationEstimate e = s.product_deviation_estimate(t, draws);
      // Lanczos values approach each draw's norm from below (core/mixer.hpp, convergence_error).
      char converge[64] = "";
      if (e.lanczos_steps > 0)
        std::snprintf(converge, sizeof converge, ", + at most %.1e to converge", e.convergence_error);
      std::printf("t = %2d: E||W_t..W_1 - J||_2 = %.6f +- %.6f (95%%, %d draws, %s%s), bound sqrt(M-1)/sqrt(3)^t = %.6f, "
                  "rho^t = %.6f\n",
                  t, e.mean, 1.96 * e.std_error, e.draws, e.method.c_str(),
                  converge,
                  std::sqrt(static_cast<double>(workers - 1)) / std::pow(std::sqrt(3.0), t), std::pow(sp.rho, t));
    } else {
      std::printf("t = %2d: rho^t = %.6e\n", t, std::pow(sp.rho, t));
    }
  }
  return 0;
}

}  // namespace dposg::cli
