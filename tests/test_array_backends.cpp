// ctest-label: unit
// Every step rule and the mixing, written once over ArrayOps (core/array_ops.hpp), on the CPU
// backends against the loops of tests/array_backend_checks.hpp, bit for bit: host double (the host
// engine's arithmetic), the float-operator twin the resident engine runs for --device cpu-float, and
// the GPU's adapter (DeviceArrays) over a reference device written here with the kernels' per-element
// functions, so that the adapter runs without a GPU. The GPU instantiation is
// tests/test_array_backends_cuda.cpp. Last, the adapter's checkpoints, which the GPU's runs write.
#include "array_backend_checks.hpp"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "gan/cuda/resident_device.hpp"
#include "gan/cuda/staging.hpp"

namespace {

using namespace dposg::gan::cuda;

// CudaResidentDevice's contract as loops: dense W (as the Dgemm), step_element, adam_element,
// add_difference_element and narrow_element per element, the operator through the float CPU path.
class ReferenceDevice final : public ResidentDevice {
 public:
  static inline int sparse_mixes = 0;  // rounds mixed by neighbours (the gather), over all devices
  void reserve(const GanPlan& plan) override {
    plan_ = plan;
    n_ = static_cast<std::size_t>(plan.dim * plan.workers);
    arrays_.clear();
    arena_.assign(workspace_floats(plan), 0.f);
  }
  DeviceArray allocate() override {
    arrays_.emplace_back(n_, 0.0);
    return static_cast<DeviceArray>(arrays_.size() - 1);
  }
  void upload(DeviceArray a, const double* host) override { std::copy_n(host, n_, at(a).data()); }
  void download(DeviceArray a, double* host) override { std::copy_n(at(a).data(), n_, host); }
  void set_mixing(const double* W) override {
    W_.assign(W, W + static_cast<std::size_t>(plan_.workers * plan_.workers));
    sparse_ = false;
  }
  void set_mixing_sparse(const long long* offsets, const long long* cols, const double* weights) override {
    const long long M = plan_.workers;
    offsets_.assign(offsets, offsets + M + 1);
    cols_.assign(cols, cols + offsets[M]);
    weights_.assign(weights, weights + offsets[M]);
    sparse_ = true;
  }
  void mix(DeviceArray x) override {
    const long long d = plan_.dim, M = plan_.workers;
    std::vector<double> y(n_, 0.0);
    const std::vector<double>& X = at(x);
    if (sparse_) {
      ++sparse_mixes;
      // The gather kernel's per-element function, element by element as the kernel's threads run it.
      for (long long i = 0; i < M; ++i)
        for (long long r = 0; r < d; ++r)
          y[i * d + r] = gather_element(X.data(), d, r, offsets_[i], offsets_[i + 1], cols_.data(), weights_.data());
      at(x) = y;
      return;
    }
    for (long long i = 0; i < M; ++i)
      for (long long j = 0; j < M; ++j)
        for (long long r = 0; r < d; ++r) y[i * d + r] += W_[i + j * M] * X[j * d + r];
    at(x) = y;
  }
  void step(DeviceArray out, DeviceArray base, DeviceArray dir, const StepEtas& s) override {
    for (std::size_t k = 0; k < n_; ++k)
      at(out)[k] = step_element(at(base)[k], at(dir)[k], static_cast<long long>(k) % plan_.dim, s);
  }
  void adam(DeviceArray g, DeviceArray m, DeviceArray v, DeviceArray dir, const AdamConstants& a) override {
    for (std::size_t k = 0; k < n_; ++k) at(dir)[k] = adam_element(at(g)[k], at(m)[k], at(v)[k], a);
  }
  void add_difference(DeviceArray x, DeviceArray a, DeviceArray b) override {
    for (std::size_t k = 0; k < n_; ++k) at(x)[k] = add_difference_element(at(x)[k], at(a)[k], at(b)[k]);
  }
  void copy(DeviceArray to, DeviceArray from) override { at(to) = at(from); }
  float* batch_inputs() override { return arena_.data() + input_layout(plan_).real; }
  void evaluate(DeviceArray z, DeviceArray g, double clip) override {
    float* zf = arena_.data() + input_layout(plan_).z;
    for (std::size_t k = 0; k < n_; ++k)
      zf[k] = narrow_element(at(z)[k], static_cast<long long>(k) % plan_.dim, plan_.disc.base, clip);
    const float* G = float_cpu_operator(plan_, arena_.data());
    for (std::size_t k = 0; k < n_; ++k) at(g)[k] = static_cast<double>(G[k]);
  }

 private:
  std::vector<double>& at(DeviceArray a) { return arrays_.at(static_cast<std::size_t>(a)); }
  GanPlan plan_;
  std::size_t n_ = 0;
  std::vector<std::vector<double>> arrays_;
  std::vector<double> W_;
  bool sparse_ = false;
  std::vector<long long> offsets_, cols_;
  std::vector<double> weights_;
  std::vector<float> arena_;
};

// DeviceArrays over ReferenceDevice, on the float operator: the GPU's code path but for the kernels.
// The reference device mixes densely in increasing j, like the loop, so the mixing is exact too.
struct DeviceReference {
  static constexpr const char* device = "cpu-float";
  static constexpr double tol = 0.0;
  static constexpr double tol_mix = 0.0;
  static std::unique_ptr<dposg::ArrayOps> arrays(const dposg::Problem& p, const dposg::MixingSchedule& s,
                                                 const dposg::DriverOptions& o) {
    return make_device_arrays(p, s, o, std::make_unique<ReferenceDevice>());
  }
};

}  // namespace

using dposg::test::check_mixing;
using dposg::test::check_rule;
using dposg::test::HostDouble;
using dposg::test::HostFloatTwin;

TEMPLATE_TEST_CASE("osg on the CPU backends: the loop of Algorithm 1, g_prev included", "[arrays][osg]", HostDouble,
                   HostFloatTwin, DeviceReference) {
  check_rule<TestType>("osg");
}

TEMPLATE_TEST_CASE("oadam on the CPU backends: the loop, m, v and the direction included", "[arrays][oadam]",
                   HostDouble, HostFloatTwin, DeviceReference) {
  check_rule<TestType>("oadam");
}

TEMPLATE_TEST_CASE("extragradient on the CPU backends: the loop, g included", "[arrays][extragradient]", HostDouble,
                   HostFloatTwin, DeviceReference) {
  check_rule<TestType>("extragradient");
}

TEMPLATE_TEST_CASE("gda on the CPU backends: the loop, g included", "[arrays][gda]", HostDouble, HostFloatTwin,
                   DeviceReference) {
  check_rule<TestType>("gda");
}

TEMPLATE_TEST_CASE("mixing on the CPU backends: x_i = sum_j W_ij x_j per round", "[arrays][mixing]", HostDouble,
                   HostFloatTwin, DeviceReference) {
  for (const char* topology : {"ring", "complete", "random-ring"}) {
    SECTION(topology) { check_mixing<TestType>(topology); }
  }
}

TEMPLATE_TEST_CASE("mixing by neighbours above M = 64 (the resident engine's gather): x_i = sum_j W_ij x_j",
                   "[arrays][mixing]", HostDouble, DeviceReference) {
  // M = 70 > kDenseMixingMaxWorkers: DeviceArrays hands the device W by rows (set_mixing_sparse).
  for (const char* topology : {"ring", "random-ring", "one-peer-exponential", "grid", "star"}) {
    SECTION(topology) {
      const int before = ReferenceDevice::sparse_mixes;
      check_mixing<TestType>(topology, 70);
      // The device was handed W by rows: 3 iterations of 3 rounds went through the gather.
      if constexpr (std::is_same_v<TestType, DeviceReference>) CHECK(ReferenceDevice::sparse_mixes - before == 9);
    }
  }
}

TEST_CASE("DeviceArrays: a run checkpointed at k and continued by a fresh engine on a fresh device is the run left "
          "alone, bit for bit", "[arrays][checkpoint]") {
  // The rules' arrays all pass through one save and load (save_program_state): oadam has the most
  // (and a counter), osg under overlap the engine's extra arrays.
  SECTION("oadam random-ring") { dposg::test::check_resume<DeviceReference>("oadam", "random-ring", false); }
  SECTION("osg random-ring overlap") { dposg::test::check_resume<DeviceReference>("osg", "random-ring", true); }
}

TEST_CASE("a checkpoint of the GPU's arithmetic is refused by the host engine, and the host's by the GPU's, in "
          "one line", "[arrays][checkpoint]") {
  dposg::test::check_arithmetic_refused<DeviceReference>();
}
