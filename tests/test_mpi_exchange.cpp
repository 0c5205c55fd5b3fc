// ctest-label: mpi
// `dposg run --exchange auto|mpi|nccl` (MpiMixer's transport, core/exchange.hpp) on a machine without
// a GPU: the choice is validated, auto falls back to MPI and says so in the file, and nccl is a
// one-line input error. The NCCL transport itself runs only on GPUs: tests/test_mpi_gpu.cpp.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "cli_harness.hpp"
#include "core/recorder.hpp"
#include "run_attrs.hpp"
#include "gan/cuda/cuda_gan_operator.hpp"
#ifdef DPOSG_MPIEXEC
#include "mpi_harness.hpp"
#endif

using dposg::test::attr_text;
using dposg::test::CliResult;
using dposg::test::run_cli;
using dposg::test::TempDir;

TEST_CASE("exchange: --exchange is refused with --backend sim, and an unknown value anywhere", "[mpi]") {
  TempDir dir;
  const CliResult sim = run_cli("run --exchange mpi --iters 5 --quiet --out r.h5", dir);
  CHECK(sim.code == 2);
  CHECK(sim.err == "dposg run: --exchange: applies to --backend mpi (the simulator's workers share one process)\n");
  CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
  // Checked before MPI starts, so no mpirun is needed to see it.
  const CliResult bad = run_cli("run --backend mpi --exchange gloo --quiet --out r.h5", dir);
  CHECK(bad.code == 2);
  CHECK(bad.err == "dposg run: --exchange: expected 'auto', 'mpi' or 'nccl', got 'gloo'\n");
  const CliResult cpu = run_cli("run --backend mpi --exchange nccl --quiet --out r.h5", dir);
  CHECK(cpu.code == 2);
  CHECK(cpu.err == "dposg run: --exchange: 'nccl' needs --device cuda (NCCL moves data between GPUs)\n");
  CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
}

TEST_CASE("exchange: a run in one process records exchange 'none'", "[mpi]") {
  TempDir dir;
  REQUIRE(run_cli("run --iters 5 --quiet --run-name r --out r.h5", dir).code == 0);
  CHECK(attr_text(dposg::ResultsReader::open(dir / "r.h5")->summary("r"), "exchange") == "none");
}

#ifdef DPOSG_MPIEXEC

using dposg::test::run_mpi;

TEST_CASE("exchange: auto on CPU ranks is MPI and changes no number", "[mpi]") {
  TempDir dir;
  const std::string common = " --problem star --workers 4 --topology ring --rounds 2 --iters 20 --log-every 5"
                             " --noise 0.3 --init random --init-spread 1 --seed 3 --quiet --out r.h5";
  for (const std::string exchange : {"auto", "mpi"}) {
    const CliResult r = run_mpi(2, "run --backend mpi --exchange " + exchange + " --run-name " + exchange + common, dir);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
  }
  REQUIRE(run_mpi(2, "run --backend mpi --run-name default" + common, dir).code == 0);
  auto f = dposg::ResultsReader::open(dir / "r.h5");
  for (const char* run : {"auto", "mpi", "default"}) {
    INFO(run);
    const auto s = f->summary(run);
    CHECK(s.status == "finished");
    CHECK(attr_text(s, "exchange") == "mpi");
    for (const char* m : {"grad_norm_sq", "consensus_error", "bytes_busiest"})
      CHECK(f->metric(run, m) == f->metric("mpi", m));
  }
}

TEST_CASE("exchange: nccl without a GPU is one line naming --exchange, exit code 2, no file", "[mpi]") {
  std::string why;
  if (dposg::gan::cuda::cuda_available(&why)) {
    WARN("SKIPPED: this machine has a CUDA device; tests/test_mpi_gpu.cpp covers --exchange nccl there");
    return;
  }
  TempDir dir;
  const CliResult r = run_mpi(2, "run --backend mpi --problem gan-mog8 --gan-width 8 --device cuda --exchange nccl"
                                 " --workers 2 --iters 2 --quiet --out r.h5", dir);
  INFO(r.out << r.err);
  CHECK(r.code == 2);
  // One line per rank, each naming the option (the ranks agree on the reason's first rank).
  CHECK(r.err.find("dposg run: --exchange: 'nccl' cannot be used: ") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
  // auto on the same run falls back to MPI, and the missing device is then --device's error.
  const CliResult a = run_mpi(2, "run --backend mpi --problem gan-mog8 --gan-width 8 --device cuda --exchange auto"
                                 " --workers 2 --iters 2 --quiet --out r.h5", dir);
  CHECK(a.code == 2);
  CHECK(a.err.find("dposg run: --device cuda: ") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
}

#endif
