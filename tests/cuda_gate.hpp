#pragma once
// Whether a cuda-labelled test runs, skips or fails (issue #21). A skip (exit 77, CTest "Not Run")
// is honest only where there is no GPU: cudaErrorNoDevice, or no /dev/nvidia* node for a driver to
// reach. Everything else that keeps CUDA away (a driver older than the runtime, a module that does not
// dlopen, a build that silently has no CUDA on a machine that has a GPU) fails with its message, and
// DPOSG_REQUIRE_CUDA=1 (scripts/gpu-check.sh, or any run where a GPU is known to be there) turns every
// skip into a failure. The exit code is 1 for any failure, never Catch2's count of failed assertions:
// exactly 77 of them would read as a skip.
//
// gate_for and exit_code are pure, so tests/test_cuda_gate.cpp checks every branch on a CPU.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "gan/cuda/cuda_probe.hpp"

namespace dposg::test {

enum class Verdict { run, skip, fail };

struct Gate {
  Verdict verdict = Verdict::fail;
  std::string reason;  // why it skips or fails; empty when it runs
};

// True when `dev` holds any nvidia* entry (nvidia0, nvidiactl, nvidia-uvm): the nodes through which a
// driver reaches a GPU, present on any GPU machine and in any container a GPU was passed into.
inline bool nvidia_device_nodes(const std::filesystem::path& dev = "/dev") {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dev, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind("nvidia", 0) == 0) return true;
  return false;
}

// DPOSG_REQUIRE_CUDA set to anything but "" or "0".
inline bool cuda_required(const char* value) { return value && *value && std::string(value) != "0"; }
inline bool cuda_required() { return cuda_required(std::getenv("DPOSG_REQUIRE_CUDA")); }

// A skip for `reason`, which DPOSG_REQUIRE_CUDA turns into a failure.
inline Gate skip_unless_required(const std::string& reason, bool required) {
  if (required) return {Verdict::fail, "DPOSG_REQUIRE_CUDA is set, so this cannot be skipped: " + reason};
  return {Verdict::skip, reason};
}

inline Gate gate_for(const gan::cuda::CudaProbe& p, bool device_nodes, bool required) {
  using S = gan::cuda::CudaProbe::Status;
  Gate g;
  switch (p.status) {
    case S::ready:
      g.verdict = Verdict::run;
      return g;
    case S::no_device:
      g = {Verdict::skip, "no CUDA device (" + p.message + ")"};
      break;
    case S::cuda_error:
      // Without device nodes no driver can reach a GPU, whatever the runtime says (here: a toolkit
      // without a driver reports cudaErrorInsufficientDriver); with them the set-up is broken.
      if (!device_nodes) {
        g = {Verdict::skip, "no GPU on this machine (no /dev/nvidia*; " + p.message + ")"};
      } else {
        g = {Verdict::fail, "this machine has a GPU (/dev/nvidia*) but " + p.message};
#if defined(__SANITIZE_ADDRESS__)
        g.reason += "; under AddressSanitizer CUDA needs ASAN_OPTIONS=protect_shadow_gap=0";
#endif
      }
      break;
    case S::module_unloadable:
      // The module's libraries (cudart, cuBLAS) load without a GPU: a dlopen failure is a build or
      // packaging defect that a GPU machine would hit too.
      g = {Verdict::fail, p.message};
      break;
    case S::not_built:
      if (!device_nodes) g = {Verdict::skip, "no GPU on this machine, and " + p.message};
      else g = {Verdict::fail, "this machine has a GPU (/dev/nvidia*) but " + p.message};
      break;
  }
  return g.verdict == Verdict::skip ? skip_unless_required(g.reason, required) : g;
}

// The gate of this process, probed once (the probe loads the CUDA module).
inline const Gate& cuda_gate() {
  static const Gate g = gate_for(gan::cuda::probe_cuda(), nvidia_device_nodes(), cuda_required());
  return g;
}

// A case that cannot run here and says why, kept for the summary main prints: one executable is one
// CTest result, so a case skipped inside a passing run is only visible as a "SKIPPED:" line.
inline std::vector<std::pair<std::string, std::string>>& skipped_cases() {
  static std::vector<std::pair<std::string, std::string>> s;
  return s;
}

inline void note_skip(const std::string& name, const std::string& reason) {
  skipped_cases().emplace_back(name, reason);
}

// 1 on any failure, 77 when nothing failed but the gate skips, else 0.
inline int exit_code(int failed_assertions, const Gate& g) {
  if (failed_assertions != 0 || g.verdict == Verdict::fail) return 1;
  return g.verdict == Verdict::skip ? 77 : 0;
}

// The end of a cuda test's main: the skipped cases, the gate's reason, and exit_code.
inline int finish(int failed_assertions, const Gate& g) {
  for (const auto& [name, reason] : skipped_cases()) std::cout << "SKIPPED: " << name << ": " << reason << "\n";
  if (g.verdict == Verdict::skip) std::cout << "SKIPPED: " << g.reason << "\n";
  if (g.verdict == Verdict::fail) std::cout << "FAILED: " << g.reason << "\n";
  return exit_code(failed_assertions, g);
}

}  // namespace dposg::test

// The first line of every cuda test case: runs on a usable GPU, returns (the whole executable then
// exits 77) where the gate skips, and fails the case with the reason where it fails. DPOSG_GATE takes
// any Gate (test_nccl_one_gpu.cpp gates on the NCCL module); DPOSG_CUDA_GATE on the CUDA module's.
#define DPOSG_GATE(gate_expression)                                                 \
  do {                                                                              \
    const ::dposg::test::Gate& gate_ = (gate_expression);                           \
    if (gate_.verdict == ::dposg::test::Verdict::fail) FAIL(gate_.reason);          \
    if (gate_.verdict == ::dposg::test::Verdict::skip) {                            \
      WARN("SKIPPED: " << gate_.reason);                                            \
      return;                                                                       \
    }                                                                               \
  } while (0)

#define DPOSG_CUDA_GATE() DPOSG_GATE(::dposg::test::cuda_gate())
