// ctest-label: mpi
// open_exchange's agreement on NCCL (nccl_refusal, core/mpi_backend.hpp; issue #21 item 4) without
// GPUs: three ranks under mpirun, each told what its own nccl_usable found, must all take part in
// the same collectives and all reach the same verdict. Before the fix a rank that found NCCL unusable
// skipped the host's MPI_Allgather and met the others' with its MPI_Allreduce: the job hung or
// aborted instead of --exchange auto choosing MPI on every rank (and nccl being refused on every rank).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "cli_harness.hpp"
#include "core/mpi_backend.hpp"

using dposg::test::slurp;
using dposg::test::TempDir;

namespace {

// Whether `list` (comma-separated ranks, from the environment) holds `rank`.
bool listed(const char* list, int rank) {
  if (!list) return false;
  std::stringstream s(list);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty() && std::stoi(item) == rank) return true;
  return false;
}

}  // namespace

// One rank of the job started by the cases below (hidden: it needs mpirun). NCCL_TEST_UNUSABLE: the
// ranks whose nccl_usable says no; NCCL_TEST_SHARED: the ranks that report one and the same GPU.
TEST_CASE("mpi nccl agreement: one rank", "[.nccl-agreement-rank]") {
  dposg::MpiSession session(nullptr, nullptr);
  const int r = session.rank();
  const bool usable = !listed(std::getenv("NCCL_TEST_UNUSABLE"), r);
  const std::string why = usable ? "" : "no NCCL module on rank " + std::to_string(r);
  const std::string bus = !usable ? "" : listed(std::getenv("NCCL_TEST_SHARED"), r)
                                             ? "0000:3b:00.0"
                                             : "0000:" + std::to_string(10 + r) + ":00.0";
  const std::string refusal = dposg::nccl_refusal(session, usable, why, bus);
  std::ofstream(std::string(std::getenv("NCCL_TEST_DIR")) + "/rank" + std::to_string(r) + ".txt") << refusal;
}

namespace {

// Runs the hidden case on 3 ranks; returns every rank's refusal (they must be one text).
std::string agreed_refusal(const std::string& unusable, const std::string& shared) {
  TempDir dir;
  const std::string cmd = "timeout 60 " + std::string(DPOSG_MPIEXEC) +
                          " --allow-run-as-root --oversubscribe -np 3 -x NCCL_TEST_DIR=" + dir.path.string() +
                          " -x NCCL_TEST_UNUSABLE=" + unusable + " -x NCCL_TEST_SHARED=" + shared +
                          " /proc/" + std::to_string(::getpid()) + "/exe '[.nccl-agreement-rank]' >'" +
                          (dir / "out.txt") + "' 2>&1 </dev/null";
  const int status = std::system(cmd.c_str());
  INFO(slurp(dir / "out.txt"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);  // 124: the ranks hung in mismatched collectives
  std::set<std::string> texts;
  for (int r = 0; r < 3; ++r) texts.insert(slurp(dir / ("rank" + std::to_string(r) + ".txt")));
  REQUIRE(texts.size() == 1);
  return *texts.begin();
}

}  // namespace

TEST_CASE("mpi nccl agreement: every rank usable, on GPUs of its own: NCCL on all", "[mpi][nccl]") {
  CHECK(agreed_refusal("", "").empty());
}

TEST_CASE("mpi nccl agreement: one rank unusable among usable ones: refused on all, with its reason", "[mpi][nccl]") {
  // auto then takes MPI on every rank and nccl is an InputError on every rank (open_exchange).
  CHECK(agreed_refusal("1", "") == "no NCCL module on rank 1 (rank 1)");
  CHECK(agreed_refusal("2", "") == "no NCCL module on rank 2 (rank 2)");
}

TEST_CASE("mpi nccl agreement: two usable ranks on one GPU are refused beside an unusable one", "[mpi][nccl]") {
  const std::string shared = agreed_refusal("", "0,2");
  CHECK(shared.find("ranks on one host share the GPU at PCI 0000:3b:00.0") == 0);
  CHECK(shared.find("(rank 0)") != std::string::npos);
  // The unusable rank 1 between them does not break the gather, and rank 0 comes first.
  const std::string mixed = agreed_refusal("1", "0,2");
  CHECK(mixed.find("ranks on one host share the GPU at PCI 0000:3b:00.0") == 0);
  CHECK(agreed_refusal("0", "1,2").find("no NCCL module on rank 0 (rank 0)") == 0);
}
