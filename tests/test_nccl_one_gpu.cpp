// ctest-label: cuda
// The NCCL transport on one GPU (issue #21): a one-rank communicator through the module's entry points
// (core/nccl/nccl_module.hpp): init, a send/recv to its own rank, an all-reduce, a second round that
// regrows the staging, each polled to completion, then the clean finalize; and the same through
// make_nccl_exchange (core/nccl_exchange.cpp), whose destructor finalizes. What needs two GPUs is
// tests/test_mpi_gpu.cpp. Skips (exit 77) only where tests/cuda_gate.hpp skips: no GPU on the machine;
// a module that does not load or CUDA that cannot be used on a GPU machine fails, and
// DPOSG_REQUIRE_CUDA=1 fails any skip. Run: ctest --test-dir build -L cuda
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/loadable_module.hpp"
#include "core/nccl/nccl_entry_points.hpp"
#include "core/nccl/nccl_module.hpp"
#include "core/nccl_exchange.hpp"
#include "cuda_gate.hpp"

using dposg::gan::cuda::CudaProbe;

namespace {

constexpr int kMessage = 512;

struct Module : dposg::NcclEntryPoints {
  CudaProbe probe;  // what loading it and counting devices said
};

// Where nccl_exchange.cpp looks too: $DPOSG_NCCL_MODULE, beside the build's dposg (the build tree), beside
// this executable (a device bundle, shared/tools/device-bundle).
const Module& module() {
  static const Module m = [] {
    Module r;
    const std::string build_copy = (std::filesystem::path(DPOSG_CLI).parent_path() / "libdposg_nccl.so").string();
    std::string tried;
    const bool loaded = dposg::load_module(
        "DPOSG_NCCL_MODULE", build_copy.c_str(),
        [&](void* h) { return dposg::bind_nccl(h, r); },
        tried);
    if (!loaded) {
      // No file at any of the places tried: a build without NCCL; a file that does not load: broken.
      std::vector<std::filesystem::path> places = {build_copy};
      if (const char* env = std::getenv("DPOSG_NCCL_MODULE"); env && *env) places.emplace_back(env);
      std::error_code ec;
      const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (!ec) places.push_back(exe.parent_path() / "libdposg_nccl.so");
      bool absent = true;
      for (const auto& p : places) absent = absent && !std::filesystem::exists(p, ec);
      r.probe.status = absent ? CudaProbe::Status::not_built : CudaProbe::Status::module_unloadable;
      r.probe.message = absent ? "this build has no libdposg_nccl.so (NCCL not found at configure time: " + tried + ")"
                               : "cannot load the NCCL module (" + tried + ")";
      return r;
    }
    char message[kMessage] = {};
    const int count = r.device_count(message, kMessage);
    r.probe.devices = count > 0 ? count : 0;
    r.probe.error = count < 0 ? -count : 0;
    r.probe.status = count > 0    ? CudaProbe::Status::ready
                     : count == 0 ? CudaProbe::Status::no_device
                                  : CudaProbe::Status::cuda_error;
    if (count <= 0) r.probe.message = message;
    return r;
  }();
  return m;
}

const dposg::test::Gate& gate() {
  static const dposg::test::Gate g =
      dposg::test::gate_for(module().probe, dposg::test::nvidia_device_nodes(), dposg::test::cuda_required());
  return g;
}

// Polls until the operation completes; a failure or a minute without completion fails the test (one
// rank has no peer to wait for, so anything longer is a hang).
void poll_to_completion(dposg_nccl* c, const char* what) {
  INFO(what);
  char message[kMessage] = {};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    const int state = module().poll(c, message, kMessage);
    if (state == 1) return;
    if (state < 0) FAIL("dposg_nccl_poll: " << message);
    if (std::chrono::steady_clock::now() > deadline) FAIL("no completion within 60 s");
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

std::vector<double> ramp(std::size_t n, double start) {
  std::vector<double> v(n);
  for (std::size_t k = 0; k < n; ++k) v[k] = start + 0.25 * static_cast<double>(k);
  return v;
}

}  // namespace

TEST_CASE("nccl one gpu: the module's one-rank communicator sends to itself, all-reduces and finalizes", "[cuda][nccl]") {
  DPOSG_GATE(gate());
  const Module& m = module();
  char message[kMessage] = {};
  std::vector<char> id(static_cast<std::size_t>(m.id_bytes()));
  REQUIRE(m.unique_id(id.data(), message, kMessage) == 1);
  dposg_nccl* c = m.init(0, 1, 0, id.data(), message, kMessage);
  INFO(message);
  REQUIRE(c != nullptr);
  poll_to_completion(c, "init");
  // Two rounds, the second larger, so that the staging buffers grow between them.
  for (std::size_t n : {std::size_t{37}, std::size_t{5000}}) {
    INFO("round of " << n << " doubles");
    // Two messages to itself of different sizes: received in order, each into its own buffer.
    const std::vector<double> a = ramp(n, 1.0), b = ramp(n / 2 + 1, -3.0);
    std::vector<double> ra(a.size(), 0.0), rb(b.size(), 0.0);
    const int peers[2] = {0, 0};
    const double* out[2] = {a.data(), b.data()};
    double* in[2] = {ra.data(), rb.data()};
    const std::size_t counts[2] = {a.size(), b.size()};
    REQUIRE(m.exchange_start(c, 2, peers, out, counts, 2, peers, in, counts, message, kMessage) == 1);
    poll_to_completion(c, "send/recv to its own rank");
    CHECK(ra == a);
    CHECK(rb == b);
    // The sum over one rank is the vector itself, to the bit.
    std::vector<double> v = ramp(n, 0.5);
    const std::vector<double> before = v;
    REQUIRE(m.allreduce_start(c, v.data(), v.size(), message, kMessage) == 1);
    poll_to_completion(c, "all-reduce");
    CHECK(v == before);
  }
  REQUIRE(m.finalize_start(c, message, kMessage) == 1);
  poll_to_completion(c, "finalize");
  m.destroy(c);  // ncclCommDestroy after the completed finalize
}

TEST_CASE("nccl one gpu: make_nccl_exchange with one rank moves columns and sums, then finalizes", "[cuda][nccl]") {
  DPOSG_GATE(gate());
  std::string why;
  INFO(why);
  REQUIRE(dposg::nccl_usable(0, &why));
  CHECK_FALSE(dposg::nccl_device_bus_id(0).empty());
  int broadcasts = 0;
  auto exchange = dposg::make_nccl_exchange(
      0, 1, 0, [&](void*, std::size_t) { ++broadcasts; }, [] { return false; });
  CHECK(broadcasts == 1);
  CHECK(std::string(exchange->name()) == "nccl");
  const std::vector<double> col = ramp(129, 2.0);
  std::vector<double> got(col.size(), 0.0);
  const dposg::OutMessage out[1] = {{0, col.data(), col.size()}};
  const dposg::InMessage in[1] = {{0, got.data(), got.size()}};
  exchange->exchange(out, in);
  CHECK(got == col);
  std::vector<double> v = ramp(64, -1.0);
  const std::vector<double> before = v;
  exchange->allreduce_sum(v.data(), v.size());
  CHECK(v == before);
  exchange.reset();  // the finalize: a one-rank communicator completes it at once
}

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
  return dposg::test::finish(failed, gate());
}
