#pragma once
// What dposg's CUDA-linked modules (gan/cuda/device_gan.cu, core/nccl/nccl_module.cpp) share: CUDA
// failures as exceptions naming the call, and text handed back through their C entry points. Only
// those modules include it (it needs the CUDA headers).
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace dposg::cuda_module {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

// `text` into [message, message + size), NUL-terminated and cut to fit.
inline void write_message(const std::string& text, char* message, int size) {
  if (!message || size <= 0) return;
  const std::size_t n = std::min(text.size(), static_cast<std::size_t>(size - 1));
  text.copy(message, n);
  message[n] = '\0';
}

}  // namespace dposg::cuda_module
