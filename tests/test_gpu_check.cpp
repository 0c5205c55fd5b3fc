// scripts/gpu-check.sh on a CPU, with a fake runner (issue #21): a device bundle of stub test
// binaries and bench_gan, and stub nvidia-smi, ldd, compute-sanitizer and python3 on PATH, so that
// the script's logic (the order of its steps, the summary table, stopping at the first failure with
// the failing command, a skip counting as a failure, a missing tool as "not available") is known to
// work before the first GPU run.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "cli_harness.hpp"

using dposg::test::slurp;
using dposg::test::TempDir;

namespace {

void write_executable(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0755);
}

// Every stub logs its name and arguments, and whether DPOSG_REQUIRE_CUDA reached it. FAKE_FAIL,
// FAKE_SKIP and FAKE_HANG name the stubs that fail, exit 77 or hang.
const char* kStub = R"STUB(#!/bin/sh
name=$(basename "$0")
echo "$name DPOSG_REQUIRE_CUDA=$DPOSG_REQUIRE_CUDA" >>"$FAKE_DIR/env.log"
case " $FAKE_FAIL " in *" $name "*) echo "$name: 3 assertions failed"; exit 1;; esac
case " $FAKE_SKIP " in *" $name "*) echo "SKIPPED: no CUDA device"; exit 77;; esac
case " $FAKE_HANG " in *" $name "*) sleep 30;; esac
case "$name" in
  bench_gan)
    if [ "$*" = "--engine" ]; then
      if [ -n "$FAKE_NO_ENGINE" ]; then echo "bench_gan: unknown option --engine" >&2
      else echo "bench_gan: --engine: missing value" >&2; fi
      exit 2
    fi
    case "$*" in *"--engine host"*) echo "steps_per_s 50.00";; *) echo "steps_per_s 200.00";; esac;;
  python3) echo "steps_per_s 100.00";;
  nvidia-smi)
    case "$*" in *--query-gpu*) echo "NVIDIA H200, 570.86.15, 143771 MiB";;
                 *) echo "| NVIDIA-SMI 570.86.15    Driver Version: 570.86.15    CUDA Version: 13.0 |";; esac;;
  ldd)
    echo "	libcudart.so.13 => /usr/local/cuda/lib64/libcudart.so.13 (0x1)"
    case " $FAKE_LDD_MISSING " in *" $(basename "$1") "*) echo "	libcublas.so.13 => not found";; esac;;
  test_mpi_gpu) echo "SKIPPED: two GPUs: NCCL exchange: needs two CUDA devices, this machine has 1";;
  compute-sanitizer)
    shift 4  # --tool T --error-exitcode 1
    "$@" || exit 1
    echo "========= ERROR SUMMARY: 0 errors";;
  *) echo "All tests passed";;
esac
)STUB";

struct Fake {
  TempDir dir;
  std::filesystem::path bundle = dir.path / "bundle", out = dir.path / "out", stubs = dir.path / "stubs",
                        cuda = dir.path / "cuda";
  Fake() {
    for (const char* name : {"test_gan_cuda", "test_nccl_one_gpu", "test_mpi_gpu", "bench_gan"})
      write_executable(bundle / "bin" / name, kStub);
    write_executable(bundle / "bin" / "libdposg_gan_cuda.so", "");
    write_executable(bundle / "bin" / "libdposg_nccl.so", "");
    std::filesystem::create_directories(bundle / "lib");
    for (const char* name : {"nvidia-smi", "ldd", "python3", "mpiexec"}) write_executable(stubs / name, kStub);
    write_executable(cuda / "bin" / "compute-sanitizer", kStub);
    // The runner: every command the script starts, logged, then run.
    write_executable(dir.path / "runner", "#!/bin/sh\necho \"$*\" >>\"$FAKE_DIR/runner.log\"\nexec \"$@\"\n");
  }
};

struct Check {
  int code;
  std::string out, summary, runner_log, env_log;
};

// Runs the script from the source tree with `env` (NAME=VALUE ...) on top of the fakes.
Check run_check(const Fake& f, const std::string& env = "") {
  const std::string log = f.dir / "gpu-check.txt";
  const std::string cmd = "cd '" + std::string(DPOSG_SOURCE_DIR) + "' && env PATH='" + f.stubs.string() +
                          ":/usr/bin:/bin' FAKE_DIR='" + f.dir.path.string() + "' CUDA_HOME='" + f.cuda.string() +
                          "' GPU_CHECK_RUNNER='" + (f.dir / "runner") + "' GPU_CHECK_MPIEXEC='" +
                          (f.stubs / "mpiexec").string() + "' OUT= " + env + " bash scripts/gpu-check.sh '" +
                          f.bundle.string() + "' '" + f.out.string() + "' >'" + log + "' 2>&1 </dev/null";
  const int status = std::system(cmd.c_str());
  Check c;
  c.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  c.out = slurp(log);
  c.summary = slurp((f.out / "gpu-check-summary.md").string());
  c.runner_log = slurp(f.dir / "runner.log");
  c.env_log = slurp(f.dir / "env.log");
  if (std::getenv("GPU_CHECK_TEST_SHOW")) std::cout << "---- " << env << "\n" << c.out;  // to read the script's output
  return c;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("gpu-check: a passing run writes the summary table of every step and the benchmarks", "[gpu-check]") {
  Fake f;
  const Check c = run_check(f);
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(has(c.summary, "**PASSED**"));
  CHECK(has(c.summary, "NVIDIA H200, 570.86.15, 143771 MiB"));
  CHECK(has(c.out, "Driver Version: 570.86.15"));  // nvidia-smi's own table is printed
  for (const char* step : {"| libraries of libdposg_gan_cuda.so | ok |", "| libraries of libdposg_nccl.so | ok |",
                           "| test_gan_cuda | ok |", "| compute-sanitizer memcheck | ok |",
                           "| compute-sanitizer initcheck | ok |", "| compute-sanitizer racecheck | ok |",
                           "| test_nccl_one_gpu | ok |", "| test_mpi_gpu | ok |"})
    CHECK(has(c.summary, step));
  // The two-GPU case a one-GPU machine cannot run shows in the table.
  CHECK(has(c.summary, "SKIPPED: two GPUs"));
  // M = 1, 8, 64: host engine, resident engine, torch, resident / torch.
  for (const char* M : {"| 1 |", "| 8 |", "| 64 |"}) CHECK(has(c.summary, std::string(M) + " 50.00 | 200.00 | 100.00 | 2.00 |"));
  // Every command went through the runner, the tests with DPOSG_REQUIRE_CUDA=1.
  for (const char* command : {"nvidia-smi", "ldd ", "/bin/test_gan_cuda", "compute-sanitizer --tool racecheck",
                              "/bin/test_nccl_one_gpu", "/bin/test_mpi_gpu", "bench_gan --device cuda --engine resident",
                              "python3 ", "bench/gan_torch.py --device cuda --dtype float32 --workers 64"})
    CHECK(has(c.runner_log, command));
  CHECK(has(c.env_log, "test_gan_cuda DPOSG_REQUIRE_CUDA=1"));
  CHECK_FALSE(has(c.env_log, "DPOSG_REQUIRE_CUDA=\n"));
  CHECK(std::filesystem::exists(f.out / "logs"));
}

TEST_CASE("gpu-check: it stops at the first failure, prints the command and exits non-zero", "[gpu-check]") {
  Fake f;
  const Check c = run_check(f, "FAKE_FAIL=test_nccl_one_gpu");
  INFO(c.out);
  CHECK(c.code == 1);
  CHECK(has(c.out, "gpu-check: FAILED at 'test_nccl_one_gpu': exit 1"));
  CHECK(has(c.out, "gpu-check: the command that failed: " + (f.bundle / "bin" / "test_nccl_one_gpu").string()));
  CHECK(has(c.out, "test_nccl_one_gpu: 3 assertions failed"));  // the tail of its log
  CHECK(has(c.summary, "| test_nccl_one_gpu | **FAILED** |"));
  CHECK(has(c.summary, "| compute-sanitizer racecheck | ok |"));  // what ran before it
  CHECK_FALSE(has(c.runner_log, "bench_gan --device"));           // nothing after it
  CHECK_FALSE(has(c.runner_log, "test_mpi_gpu"));
}

TEST_CASE("gpu-check: a CUDA test that skips (exit 77) is a failure", "[gpu-check]") {
  Fake f;
  const Check c = run_check(f, "FAKE_SKIP=test_gan_cuda");
  INFO(c.out);
  CHECK(c.code == 1);
  CHECK(has(c.out, "FAILED at 'test_gan_cuda': exit 77: the test skipped, a failure under DPOSG_REQUIRE_CUDA=1"));
  CHECK_FALSE(has(c.runner_log, "compute-sanitizer"));
}

TEST_CASE("gpu-check: no compute-sanitizer or mpiexec is 'not available', not a failure", "[gpu-check]") {
  Fake f;
  std::filesystem::remove(f.cuda / "bin" / "compute-sanitizer");
  const Check c = run_check(f, "GPU_CHECK_MPIEXEC=/nonexistent/mpiexec");
  INFO(c.out);
  REQUIRE(c.code == 0);
  for (const char* tool : {"memcheck", "initcheck", "racecheck"})
    CHECK(has(c.summary, std::string("| compute-sanitizer ") + tool + " | not available |"));
  CHECK(has(c.summary, "| test_mpi_gpu | not available |"));
  CHECK(has(c.summary, "**PASSED**"));
}

TEST_CASE("gpu-check: an unresolved library, a timeout and a bench_gan without --engine", "[gpu-check]") {
  Fake f;
  SECTION("ldd says 'not found': stop before any test runs") {
    const Check c = run_check(f, "FAKE_LDD_MISSING=libdposg_gan_cuda.so");
    INFO(c.out);
    CHECK(c.code == 1);
    CHECK(has(c.out, "FAILED at 'libraries of libdposg_gan_cuda.so': unresolved: libcublas.so.13"));
    CHECK_FALSE(has(c.runner_log, "/bin/test_gan_cuda"));
  }
  SECTION("a hanging test is cut at its timeout") {
    const Check c = run_check(f, "FAKE_HANG=test_gan_cuda GPU_CHECK_TEST_TIMEOUT_S=1");
    INFO(c.out);
    CHECK(c.code == 1);
    CHECK(has(c.out, "FAILED at 'test_gan_cuda': timed out after 1 s"));
  }
  SECTION("the shared budget cuts a step's own timeout, so the whole check ends in time") {
    const auto start = std::chrono::steady_clock::now();
    const Check c = run_check(f, "FAKE_HANG=test_gan_cuda GPU_CHECK_BUDGET_S=8");
    INFO(c.out);
    CHECK(c.code == 1);
    CHECK(has(c.out, "FAILED at 'test_gan_cuda': timed out after "));
    CHECK_FALSE(has(c.out, "timed out after 120 s"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  }
  SECTION("bench_gan without --engine: the host engine is 'not measured', the resident one still runs") {
    const Check c = run_check(f, "FAKE_NO_ENGINE=1");
    INFO(c.out);
    REQUIRE(c.code == 0);
    CHECK(has(c.summary, "| bench_gan --engine | not available |"));
    CHECK(has(c.summary, "| 64 | not measured | 200.00 | 100.00 | 2.00 |"));
  }
  SECTION("a bundle without the modules stops at once") {
    std::filesystem::remove(f.bundle / "bin" / "libdposg_nccl.so");
    const Check c = run_check(f);
    CHECK(c.code == 1);
    CHECK(has(c.out, "the bundle has no bin/libdposg_nccl.so"));
    CHECK(c.runner_log.empty());
  }
}
