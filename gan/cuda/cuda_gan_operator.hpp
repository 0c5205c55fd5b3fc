#pragma once
// --device cuda for the GAN problems: GanProblem::sample evaluated on the GPU (gan/README.md, "CUDA
// backend"). GanProblem owns one of these when its device is cuda and hands sample() to it; the
// batches are drawn on the host by GanProblem::draw_batch from the same worker streams as on the CPU,
// so both devices see identical minibatches.
//
// Built with CUDA (DPOSG_HAVE_CUDA): gan/cuda/cuda_gan_operator.cpp + device_gan.cu. Without:
// gan/cuda/cuda_unavailable.cpp, where make_cuda_gan_operator throws the InputError "built without CUDA".
#include <memory>
#include <string>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace dposg::gan {
class GanProblem;
}

namespace dposg::gan::cuda {

class ResidentDevice;

class CudaGanOperator {
 public:
  virtual ~CudaGanOperator() = default;
  // G = g(Z; batches) for every column, exactly the operator of GanProblem::sample (float32 on the GPU).
  virtual void sample(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) = 0;
};

// The operator for p on device ordinal `device` (ProblemOptions::cuda_device); throws InputError naming
// --device when this build has no CUDA, no CUDA device is present, or there is no device `device`.
std::unique_ptr<CudaGanOperator> make_cuda_gan_operator(const GanProblem& p, int device);

// The resident engine's device (gan/cuda/resident_device.hpp) on GPU `device`; InputError naming --device
// as make_cuda_gan_operator.
std::unique_ptr<ResidentDevice> make_cuda_resident_device(int device);

// The number of CUDA devices --device cuda can use here; 0 (and `why` says why) without a CUDA build
// or device.
int cuda_device_count(std::string* why);

// True when --device cuda can run here (CUDA built in and a device present); otherwise `why` says why.
bool cuda_available(std::string* why);

}  // namespace dposg::gan::cuda
