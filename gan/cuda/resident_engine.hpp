#pragma once
// --engine resident: the GAN's iterates stay on the device between iterations (issue #5, "parameters
// resident on the GPU between iterations, mixing W^t applied on the GPU"). It is core/array_ops.hpp's
// ArrayEngine, the step rules of core/step_rule.cpp (StepProgram: osg, oadam, extragradient, gda) and
// the driver's mixing and overlap written once, over device arrays: per iteration the host hands the
// device W (when it changes) and the minibatches, and the device mixes (X <- X W, a dense product: the
// GANs run M <= a few hundred), takes the step and evaluates the operator without a round trip of Z, X
// or G through the host. The driver reads Z and X (a download) only at logging iterations and
// divergence checks. In double, with the operator in float32 as --device cuda/cpu-float. Arrays: the
// GPU's (gan/cuda/resident_device.hpp) for --device cuda; for --device cpu-float, the CPU twin, the
// host's own (HostArrays with CpuMixer and the problem's oracle).
#include <memory>
#include <string>

#include "core/array_ops.hpp"
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

// The arrays the resident engine runs on for a GanProblem: the GPU's for --device cuda (throws
// InputError naming --device when it cannot be used), otherwise the host's (the CPU twin).
std::unique_ptr<ArrayOps> make_resident_arrays(const Problem& problem, const MixingSchedule& schedule,
                                               const DriverOptions& opts);

// The resident engine's arrays over `device` (make_resident_arrays' for --device cuda; a test passes a
// reference device of its own, so that this adapter runs without a GPU).
std::unique_ptr<ArrayOps> make_device_arrays(const Problem& problem, const MixingSchedule& schedule,
                                             const DriverOptions& opts, std::unique_ptr<ResidentDevice> device);

}  // namespace dposg::gan::cuda
