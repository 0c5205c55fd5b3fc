// ctest-label: integration
// Live reading (core/live_file.hpp): while a `dposg run` child appends a row every iteration and
// flushes four times a second, readers in other processes (this test through ResultsReader,
// `dposg info`, notebooks/dposg_results.py) get consistent snapshots: every metric as long as
// `iteration`, the rows exactly 0, 1, 2, ... (log-every 1), no NaN fill, never fewer rows than the
// read before.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.hpp"
#include "core/live_file.hpp"
#include "core/recorder.hpp"

namespace fs = std::filesystem;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

dposg::test::CliResult run_in(const std::string& command, const TempDir& dir) {
  const std::string out = dir / "cmd-out.txt", err = dir / "cmd-err.txt";
  const int status = std::system(("cd '" + dir.path.string() + "' && " + command + " >'" + out + "' 2>'" + err + "'").c_str());
  dposg::test::CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = dposg::test::slurp(out);
  r.err = dposg::test::slurp(err);
  return r;
}

bool python_has_h5py() { return std::system("/usr/bin/python3 -c 'import h5py, pandas' >/dev/null 2>&1") == 0; }

// Runs `body` in /usr/bin/python3 in dir with notebooks/dposg_results.py importable as d; the script
// prints ok at its end. Where Python has no h5py the helper is not checked, and says so.
void check_python_reader(const TempDir& dir, const std::string& body) {
  if (!python_has_h5py()) {
    WARN("/usr/bin/python3 has no h5py/pandas: the Python helper is not checked here");
    return;
  }
  {
    std::ofstream py(dir / "read.py");
    py << "import sys, struct; sys.path.insert(0, '" << DPOSG_SOURCE_DIR << "/notebooks')\n"
       << "import numpy as np, dposg_results as d\n"
       << body << "print('ok')\n";
  }
  const auto py = run_in("/usr/bin/python3 read.py", dir);
  INFO(py.err);
  CHECK(py.code == 0);
  CHECK(py.out == "ok\n");
}

}  // namespace

TEST_CASE("readers in other processes see consistent snapshots of a file that a run is writing", "[live]") {
  TempDir dir;
  const std::string file = dir / "live.h5";
  // Long enough that it cannot finish before the SIGTERM below (~220 s alone), with a row every 100
  // iterations: every 1 grew the file by 11 MB/s, until a reader's copy outlasted the writer's
  // 250 ms between flushes and no consistent snapshot came within the helper's 10 s.
  constexpr std::int64_t kLogEvery = 100;
  const pid_t pid = dposg::test::spawn_cli(
      "run --iters 40000000 --log-every " + std::to_string(kLogEvery) + " --out live.h5 --run-name r --quiet --threads 1", dir);
  // Until the run has rows on disk.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::int64_t rows = 0;
  while (rows == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(dposg::live_marker_path(file))) continue;
    try {
      rows = dposg::ResultsReader::open(file)->summary("r").rows;
    } catch (const std::exception&) {
    }
  }
  REQUIRE(rows > 0);
  REQUIRE(fs::exists(dposg::live_marker_path(file)));
  REQUIRE(dposg::live_snapshot(file).has_value());

  int reads = 0, grew = 0;
  std::int64_t before = 0;
  const auto stop = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < stop) {
    const auto reader = dposg::ResultsReader::open(file);  // throws on any inconsistency it meets
    const auto summary = reader->summary("r");
    const auto its = reader->iterations("r");
    const auto g = reader->metric("r", "grad_norm_sq");
    const auto c = reader->metric("r", "consensus_error");
    REQUIRE(static_cast<std::int64_t>(its.size()) == summary.rows);
    REQUIRE(g.size() == its.size());
    REQUIRE(c.size() == its.size());
    std::size_t first_bad = its.size();
    for (std::size_t i = 0; i < its.size() && first_bad == its.size(); ++i)
      if (its[i] != static_cast<std::int64_t>(i) * kLogEvery || !std::isfinite(g[i]) || !std::isfinite(c[i])) first_bad = i;
    INFO("row " << first_bad << " of " << its.size());
    REQUIRE(first_bad == its.size());
    REQUIRE(summary.rows >= before);
    grew += summary.rows > before;
    before = summary.rows;
    ++reads;
  }
  CHECK(reads > 5);
  CHECK(grew > 2);  // the run went on writing while we read

  // Another process: dposg info, a few times.
  for (int i = 0; i < 3; ++i) {
    const auto info = run_cli("info live.h5 --csv", dir);
    INFO(info.err);
    CHECK(info.code == 0);
    CHECK(info.err.empty());
    CHECK(info.out.find("\nr,running,") != std::string::npos);
  }
  // And the notebooks' helper, where Python has h5py.
  check_python_reader(dir, "assert d.live_snapshot('live.h5') is not None, 'no live writer seen'\n"
                           "for _ in range(5):\n"
                           "    m = d.metrics('r', 'live.h5')\n"
                           "    assert len(m) > 0 and (m.index.to_numpy() == " + std::to_string(kLogEvery) +
                               " * np.arange(len(m))).all(), 'rows'\n"
                           "    assert np.isfinite(m['grad_norm_sq'].to_numpy()).all(), 'fill'\n");

  ::kill(pid, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  // The writer closed the file: the marker is gone and readers read the file itself.
  CHECK_FALSE(fs::exists(dposg::live_marker_path(file)));
  CHECK_FALSE(dposg::live_snapshot(file).has_value());
  CHECK(dposg::ResultsReader::open(file)->summary("r").status == "interrupted");
}

TEST_CASE("a marker left by a killed writer is ignored", "[live]") {
  TempDir dir;
  const std::string file = dir / "k.h5";
  REQUIRE(run_cli("run --iters 20 --out k.h5 --run-name r --quiet", dir).code == 0);
  {
    // A marker of a process that has exited (this test's own child), odd: it never flushed again.
    const pid_t child = ::fork();
    if (child == 0) {
      dposg::LiveMarker m(file);
      m.begin_change();
      ::_exit(0);  // no destructor: the marker stays, as after a kill -9
    }
    int status = 0;
    ::waitpid(child, &status, 0);
  }
  REQUIRE(fs::exists(dposg::live_marker_path(file)));
  CHECK_FALSE(dposg::live_snapshot(file, 0.5).has_value());
  CHECK(dposg::ResultsReader::open(file)->summary("r").status == "finished");
  CHECK(run_cli("info k.h5", dir).code == 0);
}

namespace {
std::uint64_t marker_generation(const std::string& file) {
  std::uint64_t g = 0;
  std::ifstream in(dposg::live_marker_path(file), std::ios::binary);
  in.seekg(16);
  in.read(reinterpret_cast<char*>(&g), sizeof g);
  return g;
}
// The first and last words of a snapshot: the writer below changes both in each change.
std::pair<std::uint64_t, std::uint64_t> ends(const std::string& bytes) {
  std::uint64_t head = 0, tail = 0;
  std::memcpy(&head, bytes.data(), 8);
  std::memcpy(&tail, bytes.data() + bytes.size() - 8, 8);
  return {head, tail};
}
}  // namespace

TEST_CASE("a reader whose copy outlasts the writer's time between changes still gets a whole snapshot", "[live]") {
  // A writer process changes a 96 MB file's first and last words every millisecond, each change
  // between begin_change and end_change, far more often than one copy of the file takes; without the
  // readers' lock no copy would ever see the counter unchanged.
  TempDir dir;
  const std::string file = dir / "big.bin";
  constexpr off_t kSize = off_t{96} << 20;
  {
    std::ofstream out(file, std::ios::binary);
    out.seekp(kSize - 1);
    out.put('\0');
  }
  const pid_t writer = ::fork();
  if (writer == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test, whatever fails in it
    dposg::LiveMarker marker(file);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    for (std::uint64_t k = 1;; ++k) {
      marker.begin_change();
      (void)::pwrite(fd, &k, 8, 0);
      (void)::pwrite(fd, &k, 8, kSize - 8);
      marker.end_change();
      ::usleep(1000);
    }
  }
  REQUIRE(writer > 0);
  // Ended with the test case, however it leaves (a failed REQUIRE throws).
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  } reap{writer};
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (marker_generation(file) < 4 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(marker_generation(file) >= 4);

  std::uint64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto bytes = dposg::live_snapshot(file, 10.0);
    INFO("snapshot " << i << " after " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
    REQUIRE(bytes.has_value());
    REQUIRE(bytes->size() == static_cast<std::size_t>(kSize));
    const auto [head, tail] = ends(*bytes);
    CHECK(head == tail);
    CHECK(head > last);  // the writer went on between the snapshots
    last = head;
  }
  check_python_reader(dir, "for _ in range(3):\n"
                           "    b = d.live_snapshot('big.bin', 10.0)\n"
                           "    assert b is not None, 'no snapshot'\n"
                           "    assert len(b) == " + std::to_string(kSize) + ", 'size'\n"
                           "    assert struct.unpack('<Q', b[:8]) == struct.unpack('<Q', b[-8:]), 'torn'\n");

  // A reader that holds its lock and never lets go (stopped mid-copy) delays the writer by the grace,
  // once, and then not at all.
  {
    const int lock_fd = ::open(dposg::live_marker_path(file).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(lock_fd >= 0);
    while (::flock(lock_fd, LOCK_SH | LOCK_NB) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const std::uint64_t g0 = marker_generation(file);
    std::this_thread::sleep_for(dposg::LiveMarker::kReaderGrace + std::chrono::milliseconds(600));
    const std::uint64_t g1 = marker_generation(file);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::uint64_t g2 = marker_generation(file);
    ::close(lock_fd);
    INFO("generations " << g0 << ", " << g1 << ", " << g2);
    CHECK(g1 > g0);
    CHECK(g2 >= g1 + 100);  // 250 changes in 0.5 s at 1 ms each, less the sleeps' slack
  }
}
