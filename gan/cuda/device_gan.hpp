#pragma once
// The GPU side of the CUDA GAN backend: gan/cuda/device_gan.cu, built as the module
// libdposg_gan_cuda.so, which links cudart and cuBLAS. dposg_core loads it with dlopen only when
// --device cuda is asked for (gan/cuda/cuda_gan_operator.cpp), so nothing else pays for loading cuBLAS
// (over a second per process start) and a CUDA build still runs where the CUDA libraries are absent.
// Plain C++ declarations: host code includes this without CUDA headers.
#include "gan/cuda/batched_gan.hpp"
#include "gan/cuda/resident_device.hpp"

namespace dposg::gan::cuda {

// One CUDA stream, one cuBLAS handle and one device arena, kept across calls (the arena only grows).
// CUDA and cuBLAS failures throw std::runtime_error naming the call.
class DeviceGanOperator {
 public:
  virtual ~DeviceGanOperator() = default;
  // Pinned host staging for the inputs of `plan`, laid out as input_layout(plan): the caller fills it,
  // then calls evaluate(plan) with the same plan.
  virtual float* inputs(const GanPlan& plan) = 0;
  // One upload of the inputs, batched_gan_operator on the GPU, one download of G (d x M floats, pinned
  // host memory valid until the next call).
  virtual const float* evaluate(const GanPlan& plan) = 0;
};

}  // namespace dposg::gan::cuda

// The module's entry points (C linkage, looked up with dlsym). Messages are written into
// [message, message + size) as NUL-terminated text.
extern "C" {
// The number of usable CUDA devices (> 0); otherwise 0 and the reason.
int dposg_cuda_device_count(char* message, int size);
// A new operator on device ordinal `device` (the caller deletes it), or null and the reason. The
// operator makes `device` current on the calling thread at every call, so callers on any thread
// (and MPI ranks sharing a host, each with its own ordinal) need not manage cudaSetDevice.
dposg::gan::cuda::DeviceGanOperator* dposg_cuda_new_operator_on(int device, char* message, int size);
// A new resident device (gan/cuda/resident_device.hpp) on ordinal `device`, or null and the reason.
dposg::gan::cuda::ResidentDevice* dposg_cuda_new_resident_on(int device, char* message, int size);
}
