// The skip-or-fail decision of the cuda tests (tests/cuda_gate.hpp, issue #21) on a CPU: only "no GPU"
// skips, every other way CUDA cannot be reached fails with its message, DPOSG_REQUIRE_CUDA turns a skip
// into a failure, and no count of failed assertions exits 77.
#include <catch2/catch.hpp>

#include <fstream>

#include "cli_harness.hpp"
#include "cuda_gate.hpp"

using dposg::gan::cuda::CudaProbe;
using dposg::test::exit_code;
using dposg::test::Gate;
using dposg::test::gate_for;
using dposg::test::Verdict;
using S = CudaProbe::Status;

namespace {

CudaProbe probe(S status, int devices, int error, const std::string& message) {
  CudaProbe p;
  p.status = status;
  p.devices = devices;
  p.error = error;
  p.message = message;
  return p;
}

// cudaErrorInsufficientDriver = 35, cudaErrorNoDevice = 100 (driver_types.h).
const CudaProbe kReady = probe(S::ready, 1, 0, "");
const CudaProbe kNoDevice = probe(S::no_device, 0, 0, "no CUDA device (cudaGetDeviceCount: cudaErrorNoDevice: ...)");
const CudaProbe kOldDriver =
    probe(S::cuda_error, 0, 35, "CUDA cannot be used (cudaGetDeviceCount: cudaErrorInsufficientDriver: ...)");
const CudaProbe kNoModule =
    probe(S::module_unloadable, 0, 0, "cannot load the CUDA module (libcublas.so.13: cannot open shared object file)");
const CudaProbe kNotBuilt = probe(S::not_built, 0, 0, "dposg was built without CUDA");

}  // namespace

TEST_CASE("cuda gate: a usable device runs, with or without DPOSG_REQUIRE_CUDA", "[cuda-gate]") {
  for (bool nodes : {false, true})
    for (bool required : {false, true}) CHECK(gate_for(kReady, nodes, required).verdict == Verdict::run);
}

TEST_CASE("cuda gate: only a machine without a GPU skips", "[cuda-gate]") {
  // cudaErrorNoDevice skips whatever /dev says.
  for (bool nodes : {false, true}) {
    const Gate g = gate_for(kNoDevice, nodes, false);
    CHECK(g.verdict == Verdict::skip);
    CHECK(g.reason.find("cudaErrorNoDevice") != std::string::npos);
  }
  // A runtime without a driver on a machine without /dev/nvidia*: no GPU, a skip.
  CHECK(gate_for(kOldDriver, false, false).verdict == Verdict::skip);
  CHECK(gate_for(kNotBuilt, false, false).verdict == Verdict::skip);
}

TEST_CASE("cuda gate: a broken set-up on a GPU machine fails with its message", "[cuda-gate]") {
  const Gate old_driver = gate_for(kOldDriver, true, false);
  CHECK(old_driver.verdict == Verdict::fail);
  CHECK(old_driver.reason.find("cudaErrorInsufficientDriver") != std::string::npos);
  const Gate not_built = gate_for(kNotBuilt, true, false);
  CHECK(not_built.verdict == Verdict::fail);
  CHECK(not_built.reason.find("built without CUDA") != std::string::npos);
  // dlopen fails the same way on any machine: never a skip.
  for (bool nodes : {false, true}) {
    const Gate g = gate_for(kNoModule, nodes, false);
    CHECK(g.verdict == Verdict::fail);
    CHECK(g.reason.find("libcublas.so.13") != std::string::npos);
  }
}

TEST_CASE("cuda gate: DPOSG_REQUIRE_CUDA turns every skip into a failure that keeps the reason", "[cuda-gate]") {
  for (const CudaProbe* p : {&kNoDevice, &kOldDriver, &kNotBuilt}) {
    const Gate g = gate_for(*p, false, true);
    CHECK(g.verdict == Verdict::fail);
    CHECK(g.reason.find("DPOSG_REQUIRE_CUDA") != std::string::npos);
    CHECK(g.reason.find(p->message) != std::string::npos);
  }
  CHECK(dposg::test::skip_unless_required("no MPI", true).verdict == Verdict::fail);
  CHECK(dposg::test::skip_unless_required("no MPI", false).verdict == Verdict::skip);
  CHECK_FALSE(dposg::test::cuda_required(nullptr));
  CHECK_FALSE(dposg::test::cuda_required(""));
  CHECK_FALSE(dposg::test::cuda_required("0"));
  CHECK(dposg::test::cuda_required("1"));
  CHECK(dposg::test::cuda_required("yes"));
}

TEST_CASE("cuda gate: the exit code is 1 for any failure, 77 only for a clean skip", "[cuda-gate]") {
  const Gate run{Verdict::run, ""}, skip{Verdict::skip, "no GPU"}, fail{Verdict::fail, "broken"};
  CHECK(exit_code(0, run) == 0);
  CHECK(exit_code(0, skip) == 77);
  CHECK(exit_code(0, fail) == 1);
  for (int failed : {1, 76, 77, 78, 256, 333})  // 256 would wrap to exit status 0, 333 to 77
    for (const Gate* g : {&run, &skip, &fail}) CHECK(exit_code(failed, *g) == 1);
}

TEST_CASE("cuda gate: /dev/nvidia* nodes are what tells a GPU machine", "[cuda-gate]") {
  dposg::test::TempDir dev;
  CHECK_FALSE(dposg::test::nvidia_device_nodes(dev.path));
  std::ofstream(dev / "null").put('\n');
  CHECK_FALSE(dposg::test::nvidia_device_nodes(dev.path));
  std::ofstream(dev / "nvidiactl").put('\n');
  CHECK(dposg::test::nvidia_device_nodes(dev.path));
  CHECK_FALSE(dposg::test::nvidia_device_nodes(dev / "missing"));
}

TEST_CASE("cuda gate: the real probe of this machine loads the module and never fails without a GPU", "[cuda-gate]") {
  // The module's return contract end to end (device_gan.cu: 0 no device, -cudaError_t otherwise);
  // a machine without /dev/nvidia* must skip, not fail, unless the module is broken.
  const CudaProbe p = dposg::gan::cuda::probe_cuda();
  INFO("status " << static_cast<int>(p.status) << ", error " << p.error << ": " << p.message);
  if (p.status == S::ready) CHECK(p.devices > 0);
  else CHECK(p.devices == 0);
  CHECK(p.status != S::module_unloadable);
  if (!dposg::test::nvidia_device_nodes()) CHECK(gate_for(p, false, false).verdict == Verdict::skip);
}
