#pragma once
// What stands between this process and a CUDA device, finely enough that a test skips only where
// there is no GPU (tests/cuda_gate.hpp) and fails on anything else: a driver older than the runtime,
// a module that does not load, a build that has no CUDA at all. cuda_device_count (cuda_gan_operator.hpp)
// folds all of these into "0 devices", which is right for the CLI's refusal of --device cuda but would
// let a broken set-up pass a GPU run as "skipped" (issue #21).
//
// Defined in gan/cuda/cuda_gan_operator.cpp (CUDA builds) and gan/cuda/cuda_unavailable.cpp.
#include <string>

namespace dposg::gan::cuda {

struct CudaProbe {
  enum class Status {
    ready,              // devices > 0
    no_device,          // cudaErrorNoDevice, or the runtime counts 0 devices
    cuda_error,         // cudaGetDeviceCount failed otherwise (error holds the cudaError_t)
    module_unloadable,  // libdposg_gan_cuda.so: dlopen or an entry point failed
    not_built,          // this build has no CUDA backend (cuda_unavailable.cpp)
  };
  Status status = Status::not_built;
  int devices = 0;
  int error = 0;
  std::string message;  // what the runtime or dlopen said; empty when ready
};

// Loads the module on first use, like every --device cuda path.
CudaProbe probe_cuda();

}  // namespace dposg::gan::cuda
