// ctest-label: mpi
// Checkpoints of MPI runs (`mpirun -np P dposg run --backend mpi --checkpoint-every K`): one file
// per rank, each keeping its previous checkpoint. A run that failed on one rank (an error or a
// crash) continues under `mpirun -np P dposg resume FILE` from the last iteration every rank has
// a checkpoint of, and writes, bit for bit, the metrics and final/ data of the same MPI run left
// alone (the independent reference: the same options, never interrupted).
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "mpi_harness.hpp"
#include "run_attrs.hpp"
#include "run_compare.hpp"
#include "core/recorder.hpp"

namespace fs = std::filesystem;
using dposg::test::CliResult;
using dposg::test::run_mpi;
using dposg::test::TempDir;

#ifdef DPOSG_MPIEXEC

namespace {

constexpr int kFailAt = 777, kEvery = 100;

std::int64_t attr_int(const std::string& path, const std::string& run, const std::string& name) {
  for (const auto& [k, v] : dposg::ResultsReader::open(path)->summary(run).attrs)
    if (k == name && std::holds_alternative<std::int64_t>(v)) return std::get<std::int64_t>(v);
  return -1;
}

std::string status_of(const std::string& path) { return dposg::ResultsReader::open(path)->summary("r").status; }

// `options` over `ranks` ranks into full.h5, and into part.h5 with checkpoints every kEvery
// iterations and rank `failing` failing (`mode`: throw | abort) at iteration kFailAt.
void run_and_fail(const TempDir& dir, int ranks, const std::string& options, int failing, const std::string& mode) {
  const std::string run = "run --backend mpi " + options + " --iters 1500 --log-every 50 --run-name r --quiet --threads 1";
  const CliResult full = run_mpi(ranks, run + " --out full.h5", dir);
  INFO(full.err);
  REQUIRE(full.code == 0);
  const CliResult part = run_mpi(ranks, run + " --out part.h5 --checkpoint-every " + std::to_string(kEvery), dir,
                                 "-x DPOSG_TEST_ABORT_RANK=" + std::to_string(failing) + " -x DPOSG_TEST_ABORT_ITER=" +
                                     std::to_string(kFailAt) + " -x DPOSG_TEST_ABORT_MODE=" + mode);
  INFO(part.err);
  REQUIRE(part.code != 0);
  REQUIRE(status_of(dir / "part.h5") == "failed");
  for (int r = 0; r < ranks; ++r) REQUIRE(fs::exists(dir / ("part.h5.checkpoints/r.rank" + std::to_string(r) + ".ckpt")));
}

void resume_and_compare(const TempDir& dir, int ranks, std::int64_t expected_at) {
  const CliResult resumed = run_mpi(ranks, "resume part.h5 --quiet", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(status_of(dir / "part.h5") == "finished");
  CHECK(attr_int(dir / "part.h5", "r", "resumed_at_iteration") == expected_at);
  dposg::test::require_identical(dir / "full.h5", dir / "part.h5", "r");
  CHECK_FALSE(fs::exists(dir / "part.h5.checkpoints"));  // a finished run's checkpoints are gone
}

}  // namespace

TEST_CASE("mpi resume: a run failed on one rank continues from its last checkpoint, bit for bit", "[mpi][resume]") {
  const std::string star = "--problem star --noise 0.5 ";
  struct Case {
    const char* what;
    std::string options;
  };
  const std::vector<Case> cases = {
      {"osg on a ring", star},
      {"oadam on random rings", star + "--step-rule oadam --topology random-ring"},
      {"gt-gda", star + "--algorithm gt-gda"},
      {"CHOCO top-k", star + "--compressor top-k --compress-ratio 0.25 --gossip-step 0.3"},
      {"dqgan qsgd with error feedback", star + "--algorithm dqgan --topology complete --compressor qsgd --error-feedback"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      TempDir dir;
      run_and_fail(dir, 2, c.options, 1, "throw");
      resume_and_compare(dir, 2, kFailAt / kEvery * kEvery);
    }
  }
}

TEST_CASE("mpi resume: four ranks, one of them crashed", "[mpi][resume][slow]") {
  TempDir dir;
  run_and_fail(dir, 4, "--problem star --noise 0.5 --topology random-ring", 2, "abort");
  resume_and_compare(dir, 4, kFailAt / kEvery * kEvery);
}

TEST_CASE("mpi resume: ranks one checkpoint apart continue from the one they all have", "[mpi][resume]") {
  // A kill between two ranks' renames of a checkpoint: rank 1's newest file is the one before.
  TempDir dir;
  run_and_fail(dir, 2, "--problem star --noise 0.5", 1, "throw");
  const fs::path newest = dir / "part.h5.checkpoints/r.rank1.ckpt";
  REQUIRE(fs::exists(dir / "part.h5.checkpoints/r.rank1.ckpt.prev"));
  fs::remove(newest);
  resume_and_compare(dir, 2, kFailAt / kEvery * kEvery - kEvery);
}

TEST_CASE("mpi resume: SIGTERM to mpirun checkpoints every rank at one iteration, ends interrupted, resumes bit for bit",
          "[mpi][resume]") {
  // A scheduler's preemption: mpirun gets SIGTERM (here from rank 1 at iteration 5, which then
  // waits for the SIGTERM mpirun passes on to every rank, ~1 s later; SIGKILL follows ~1 s after
  // that). The job stops at that iteration. No --checkpoint-every: the default wall-clock
  // checkpoints alone, which the SIGTERM's last checkpoint joins.
  TempDir dir;
  const std::string run = "run --backend mpi --problem star --noise 0.5 --topology random-ring "
                          "--iters 40 --log-every 5 --run-name r --quiet --threads 1";
  const CliResult full = run_mpi(2, run + " --out full.h5", dir);
  INFO(full.err);
  REQUIRE(full.code == 0);
  const CliResult part = run_mpi(2, run + " --out part.h5", dir,
                                 "-x DPOSG_TEST_ABORT_RANK=1 -x DPOSG_TEST_ABORT_ITER=5 -x DPOSG_TEST_ABORT_MODE=sigterm-mpirun");
  INFO(part.err);
  REQUIRE(part.code != 0);
  const auto s = dposg::ResultsReader::open(dir / "part.h5")->summary("r");
  REQUIRE(s.status == "interrupted");
  for (int r = 0; r < 2; ++r) REQUIRE(fs::exists(dir / ("part.h5.checkpoints/r.rank" + std::to_string(r) + ".ckpt")));
  const CliResult resumed = run_mpi(2, "resume part.h5 --quiet", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(status_of(dir / "part.h5") == "finished");
  const std::int64_t at = attr_int(dir / "part.h5", "r", "resumed_at_iteration");
  CHECK(at == 5);
  dposg::test::require_identical(dir / "full.h5", dir / "part.h5", "r");
}

TEST_CASE("mpi resume: another number of ranks is refused in one line", "[mpi][resume]") {
  TempDir dir;
  run_and_fail(dir, 2, "--problem star --noise 0.5", 1, "throw");
  const CliResult alone = dposg::test::run_cli("resume part.h5 --quiet", dir);
  CHECK(alone.code == 2);
  CHECK(alone.err.find("checkpointed over 2 MPI ranks: continue it with mpirun -np 2 dposg resume") != std::string::npos);
  const CliResult four = run_mpi(4, "resume part.h5 --quiet", dir);
  CHECK(four.code == 2);
  CHECK(four.err.find("checkpointed over 2 MPI ranks") != std::string::npos);
  CHECK(status_of(dir / "part.h5") == "failed");  // untouched
}

#else

TEST_CASE("mpi resume: not built", "[mpi][resume]") { WARN("this build has no MPI (DPOSG_HAVE_MPI off): nothing to test"); }

#endif
