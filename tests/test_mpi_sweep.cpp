// ctest-label: mpi
// Sweeps across ranks and shards (issue #19): `mpirun -np 3 dposg sweep` (dynamic assignment, rank
// files merged into --out) and `--shard i/n` + `dposg merge` give the single-process sweep's file;
// a rank killed mid-sweep loses no finished run and duplicates none when the sweep is run again.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "cli_harness.hpp"
#include "core/recorder.hpp"
#include "mpi_harness.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;
namespace fs = std::filesystem;

namespace {

bool timing(const std::string& name) { return name.size() >= 6 && name.compare(name.size() - 6, 6, "time_s") == 0; }

// Both files hold the same runs with the same attributes and metrics (times left out, and the
// attributes in `ignore`).
void check_same_runs(const std::string& a_path, const std::string& b_path, const std::set<std::string>& ignore = {}) {
  auto a = ResultsReader::open(a_path), b = ResultsReader::open(b_path);
  REQUIRE(a->runs() == b->runs());
  for (const auto& run : a->runs()) {
    INFO(run);
    const RunSummary sa = a->summary(run), sb = b->summary(run);
    CHECK(sa.status == "finished");
    CHECK(sa.status == sb.status);
    CHECK(sa.metric_names == sb.metric_names);
    CHECK(sa.rows == sb.rows);
    std::map<std::string, AttrValue> attrs_b(sb.attrs.begin(), sb.attrs.end());
    auto counted = [&](const RunSummary& r) {
      return std::count_if(r.attrs.begin(), r.attrs.end(), [&](const auto& kv) { return !ignore.count(kv.first); });
    };
    CHECK(counted(sa) == counted(sb));
    for (const auto& [k, v] : sa.attrs)
      if (!timing(k) && !ignore.count(k)) {
        INFO(k);
        CHECK((attrs_b.count(k) && attrs_b[k] == v));
      }
    for (const auto& m : sa.metric_names)
      if (!timing(m)) {
        INFO(m);
        CHECK(a->metric(run, m) == b->metric(run, m));
      }
  }
}

// The finished runs in the rank files of k.h5 (perhaps being written: a file caught mid-flush is
// passed over) and their wall_time_s.
std::map<std::string, std::vector<double>> finished_in_rank_files(const TempDir& dir) {
  std::map<std::string, std::vector<double>> walls;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    const std::string part = entry.path().string();
    if (part.find("k.h5.rank") == std::string::npos) continue;
    try {
      auto reader = ResultsReader::open(part);
      for (const auto& run : reader->runs())
        if (reader->summary(run).status == "finished") walls[run] = reader->metric(run, "wall_time_s");
    } catch (const std::exception&) {
    }
  }
  return walls;
}

const std::string kGrid =
    "sweep --grid topology=ring,complete --grid rounds=1,2,3 --seeds 4 --workers 4 --iters 60 --log-every 10 "
    "--threads 1 --quiet";

}  // namespace

#ifdef DPOSG_MPIEXEC
using dposg::test::run_mpi;

namespace {

// `mpirun -np ranks dposg GRID --out k.h5` left running in dir; mpirun.pid holds mpirun's own pid
// (`exec ... &`), whose children are the ranks.
void start_sweep_in_background(const TempDir& dir, int ranks, const std::string& grid) {
  const std::string cmd = "cd '" + dir.path.string() + "' && { exec " + std::string(DPOSG_MPIEXEC) +
                          " --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) + " " + DPOSG_CLI + " " +
                          grid + " --out k.h5 >mpi.out 2>mpi.err </dev/null & echo $! > mpirun.pid; }";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("mpi sweep: 24 runs over 3 ranks give the single-process sweep's file", "[mpi][sweep]") {
  TempDir dir;
  const auto m = run_mpi(3, kGrid + " --out m.h5", dir);
  INFO(m.err);
  REQUIRE(m.code == 0);
  for (const auto& entry : fs::directory_iterator(dir.path))  // the rank files: merged and removed
    CHECK(entry.path().filename().string().find(".rank") == std::string::npos);
  REQUIRE(run_cli(kGrid + " --jobs 1 --out s.h5", dir).code == 0);
  REQUIRE(ResultsReader::open(dir / "m.h5")->runs().size() == 24);
  check_same_runs(dir / "m.h5", dir / "s.h5");
  // Run again: every run is kept (resumed, nothing to do).
  const auto again = run_mpi(3, kGrid + " --out m.h5", dir);
  CHECK(again.code == 0);
  check_same_runs(dir / "m.h5", dir / "s.h5");
}

TEST_CASE("mpi sweep: a rank killed mid-sweep loses no finished run and duplicates none on the rerun", "[mpi][sweep]") {
  TempDir dir;
  const std::string grid =
      "sweep --grid topology=ring,complete --grid rounds=1,2 --seeds 3 --workers 8 --dim 200 --iters 3000 "
      "--log-every 100 --threads 1 --quiet";
  start_sweep_in_background(dir, 3, grid);
  // Wait until some rank file holds a finished run, then SIGKILL one rank.
  std::set<std::string> finished_before;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (finished_before.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const auto& [run, wall] : finished_in_rank_files(dir)) finished_before.insert(run);
  }
  const std::string pid = dposg::test::slurp(dir.path / "mpirun.pid");
  // One rank (a child of this test's mpirun), by its process id.
  const std::string kill = "kill -KILL $(pgrep -P " + pid.substr(0, pid.find('\n')) + " | tail -n 1)";
  if (finished_before.empty() || std::system(kill.c_str()) != 0) {
    std::system(("kill " + pid).c_str());
    WARN("could not kill a rank of the sweep with a finished run on disk (" << finished_before.size()
         << " finished): the fault is not set up");
    return;
  }
  // The job ends (mpirun takes the other ranks down).
  for (int i = 0; i < 300 && std::system(("kill -0 " + pid.substr(0, pid.find('\n')) + " 2>/dev/null").c_str()) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Every rank left its file: a marker of a killed writer (FILE.live) without its FILE means that
  // the file was removed while its rank wrote it.
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    const std::string name = entry.path().filename().string();
    if (name.find("k.h5.rank") != 0 || name.size() < 5 || name.compare(name.size() - 5, 5, ".live") != 0) continue;
    INFO(name);
    CHECK(fs::exists(dir.path / name.substr(0, name.size() - 5)));
  }
  // What the rank files hold now, as recorded before the rerun.
  const std::map<std::string, std::vector<double>> walls = finished_in_rank_files(dir);
  REQUIRE_FALSE(walls.empty());
  if (walls.size() == 12) {
    WARN("every run had finished before the kill: nothing was interrupted, the fault is not set up");
    return;
  }
  const auto rerun = run_mpi(3, grid + " --out k.h5", dir);
  INFO(rerun.err);
  REQUIRE(rerun.code == 0);
  // The killed job's rank files and their writers' markers are merged and removed, as the rerun's.
  for (const auto& entry : fs::directory_iterator(dir.path))
    CHECK(entry.path().filename().string().find(".rank") == std::string::npos);
  auto reader = ResultsReader::open(dir / "k.h5");
  CHECK(reader->runs().size() == 12);
  for (const auto& [run, wall] : walls) {
    INFO(run);
    CHECK(reader->metric(run, "wall_time_s") == wall);  // kept, not run again
  }
  REQUIRE(run_cli(grid + " --jobs 1 --out s.h5", dir).code == 0);
  // The surviving ranks' runs got mpirun's SIGTERM: checkpointed and interrupted, the rerun
  // continued them (resumed_at_iteration), bit for bit.
  check_same_runs(dir / "k.h5", dir / "s.h5", {"resumed_at_iteration"});
}
TEST_CASE("mpi sweep: SIGTERM to mpirun checkpoints the runs in flight, the rerun continues them bit for bit",
          "[mpi][sweep]") {
  TempDir dir;
  const std::string grid =
      "sweep --grid topology=ring,complete --seeds 2 --workers 8 --dim 200 --iters 6000 --log-every 300 "
      "--checkpoint-every 300 --threads 1 --quiet";
  start_sweep_in_background(dir, 2, grid);
  const std::string pid_text = dposg::test::slurp(dir.path / "mpirun.pid");
  const std::string pid = pid_text.substr(0, pid_text.find('\n'));
  // A scheduler's preemption once a run has written a checkpoint: mpirun passes the SIGTERM on to
  // the ranks (~1 s later), whose runs in flight checkpoint and end interrupted.
  auto has_checkpoint = [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir.path / "k.h5.checkpoints", ec)) {
      const std::string n = e.path().filename().string();
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".ckpt") == 0) return true;
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!has_checkpoint() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(std::system(("kill -TERM " + pid).c_str()) == 0);
  for (int i = 0; i < 300 && std::system(("kill -0 " + pid + " 2>/dev/null").c_str()) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The rank files stay, with the interrupted runs.
  std::set<std::string> interrupted;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    const std::string part = entry.path().string();
    if (part.find("k.h5.rank") == std::string::npos || part.find(".live") != std::string::npos) continue;
    auto reader = ResultsReader::open(part);
    for (const auto& run : reader->runs())
      if (reader->summary(run).status == "interrupted") interrupted.insert(run);
  }
  if (interrupted.empty()) {
    WARN("no run was in flight when the SIGTERM reached the ranks: the fault is not set up");
    return;
  }
  const auto rerun = run_mpi(2, grid + " --out k.h5", dir);
  INFO(rerun.err);
  REQUIRE(rerun.code == 0);
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    CHECK(entry.path().filename().string().find(".rank") == std::string::npos);
    CHECK(entry.path().filename().string() != "k.h5.checkpoints");  // finished runs' checkpoints are gone
  }
  auto reader = ResultsReader::open(dir / "k.h5");
  for (const auto& run : interrupted) {
    INFO(run);
    bool resumed = false;
    for (const auto& [k, v] : reader->summary(run).attrs)
      if (k == "resumed_at_iteration") resumed = std::get<std::int64_t>(v) > 0;
    CHECK(resumed);  // continued from its checkpoint, not redone
  }
  REQUIRE(run_cli(grid + " --jobs 2 --out s.h5", dir).code == 0);
  check_same_runs(dir / "k.h5", dir / "s.h5", {"resumed_at_iteration"});
}
#endif

TEST_CASE("sweep shards: --shard i/n parts joined by dposg merge give the whole sweep, other sweeps are refused",
          "[sweep][merge]") {
  TempDir dir;
  REQUIRE(run_cli(kGrid + " --shard 0/2 --out a.h5", dir).code == 0);
  REQUIRE(run_cli(kGrid + " --shard 1/2 --out b.h5", dir).code == 0);
  CHECK(ResultsReader::open(dir / "a.h5")->runs().size() == 12);
  const auto merged = run_cli("merge --out all.h5 a.h5 b.h5", dir);
  INFO(merged.err);
  REQUIRE(merged.code == 0);
  CHECK(merged.out.find("24 run(s) copied") != std::string::npos);
  REQUIRE(run_cli(kGrid + " --jobs 1 --out s.h5", dir).code == 0);
  check_same_runs(dir / "all.h5", dir / "s.h5");
  // The grid order survives the merge.
  CHECK(run_cli("info all.h5", dir).out.find("sweep grid: topology = ring, complete; rounds = 1, 2, 3") != std::string::npos);
  // Merging again copies nothing new; a shard of another sweep is refused, nothing written.
  CHECK(run_cli("merge --out all.h5 a.h5", dir).out.find("0 run(s) copied, 12 kept") != std::string::npos);
  REQUIRE(run_cli("sweep --grid topology=ring,complete --workers 4 --iters 61 --quiet --out other.h5", dir).code == 0);
  const auto size = fs::file_size(dir / "all.h5");
  const auto refused = run_cli("merge --out all.h5 other.h5", dir);
  CHECK(refused.code == 2);
  CHECK(refused.err.find("come from different sweeps") != std::string::npos);
  CHECK(fs::file_size(dir / "all.h5") == size);
  for (const char* bad : {"--shard 2/2", "--shard 1", "--shard a/b", "--shard 0/0"}) {
    INFO(bad);
    const auto r = run_cli(kGrid + " " + bad + " --out bad.h5", dir);
    CHECK(r.code == 2);
    CHECK(r.err.find("--shard: expected i/n") != std::string::npos);
  }
}
