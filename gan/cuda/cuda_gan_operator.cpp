// --device cuda: GanProblem::sample on the GPU. stage_inputs (staging.hpp) draws every worker's batch
// with GanProblem::draw_batch (the CPU path's streams and order) and converts Z and the batches to float
// into pinned staging; the module's DeviceGanOperator uploads them in one copy, runs
// batched_gan_operator and downloads G, which is widened back to double.
//
// The module libdposg_gan_cuda.so (device_gan.cu, linked with cudart and cuBLAS) is loaded with dlopen
// on first use, from $DPOSG_CUDA_MODULE if set, else the build tree's copy (DPOSG_CUDA_MODULE_PATH),
// else next to the executable.
#include "gan/cuda/cuda_gan_operator.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.hpp"
#include "gan/cuda/device_gan.hpp"
#include "gan/cuda/staging.hpp"
#include "gan/gan_problem.hpp"

namespace dposg::gan::cuda {

namespace {

using AvailableFn = int (*)(char*, int);
using NewOperatorFn = DeviceGanOperator* (*)(char*, int);

struct Module {
  AvailableFn available = nullptr;
  NewOperatorFn new_operator = nullptr;
  std::string error;  // why the module could not be loaded (empty when it was)
};

std::vector<std::string> module_candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("DPOSG_CUDA_MODULE"); env && *env) paths.emplace_back(env);
  paths.emplace_back(DPOSG_CUDA_MODULE_PATH);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back((exe.parent_path() / std::filesystem::path(DPOSG_CUDA_MODULE_PATH).filename()).string());
  return paths;
}

// Loaded once per process and never unloaded (kernels and cuBLAS stay registered until exit).
const Module& module() {
  static const Module m = [] {
    Module r;
    std::string tried;
    for (const std::string& path : module_candidates()) {
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        const char* e = dlerror();
        tried += (tried.empty() ? "" : "; ") + (e ? std::string(e) : path);
        continue;
      }
      r.available = reinterpret_cast<AvailableFn>(dlsym(handle, "dposg_cuda_device_available"));
      r.new_operator = reinterpret_cast<NewOperatorFn>(dlsym(handle, "dposg_cuda_new_operator"));
      if (r.available && r.new_operator) return r;
      tried += (tried.empty() ? "" : "; ") + path + ": entry points missing";
    }
    r.available = nullptr;
    r.new_operator = nullptr;
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

bool cuda_available(std::string* why) {
  const Module& m = module();
  if (!m.available) {
    if (why) *why = m.error;
    return false;
  }
  char message[kMessage] = {};
  if (m.available(message, kMessage)) return true;
  if (why) *why = message;
  return false;
}

std::unique_ptr<CudaGanOperator> make_cuda_gan_operator(const GanProblem&) {
  std::string why;
  if (!cuda_available(&why)) throw InputError("--device cuda: " + why);
  char message[kMessage] = {};
  DeviceGanOperator* device = module().new_operator(message, kMessage);
  if (!device) throw InputError(std::string("--device cuda: ") + message);
  return std::make_unique<CudaGanOperatorImpl>(device);
}

}  // namespace dposg::gan::cuda
