// --device cuda: GanProblem::sample on the GPU. stage_inputs (staging.hpp) draws every worker's batch
// with GanProblem::draw_batch (the CPU path's streams and order) and converts Z and the batches to float
// into pinned staging; the module's DeviceGanOperator uploads them in one copy, runs
// batched_gan_operator and downloads G, which is widened back to double.
//
// The module libdposg_gan_cuda.so (device_gan.cu, linked with cudart and cuBLAS) is loaded with dlopen
// on first use, from $DPOSG_CUDA_MODULE if set, else the build tree's copy (DPOSG_CUDA_MODULE_PATH),
// else next to the executable.
#include "gan/cuda/cuda_gan_operator.hpp"
#include "gan/cuda/cuda_probe.hpp"

#include <memory>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "core/loadable_module.hpp"
#include "gan/cuda/device_gan.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan::cuda {

namespace {

using DeviceCountFn = int (*)(char*, int);
using NewOperatorFn = DeviceGanOperator* (*)(int, char*, int);
using NewResidentFn = ResidentDevice* (*)(int, char*, int);

struct Module {
  DeviceCountFn device_count = nullptr;
  NewOperatorFn new_operator = nullptr;
  NewResidentFn new_resident = nullptr;
  std::string error;  // why the module could not be loaded (empty when it was)
};

// Loaded once per process and never unloaded (kernels and cuBLAS stay registered until exit).
const Module& module() {
  static const Module m = [] {
    Module r;
    std::string tried;
    if (load_module("DPOSG_CUDA_MODULE", DPOSG_CUDA_MODULE_PATH,
                    [&](void* handle) {
                      return bind_symbol(handle, "dposg_cuda_device_count", r.device_count) &&
                             bind_symbol(handle, "dposg_cuda_new_operator_on", r.new_operator) &&
                             bind_symbol(handle, "dposg_cuda_new_resident_on", r.new_resident);
                    },
                    tried))
      return r;
    r.device_count = nullptr;
    r.new_operator = nullptr;
    r.new_resident = nullptr;
    r.error = "cannot load the CUDA module (" + tried + ")";
    return r;
  }();
  return m;
}

class CudaGanOperatorImpl final : public CudaGanOperator {
 public:
  explicit CudaGanOperatorImpl(DeviceGanOperator* device) : device_(device) {}

  void sample(const GanProblem& p, const Matrix& Z, Index batch, WorkerRngs& rngs, Matrix& G) override {
    const std::lock_guard<std::mutex> lock(mutex_);  // one staging buffer and one arena per operator
    const GanPlan plan = plan_for(p, batch, Z.cols());
    stage_inputs(p, plan, Z, rngs, device_->inputs(plan));
    widen_result(device_->evaluate(plan), p.dim(), Z.cols(), G);
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<DeviceGanOperator> device_;
};

constexpr int kMessage = 512;

}  // namespace

CudaProbe probe_cuda() {
  CudaProbe p;
  const Module& m = module();
  if (!m.device_count) {
    p.status = CudaProbe::Status::module_unloadable;
    p.message = m.error;
    return p;
  }
  char message[kMessage] = {};
  // The module's contract (device_gan.cu): > 0 devices, 0 no device, -cudaError_t any other failure.
  const int count = m.device_count(message, kMessage);
  if (count > 0) {
    p.status = CudaProbe::Status::ready;
    p.devices = count;
    return p;
  }
  p.status = count == 0 ? CudaProbe::Status::no_device : CudaProbe::Status::cuda_error;
  p.error = -count;
  p.message = message;
  return p;
}

int cuda_device_count(std::string* why) {
  const CudaProbe p = probe_cuda();
  if (p.status != CudaProbe::Status::ready && why) *why = p.message;
  return p.devices;
}

bool cuda_available(std::string* why) { return cuda_device_count(why) > 0; }

namespace {

// Throws InputError naming --device unless GPU `ordinal` exists here.
void check_ordinal(int ordinal) {
  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) throw InputError("--device cuda: " + why);
  if (ordinal < 0 || ordinal >= count)
    throw InputError("--device cuda: no CUDA device " + std::to_string(ordinal) + " (this host has " +
                     std::to_string(count) + ")");
}

}  // namespace

std::unique_ptr<CudaGanOperator> make_cuda_gan_operator(const GanProblem&, int ordinal) {
  check_ordinal(ordinal);
  char message[kMessage] = {};
  DeviceGanOperator* device = module().new_operator(ordinal, message, kMessage);
  if (!device) throw InputError(std::string("--device cuda: ") + message);
  return std::make_unique<CudaGanOperatorImpl>(device);
}

std::unique_ptr<ResidentDevice> make_cuda_resident_device(int ordinal) {
  check_ordinal(ordinal);
  char message[kMessage] = {};
  ResidentDevice* device = module().new_resident(ordinal, message, kMessage);
  if (!device) throw InputError(std::string("--device cuda: ") + message);
  return std::unique_ptr<ResidentDevice>(device);
}

}  // namespace dposg::gan::cuda
