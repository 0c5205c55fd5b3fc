// ctest-label: mpi
// Any error on any rank of `mpirun -np P dposg run --backend mpi` ends every rank within seconds,
// with one line saying why and the results file's run marked `failed` where it exists: a rank
// that dies (a crashed node), a rank that throws (an error it alone meets), rank 0 (the writer)
// dying, and bad input that one rank alone sees. Each for P = 2 and 4.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "mpi_harness.hpp"
#include "run_attrs.hpp"
#include "core/recorder.hpp"

using dposg::test::CliResult;
using dposg::test::TempDir;

#ifdef DPOSG_MPIEXEC

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Rank `failing` of `ranks` dies (abort: a crashed node) or throws (an error on that rank alone) at
// iteration `fail_at` of a run that would otherwise go on for hours: the job ends in bounded time
// with a non-zero exit, and the file says `failed` with the rows written before.
void check_failure(int ranks, int failing, const std::string& mode, const std::string& extra = "",
                   int fail_at = 20000) {
  INFO("-np " << ranks << ", rank " << failing << " " << mode << extra);
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  // When rank 0 dies, the rows on disk are those of its last flush: a checkpoint every 1000
  // iterations flushes them, so that some are there whatever the machine's speed.
  const std::string flush = failing == 0 ? " --checkpoint-every 1000" : "";
  const CliResult r = dposg::test::run_mpi(
      ranks, "run --backend mpi --problem star --workers 8 --iters 100000000 --log-every 1000"
             " --quiet --run-name r --out r.h5" + extra + flush, dir,
      "-x DPOSG_TEST_ABORT_RANK=" + std::to_string(failing) + " -x DPOSG_TEST_ABORT_ITER=" + std::to_string(fail_at) +
          " -x DPOSG_TEST_ABORT_MODE=" + mode);
  INFO(r.out << r.err);
  CHECK(r.code != 0);
  CHECK(seconds_since(start) < 100);  // not the harness's 120 s timeout
  const std::string hook = "rank " + std::to_string(failing) + ": run failed: test hook: rank " +
                           std::to_string(failing) + " fails at iteration " + std::to_string(fail_at);
  if (mode == "throw") CHECK(count(r.err, hook) == 1);  // the cause, once, from the rank that met it
  if (failing == 0) {
    // The writer died: a survivor on its host ends the run (one of them, once).
    CHECK(count(r.err, "dposg run: rank 0 died; rank ") == (mode == "abort" ? 1u : 0u));
  } else {
    CHECK(count(r.err, "dposg run: the MPI job was ended") == 1);  // rank 0's line
  }
  auto f = dposg::ResultsReader::open(dir / "r.h5");
  const auto s = f->summary("r");
  CHECK(s.status == "failed");
  const std::string message = std::get<std::string>(dposg::test::run_attr(s, "message"));
  if (failing == 0 && mode == "abort")
    CHECK(message.find("rank 0 of the MPI job died") != std::string::npos);
  else if (failing != 0)
    CHECK(message.find("another rank failed") != std::string::npos);
  // Rows written before the failure are there: iterations 0, 1000, ... before it (rank 0's last
  // flush, at most 0.25 s before it died, may hold fewer).
  CHECK(f->metric("r", "grad_norm_sq").size() >= 1);
  CHECK(f->metric("r", "grad_norm_sq").size() <= static_cast<std::size_t>(fail_at / 1000));
}

}  // namespace

TEST_CASE("mpi failures: a rank that dies ends the job, and the file says failed", "[mpi]") {
  check_failure(2, 1, "abort");
  check_failure(4, 2, "abort");
}

TEST_CASE("mpi failures: a rank that throws ends the job, and the file says failed", "[mpi]") {
  check_failure(2, 1, "throw");
  check_failure(4, 3, "throw");
}

TEST_CASE("mpi failures: rank 0 dying ends the job, and a survivor marks its run failed", "[mpi]") {
  check_failure(2, 0, "abort");
  check_failure(4, 0, "abort");
}

TEST_CASE("mpi failures: rank 0 throwing ends the job with its run failed", "[mpi]") { check_failure(2, 0, "throw"); }

TEST_CASE("mpi failures: a rank that dies while the others exchange on their second thread (overlap)", "[mpi]") {
  // The survivor waits on its exchange thread: the SIGTERM must reach it there and end the run.
  check_failure(2, 1, "abort", " --overlap", 5000);
  check_failure(2, 1, "throw", " --overlap", 5000);
}

TEST_CASE("mpi failures: bad input that one rank alone sees ends the job with that rank's line", "[mpi]") {
  // A data file present for some ranks and not for others (a node without the shared disk): the
  // ranks are given different --problem-file paths (MPMD app contexts).
  TempDir dir;
  {
    std::ofstream svm(dir / "data.svm");
    for (int i = 0; i < 64; ++i) svm << (i % 2 ? "+1" : "-1") << " " << 1 + i % 5 << ":1 " << 6 + i % 3 << ":1\n";
  }
  const std::string run = "run --backend mpi --problem robust-regression --workers 4 --iters 1000000 --quiet --out r.h5 "
                          "--problem-file ";
  for (int ranks : {2, 4}) {
    for (int lone : {0, ranks - 1}) {
      INFO("-np " << ranks << ", rank " << lone << " without the file");
      std::vector<std::pair<int, std::string>> apps;
      if (lone > 0) apps.emplace_back(lone, run + "data.svm");
      apps.emplace_back(1, run + "missing.svm");
      if (lone < ranks - 1) apps.emplace_back(ranks - 1 - lone, run + "data.svm");
      const auto start = std::chrono::steady_clock::now();
      const CliResult r = dposg::test::run_mpi_apps(apps, dir);
      INFO(r.out << r.err);
      CHECK(r.code == 2);
      CHECK(seconds_since(start) < 60);
      CHECK(count(r.err, "dposg run: rank " + std::to_string(lone) + ": --problem-file:") == 1);
      CHECK(r.err.find("missing.svm") != std::string::npos);
      CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));  // bad input leaves nothing on disk
    }
  }
}

TEST_CASE("mpi failures: bad input that every rank sees is one line from rank 0 and exit 2", "[mpi]") {
  TempDir dir;
  for (int ranks : {2, 4}) {
    const CliResult r = dposg::test::run_mpi(ranks, "run --backend mpi --problem-file missing.svm --problem robust-regression"
                                                    " --workers 4 --quiet --out r.h5", dir);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(count(r.err, "--problem-file:") == 1);
    CHECK(r.err.find("rank ") == std::string::npos);  // not one rank's finding: nobody is singled out
    CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
  }
}

TEST_CASE("mpi failures: a bad --out under -np 4", "[mpi]") {
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = dposg::test::run_mpi(4, "run --backend mpi --iters 50 --out /nonexistent/x.h5", dir);
  INFO(r.err);
  CHECK(r.code != 0);
  CHECK(seconds_since(start) < 60);
  CHECK(count(r.err, "dposg run: --out:") == 1);
}

#else

TEST_CASE("mpi failures: not built", "[mpi]") { WARN("this build has no MPI (DPOSG_HAVE_MPI off): nothing to test"); }

#endif
