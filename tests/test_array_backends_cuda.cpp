// ctest-label: cuda
// The GPU instantiation of tests/test_array_backends.cpp: every step rule and the mixing on the
// resident engine's device arrays (DeviceArrays over CudaResidentDevice) against the loops of
// tests/array_backend_checks.hpp, state included, at the float tolerance justified there, and their
// checkpoints (continued bit for bit: the kernels use no atomics, and cuBLAS's products give the same
// bits at every run on one GPU, as its documentation promises). Without a
// CUDA device (or without CUDA in the build) every test prints "SKIPPED: no CUDA device" and main
// returns 77, which CTest reports as "Not Run (Skipped)"; any failure returns 1.
#define CATCH_CONFIG_RUNNER
#include "array_backend_checks.hpp"

#include <iostream>
#include <string>

#include "gan/cuda/cuda_gan_operator.hpp"

using dposg::test::check_mixing;
using dposg::test::check_rule;
using dposg::test::Cuda;

namespace {

#define SKIP_WITHOUT_CUDA_DEVICE()                      \
  do {                                                  \
    std::string why_;                                   \
    if (!dposg::gan::cuda::cuda_available(&why_)) {     \
      WARN("SKIPPED: no CUDA device (" << why_ << ")"); \
      return;                                           \
    }                                                   \
  } while (0)

}  // namespace

TEST_CASE("osg on the GPU arrays: the loop of Algorithm 1, g_prev included", "[arrays][osg][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  check_rule<Cuda>("osg");
}

TEST_CASE("oadam on the GPU arrays: the loop, m, v and the direction included", "[arrays][oadam][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  check_rule<Cuda>("oadam");
}

TEST_CASE("extragradient on the GPU arrays: the loop, g included", "[arrays][extragradient][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  check_rule<Cuda>("extragradient");
}

TEST_CASE("gda on the GPU arrays: the loop, g included", "[arrays][gda][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  check_rule<Cuda>("gda");
}

TEST_CASE("mixing on the GPU arrays: x_i = sum_j W_ij x_j per round", "[arrays][mixing][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const char* topology : {"ring", "complete", "random-ring"}) {
    SECTION(topology) { check_mixing<Cuda>(topology); }
  }
}

TEST_CASE("mixing by neighbours on the GPU (the gather kernel, M = 70): x_i = sum_j W_ij x_j", "[arrays][mixing][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const char* topology : {"ring", "random-ring", "one-peer-exponential", "grid", "star"}) {
    SECTION(topology) { check_mixing<Cuda>(topology, 70); }
  }
}

TEST_CASE("checkpoints on the GPU arrays: continued by a fresh engine bit for bit, refused by the host engine",
          "[arrays][checkpoint][cuda]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  SECTION("oadam random-ring") { dposg::test::check_resume<Cuda>("oadam", "random-ring", false); }
  SECTION("osg random-ring overlap") { dposg::test::check_resume<Cuda>("osg", "random-ring", true); }
  SECTION("another arithmetic's checkpoint") { dposg::test::check_arithmetic_refused<Cuda>(); }
}

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
  if (failed != 0) return 1;
  std::string why;
  if (!dposg::gan::cuda::cuda_available(&why)) {
    std::cout << "SKIPPED: no CUDA device (" << why << ")\n";
    return 77;
  }
  return 0;
}
