// ctest-label: cuda
// GPU ranks (`mpirun -np 2 dposg run --backend mpi --device cuda`, README "GPU ranks"): each rank's GAN
// operator on its own GPU and the gossip through NCCL (--exchange nccl) equal the in-process --device
// cuda run to float tolerance, and equal the same ranks with --exchange mpi to the bit (both move the
// same doubles; with P = 2 even the complete topology's sum has one order). Two ranks on one GPU:
// auto picks MPI (host staging), and nccl is refused. One rank on one GPU: --exchange nccl (a one-rank
// communicator, the complete topology's all-reduce) equals the in-process run. Needs mpirun and a GPU:
// main returns 77 (CTest: "Not Run (Skipped)") only where tests/cuda_gate.hpp skips, and fails on any
// other reason CUDA cannot be used; the two-GPU case on a one-GPU machine is listed as "SKIPPED: <case>:
// <why>" in the output of a run that otherwise passes. Run: ctest --test-dir build -L cuda
#define CATCH_CONFIG_RUNNER

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_harness.hpp"
#include "cuda_gate.hpp"
#include "core/recorder.hpp"
#include "core/types.hpp"
#include "run_attrs.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#ifdef DPOSG_MPIEXEC
#include "mpi_harness.hpp"
#endif

using dposg::test::attr_text;
using dposg::test::CliResult;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

int devices() { return dposg::gan::cuda::probe_cuda().devices; }

#ifdef DPOSG_MPIEXEC

using dposg::test::final_z_bar;
using dposg::test::run_mpi;

const std::string kGan = " --problem gan-mog8 --gan-width 32 --device cuda --workers 4 --rounds 1 --step-rule oadam"
                         " --lr 1e-3 --iters 20 --log-every 5 --batch 32 --eval-batch 256 --init problem --seed 4"
                         " --quiet --out r.h5";

// Runs `run_name` in one process and under mpirun with `mpi_options`; the float32 operator may round
// differently with other batch shapes, hence the tolerance of test_gan_cuda.cpp's run comparison.
void check_close_to_in_process(const TempDir& dir, const std::string& topology, const std::string& mpi_run,
                               const std::string& env, const std::string& expected_exchange, int ranks = 2) {
  const std::string sim_run = "sim-" + topology;
  REQUIRE(run_cli("run --topology " + topology + " --run-name " + sim_run + kGan, dir).code == 0);
  const CliResult r = run_mpi(ranks, "run --backend mpi --topology " + topology + " --run-name " + mpi_run + kGan, dir, env);
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto f = dposg::ResultsReader::open(dir / "r.h5");
  CHECK(attr_text(f->summary(mpi_run), "exchange") == expected_exchange);
  for (const char* m : {"loss_g", "loss_d", "grad_norm_sq"}) {
    const auto a = f->metric(sim_run, m), b = f->metric(mpi_run, m);
    REQUIRE(a.size() == b.size());
    INFO(m << ": in-process " << a.back() << ", mpi " << b.back());
    CHECK(std::abs(a.back() - b.back()) <= 1e-3 * std::abs(a.back()) + 1e-6);
  }
  f.reset();
  const dposg::Vector za = final_z_bar(dir / "r.h5", sim_run), zb = final_z_bar(dir / "r.h5", mpi_run);
  CHECK((za - zb).norm() <= 1e-4 * za.norm());
}

#endif

}  // namespace

#ifdef DPOSG_MPIEXEC

TEST_CASE("gpu ranks: NCCL exchange equals the in-process run, and MPI exchange to the bit", "[cuda][mpi]") {
  DPOSG_CUDA_GATE();
  if (devices() < 2) {
    const std::string why = "--exchange nccl between two ranks needs two CUDA devices, this machine has " +
                            std::to_string(devices());
    WARN("SKIPPED: " << why);
    dposg::test::note_skip("two GPUs: NCCL exchange (ring, complete) against in-process and MPI", why);
    return;
  }
  TempDir dir;
  for (const std::string topology : {"ring", "complete"}) {
    INFO(topology);
    const std::string nccl = "nccl-" + topology, mpi = "mpi-" + topology;
    check_close_to_in_process(dir, topology, nccl, "", "nccl");
    const CliResult r = run_mpi(2, "run --backend mpi --exchange mpi --topology " + topology + " --run-name " + mpi + kGan,
                                dir);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto f = dposg::ResultsReader::open(dir / "r.h5");
    CHECK(attr_text(f->summary(nccl), "cuda_devices") == "[0, 1]");
    for (const auto& m : f->summary(nccl).metric_names) {
      if (m.ends_with("_time_s")) continue;
      INFO(m);
      CHECK(f->metric(nccl, m) == f->metric(mpi, m));
    }
    f.reset();
    CHECK(final_z_bar(dir / "r.h5", nccl) == final_z_bar(dir / "r.h5", mpi));
  }
}

TEST_CASE("gpu ranks: two ranks on one GPU stage through the host (auto picks MPI; nccl is refused)", "[cuda][mpi]") {
  DPOSG_CUDA_GATE();
  TempDir dir;
  // One visible device, so that both ranks land on it whatever the machine has.
  const std::string one = "-x CUDA_VISIBLE_DEVICES=0";
  check_close_to_in_process(dir, "ring", "shared", one, "mpi");
  const CliResult r = run_mpi(2, "run --backend mpi --exchange nccl --run-name refused" + kGan, dir, one);
  CHECK(r.code == 2);
  CHECK(r.err.find("--exchange: 'nccl' cannot be used: ranks on one host share the GPU at PCI ") != std::string::npos);
}

TEST_CASE("gpu ranks: one rank on one GPU with --exchange nccl (complete: a one-rank all-reduce)", "[cuda][mpi]") {
  // What a one-GPU machine can say about the NCCL transport end to end; the module's entry points
  // alone are tests/test_nccl_one_gpu.cpp.
  DPOSG_CUDA_GATE();
  TempDir dir;
  check_close_to_in_process(dir, "complete", "nccl-one", "", "nccl", 1);
  auto f = dposg::ResultsReader::open(dir / "r.h5");
  CHECK(attr_text(f->summary("nccl-one"), "cuda_devices") == "[0]");
}

#endif

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
#ifndef DPOSG_MPIEXEC
  return dposg::test::finish(
      failed, dposg::test::skip_unless_required("this build has no MPI (mpirun)", dposg::test::cuda_required()));
#else
  return dposg::test::finish(failed, dposg::test::cuda_gate());
#endif
}
