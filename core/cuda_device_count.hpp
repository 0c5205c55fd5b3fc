#pragma once
// The device count both CUDA modules report (dposg_cuda_device_count, gan/cuda/device_gan.cu;
// dposg_nccl_device_count, core/nccl/nccl_module.cpp): 0 only where there is no device, so that a
// caller can tell a machine without a GPU from a broken set-up (gan/cuda/cuda_probe.hpp,
// tests/cuda_gate.hpp). Needs the CUDA headers, like core/cuda_module.hpp.
#include <cuda_runtime.h>

#include <string>

#include "core/cuda_module.hpp"

namespace dposg::cuda_module {

// > 0 devices; 0 and the reason for cudaErrorNoDevice or a count of 0; -e and the reason for any
// other failure e (a driver older than the runtime, an ASan shadow gap, ...).
inline int device_count(char* message, int size) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    const bool none = e == cudaErrorNoDevice;
    write_message(std::string(none ? "no CUDA device" : "CUDA cannot be used") + " (cudaGetDeviceCount: " +
                      cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ")",
                  message, size);
    cudaGetLastError();  // clear the error so that later calls start clean
    return none ? 0 : -static_cast<int>(e);
  }
  if (count == 0) write_message("no CUDA device found (cudaGetDeviceCount returned 0)", message, size);
  return count;
}

}  // namespace dposg::cuda_module
