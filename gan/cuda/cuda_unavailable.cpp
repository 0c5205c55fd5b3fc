// make_cuda_gan_operator in a build without CUDA (DPOSG_CUDA=OFF, or no nvcc found at configure time).
#include "core/error.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/cuda_probe.hpp"
#include "gan/cuda/resident_device.hpp"

namespace dposg::gan::cuda {

namespace {
constexpr const char* kWhy =
    "dposg was built without CUDA (reconfigure where nvcc is found, e.g. /usr/local/cuda/bin/nvcc, with -DDPOSG_CUDA=ON)";
}

std::unique_ptr<CudaGanOperator> make_cuda_gan_operator(const GanProblem&, int) {
  throw InputError(std::string("--device cuda: ") + kWhy);
}

std::unique_ptr<ResidentDevice> make_cuda_resident_device(int) { throw InputError(std::string("--device cuda: ") + kWhy); }

CudaProbe probe_cuda() {
  CudaProbe p;
  p.status = CudaProbe::Status::not_built;
  p.message = kWhy;
  return p;
}

int cuda_device_count(std::string* why) {
  if (why) *why = kWhy;
  return 0;
}

bool cuda_available(std::string* why) { return cuda_device_count(why) > 0; }

}  // namespace dposg::gan::cuda
