#pragma once
// Gradient-tracking descent-ascent and its variance-reduced relatives, in the form of the DGDA-VR
// authors' reference code (gmancino/DGDA-VR, cpu/models/*.py): worker i keeps its iterate z^i, an
// estimator v^i of its local operator and a tracker y^i of the average operator,
//     z_k = z_{k-1} W^t - eta y_{k-1}
//     v_k = estimator at z_k (below)
//     y_k = (y_{k-1} + v_k - v_{k-1}) W^t                      with y_0 = v_0 (not mixed)
// and the estimators
//     gt-gda  (GT-DA):    v_k = g(z_k; xi_k)
//     dm-hsgd (STORM, Xian et al. 2021):
//                         v_k = g(z_k; xi_k) + (1 - beta)(v_{k-1} - g(z_{k-1}; xi_k))
//     dgda-vr (SPIDER, Mancino-Ball et al. 2023): every q-th iteration a large batch b0,
//                         v_k = g(z_k; xi_k^{b0}),  otherwise v_k = v_{k-1} + g(z_k; xi_k) - g(z_{k-1}; xi_k)
// (xi_k the same samples at both points). v_0 is g(z_0) on the large batch for dm-hsgd and dgda-vr
// (their code takes the full local gradient there), on the ordinary batch for gt-gda.
//
// The two W^t products of an iteration act on z_{k-1} and on the pending tracker, both known once
// v_{k-1} is, so the rule mixes them as one 2d-row matrix: one message of 2d doubles per neighbour
// and round (d on the first iteration, whose tracker y_0 is not mixed). The rule holds the run's
// real mixer (in process or between MPI ranks); the driver's own mixer moves nothing.
// For M = 1 (W = 1) gt-gda is single-machine SGDA, dm-hsgd hybrid SGD (STORM) descent-ascent and
// dgda-vr SPIDER descent-ascent.
#include <memory>
#include <string>

#include "core/mixer.hpp"
#include "core/silent_mixer.hpp"
#include "core/step_rule.hpp"

namespace dposg {

struct GradientTrackingOptions {
  std::string algorithm = "gt-gda";  // gt-gda | dm-hsgd | dgda-vr
  StepSize step;
  int rounds = 1;             // t: W^t for both products
  double momentum = 0.01;     // dm-hsgd: beta (the reference code's betax = betay = 0.01)
  Index large_batch = 1000;   // dm-hsgd, dgda-vr: b0 (the reference code's mega_batch)
  std::int64_t period = 32;   // dgda-vr: q, iterations between large batches (the reference code's frequency)
};

std::vector<std::string> gradient_tracking_names();
bool is_gradient_tracking(const std::string& algorithm);
// `mixer` is the one that communicates; throws InputError naming the option on bad values.
std::unique_ptr<StepRule> make_gradient_tracking_rule(const GradientTrackingOptions& o, std::shared_ptr<const Mixer> mixer);

}  // namespace dposg
