#pragma once
// --engine resident: the GAN's iterates stay on the device between iterations (issue #5, "parameters
// resident on the GPU between iterations, mixing W^t applied on the GPU"). An IterationEngine
// (core/driver.hpp) below the one driver: per iteration it hands the device W (when it changes) and
// the minibatches, and the device mixes (X <- X W, a dense product: the GANs run M <= a few hundred),
// takes the step and evaluates the operator without a round trip of Z, X or G through the host.
// The driver reads Z and X (a download) only at logging iterations and divergence checks.
//
// The algorithm is Algorithm 1 with the osg or oadam rule, exactly as the host engine runs it
// (same mixing order of rounds, same W per round, same minibatches from the workers' streams, same
// Adam), in double, with the operator in float32 as --device cuda/cpu-float. Devices
// (gan/cuda/resident_device.hpp): the GPU for --device cuda, the CPU twin for --device cpu-float.
#include <memory>
#include <string>

#include "core/driver.hpp"
#include "core/mixer.hpp"
#include "core/step_rule.hpp"
#include "gan/cuda/resident_device.hpp"

namespace dposg::gan {
class GanProblem;
}

namespace dposg::gan::cuda {

// Empty when the resident engine runs this combination in one process; otherwise why not, naming the
// option. (Over MPI, distribute() in core/mpi_backend.cpp refuses it.)
std::string resident_unsupported(const Problem& problem, const StepRuleOptions& rule, const DriverOptions& opts,
                                 const std::string& algorithm, bool compressed);

// The engine for a GanProblem (resident_unsupported empty) on its device(): the GPU for cuda, the CPU
// twin for cpu-float. Throws InputError naming --device when the GPU cannot be used.
std::unique_ptr<IterationEngine> make_resident_engine(const Problem& problem, const MixingSchedule& schedule,
                                                      const StepRuleOptions& rule, const DriverOptions& opts);

// The CPU twin of the GPU device (loops; the operator through Eigen's float GEMM).
std::unique_ptr<ResidentDevice> make_host_resident_device();

}  // namespace dposg::gan::cuda
