// ctest-label: integration
// Checkpoint and resume (core/checkpoint.hpp, cli/resume_command.cpp): a `dposg run` child stopped
// by a real SIGTERM (SIGINT, kill -9) and continued with `dposg resume` writes, bit for bit, the
// metrics and final/ data of the same run left alone (the independent reference: the same
// options, never interrupted). Times (*time_s) measure the machine and are left out.
#include <H5Cpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.hpp"
#include "run_compare.hpp"
#include "core/checkpoint.hpp"
#include "core/recorder.hpp"

namespace fs = std::filesystem;
using dposg::test::run_cli;
using dposg::test::TempDir;
using dposg::test::require_identical;

namespace {

// Waits until `path` exists or the child has exited (then false, its status in *status).
bool wait_for_file(pid_t pid, const std::string& path, int* status) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < until) {
    if (fs::exists(path)) return true;
    if (::waitpid(pid, status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, status, 0);
  return false;
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string status_of(const std::string& path, const std::string& run) {
  return dposg::ResultsReader::open(path)->summary(run).status;
}

std::int64_t attr_int(const std::string& path, const std::string& run, const std::string& name) {
  for (const auto& [k, v] : dposg::ResultsReader::open(path)->summary(run).attrs)
    if (k == name && std::holds_alternative<std::int64_t>(v)) return std::get<std::int64_t>(v);
  return -1;
}

struct Case {
  const char* what;
  const char* options;
  int every;  // --checkpoint-every of the interrupted run
};

// Runs `options` uninterrupted into full.h5, and into part.h5 stopped by `sig` just after its first
// checkpoint, then resumes part.h5: the two files must hold the same run.
void check_resume(const Case& c, int sig) {
  TempDir dir;
  // One thread: OpenMP's spinning workers would only slow a loaded machine's fsyncs down.
  const std::string opts = std::string(c.options) + " --run-name r --quiet --threads 1";
  const auto full = run_cli("run " + opts + " --out full.h5", dir);
  INFO(c.what << ": " << full.err);
  REQUIRE(full.code == 0);

  const pid_t pid = dposg::test::spawn_cli("run " + opts + " --out part.h5 --checkpoint-every " + std::to_string(c.every), dir);
  int status = 0;
  const bool started = wait_for_file(pid, dir / "part.h5.checkpoints/r.ckpt", &status);
  REQUIRE(started);  // else the run ended before its first checkpoint (or never wrote one)
  ::kill(pid, sig);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(dposg::test::slurp(dir / "child-err.txt"));
  REQUIRE(exit_code(status) == 128 + sig);
  REQUIRE(status_of(dir / "part.h5", "r") == "interrupted");
  const std::int64_t stopped_at = attr_int(dir / "part.h5", "r", "iterations_done");
  CHECK(stopped_at >= c.every);
  CHECK(stopped_at < attr_int(dir / "full.h5", "r", "iters"));
  // What the run wrote before it stopped stays readable by the usual reader.
  CHECK(dposg::ResultsReader::open(dir / "part.h5")->summary("r").rows > 0);

  const auto resumed = run_cli("resume part.h5 --quiet", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  REQUIRE(status_of(dir / "part.h5", "r") == "finished");
  CHECK(attr_int(dir / "part.h5", "r", "resumed_at_iteration") == stopped_at);
  require_identical(dir / "full.h5", dir / "part.h5", "r");
  // A finished run's checkpoint is gone with its directory.
  CHECK_FALSE(fs::exists(dir / "part.h5.checkpoints"));
}

}  // namespace

TEST_CASE("a run stopped by SIGTERM and resumed writes the uninterrupted run's metrics bit for bit",
          "[resume][checkpoint]") {
  const std::vector<Case> cases = {
      {"osg", "--step-rule osg --noise 0.5 --iters 6000 --log-every 50", 100},
      {"oadam", "--step-rule oadam --noise 0.5 --iters 6000 --log-every 50", 100},
      {"extragradient on random-ring", "--step-rule extragradient --topology random-ring --noise 0.5 --iters 6000 --log-every 50", 100},
      {"gt-gda", "--algorithm gt-gda --noise 0.5 --iters 6000 --log-every 50", 100},
      {"dm-hsgd", "--algorithm dm-hsgd --large-batch 10 --noise 0.5 --iters 6000 --log-every 50", 100},
      {"dgda-vr", "--algorithm dgda-vr --large-batch 10 --vr-period 7 --noise 0.5 --iters 6000 --log-every 50", 100},
      {"CHOCO top-k", "--compressor top-k --compress-ratio 0.25 --gossip-step 0.3 --noise 0.5 --iters 6000 --log-every 50", 100},
      {"dqgan qsgd with error feedback", "--algorithm dqgan --topology complete --compressor qsgd --error-feedback --noise 0.5 --iters 6000 --log-every 50", 100},
      {"local-sgda", "--algorithm local-sgda --local-steps 4 --noise 0.5 --iters 6000 --log-every 50", 100},
      {"overlap", "--overlap --noise 0.5 --iters 6000 --log-every 50", 100},
      {"ziggurat noise", "--noise-normals ziggurat --noise 0.5 --iters 6000 --log-every 50", 100},
      // --noise-normals auto takes ziggurat's here; the resumed run keeps it from the checkpoint.
      {"auto noise at 100000 workers", "--dim 2 --workers 100000 --noise 0.5 --iters 400 --log-every 20", 20},
      {"gan-mog8 oadam", "--problem gan-mog8 --gan-width 8 --workers 2 --batch 4 --eval-batch 16 --step-rule oadam --iters 120 --log-every 40", 10},
      // The resident engine (its CPU twin) on a time-varying W.
      {"gan-mog8 resident oadam on random-ring", "--problem gan-mog8 --device cpu-float --engine resident --gan-width 8 --workers 4 --topology random-ring --batch 4 --eval-batch 16 --step-rule oadam --iters 120 --log-every 40", 10},
      {"gan-mog8 resident extragradient on random-ring, overlap", "--problem gan-mog8 --device cpu-float --engine resident --gan-width 8 --workers 4 --topology random-ring --overlap --batch 4 --eval-batch 16 --step-rule extragradient --iters 120 --log-every 40", 10},
  };
  for (const auto& c : cases) {
    SECTION(c.what) { check_resume(c, SIGTERM); }
  }
}

TEST_CASE("a sweep stopped by SIGTERM continues its interrupted run from the checkpoint when run again, bit for bit",
          "[resume][checkpoint][sweep]") {
  TempDir dir;
  const std::string sweep = "sweep --grid lr=0.01,0.02,0.03 --noise 0.5 --iters 6000 --log-every 50 --threads 1 --jobs 1 "
                            "--quiet --out ";
  const auto full = run_cli(sweep + "full.h5", dir);
  INFO(full.err);
  REQUIRE(full.code == 0);

  const std::string first = "lr=0.01,seed=0";
  const pid_t pid = dposg::test::spawn_cli(sweep + "part.h5 --checkpoint-every 100", dir);
  int status = 0;
  REQUIRE(wait_for_file(pid, dir / ("part.h5.checkpoints/" + first + ".ckpt"), &status));
  ::kill(pid, SIGTERM);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(dposg::test::slurp(dir / "child-err.txt"));
  REQUIRE(exit_code(status) == 143);
  REQUIRE(status_of(dir / "part.h5", first) == "interrupted");
  const std::int64_t stopped_at = attr_int(dir / "part.h5", first, "iterations_done");
  CHECK(stopped_at >= 100);
  CHECK(dposg::ResultsReader::open(dir / "part.h5")->runs().size() == 1);  // no further run was started

  // `dposg resume` leaves a sweep's run to the sweep.
  const auto lone = run_cli("resume part.h5 --run " + first, dir);
  CHECK(lone.code == 2);
  CHECK(lone.err.find("belongs to a sweep") != std::string::npos);

  const auto again = run_cli(sweep + "part.h5", dir);
  INFO(again.err);
  REQUIRE(again.code == 0);
  CHECK(attr_int(dir / "part.h5", first, "resumed_at_iteration") == stopped_at);
  for (const std::string& run : {first, std::string("lr=0.02,seed=0"), std::string("lr=0.03,seed=0")}) {
    INFO(run);
    CHECK(status_of(dir / "part.h5", run) == "finished");
    require_identical(dir / "full.h5", dir / "part.h5", run);
  }
  CHECK_FALSE(fs::exists(dir / "part.h5.checkpoints"));
}

TEST_CASE("a 100000-worker checkpoint of a build before --noise-normals auto resumes with std's normals, bit for bit",
          "[resume][checkpoint][slow]") {
  // Then the default was std. Such a checkpoint is emulated from an explicit --noise-normals std run:
  // its argv without the option and without the normals' record, which older builds did not write.
  // Resumed by the argv alone, auto would take ziggurat's at this M; the uninterrupted std run is
  // the reference.
  TempDir dir;
  const std::string opts = "--dim 2 --workers 100000 --noise 0.5 --iters 200 --log-every 20 --run-name r --quiet --threads 1";
  const auto full = run_cli("run " + opts + " --noise-normals std --out full.h5", dir);
  INFO(full.err);
  REQUIRE(full.code == 0);
  const pid_t pid = dposg::test::spawn_cli("run " + opts + " --noise-normals std --out part.h5 --checkpoint-every 20", dir);
  int status = 0;
  REQUIRE(wait_for_file(pid, dir / "part.h5.checkpoints/r.ckpt", &status));
  ::kill(pid, SIGTERM);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(exit_code(status) == 143);

  const std::string ckpt = dposg::checkpoint_path(dir / "part.h5", "r");
  auto state = dposg::StateArchive::read_file(ckpt);
  REQUIRE(state.text("run/noise_normals") == "std");
  std::string argv = state.text("run/argv");
  const std::string given = std::string(1, '\0') + "--noise-normals" + std::string(1, '\0') + "std";
  const auto at = argv.find(given);
  REQUIRE(at != std::string::npos);
  argv.erase(at, given.size());
  state.put_text("run/argv", argv);
  state.erase("run/noise_normals");
  state.write_file(ckpt);

  const auto resumed = run_cli("resume part.h5 --quiet", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(attr_int(dir / "part.h5", "r", "resumed_at_iteration") > 0);
  require_identical(dir / "full.h5", dir / "part.h5", "r");
}

TEST_CASE("SIGINT ends a run with a checkpoint, status interrupted and exit 130", "[resume][checkpoint]") {
  check_resume({"osg, SIGINT", "--noise 0.5 --iters 6000 --log-every 50 --topology random-ring", 100}, SIGINT);
}

TEST_CASE("kill -9 at any moment leaves the last checkpoint readable, and resume drops the rows logged after it",
          "[resume][checkpoint]") {
  // A checkpoint every 7 iterations (rows every 5: some rows are always newer than the checkpoint)
  // with an fsync each, so that a good share of the kills land in the middle of a checkpoint write.
  const std::string opts = "--dim 200 --noise 0.5 --iters 300 --log-every 5 --run-name r --quiet --threads 1";
  TempDir dir;
  const auto full = run_cli("run " + opts + " --out full.h5", dir);
  REQUIRE(full.code == 0);
  for (int delay_ms : {0, 2, 5, 13}) {
    INFO("killed " << delay_ms << " ms after the first checkpoint");
    const std::string part = "part" + std::to_string(delay_ms) + ".h5";
    const pid_t pid = dposg::test::spawn_cli("run " + opts + " --out " + part + " --checkpoint-every 7", dir);
    int status = 0;
    REQUIRE(wait_for_file(pid, dir / (part + ".checkpoints/r.ckpt"), &status));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (!WIFSIGNALED(status)) {
      WARN("the run ended before the kill; this delay tests nothing");
      continue;
    }
    CHECK(status_of(dir / part, "r") == "running");
    // Whole and of the run, whatever the kill interrupted (perhaps a .tmp beside it).
    const auto state = dposg::StateArchive::read_file(dposg::checkpoint_path(dir / part, "r"));
    const std::int64_t at = state.integer("driver/iteration");
    CHECK(at % 7 == 0);
    const auto resumed = run_cli("resume " + part + " --quiet", dir);
    INFO(resumed.err);
    REQUIRE(resumed.code == 0);
    CHECK(attr_int(dir / part, "r", "resumed_at_iteration") == at);
    require_identical(dir / "full.h5", dir / part, "r");
  }
}

TEST_CASE("a checkpoint file round-trips and a damaged one is refused", "[checkpoint]") {
  TempDir dir;
  dposg::StateArchive a;
  dposg::Matrix m(3, 2);
  m << 1.0, -2.5, 1e-300, 4.0, 0.1, -0.0;
  a.put("m", m);
  a.put_real("r", 0.1);
  a.put_integer("i", -42);
  a.put_text("s", std::string("a\0b", 3));
  dposg::Rng rng(7);
  rng.discard(1000);
  a.put_rng("rng", rng);
  const std::string path = dir / "x.ckpt";
  a.write_file(path);
  const auto b = dposg::StateArchive::read_file(path);
  CHECK(std::memcmp(b.matrix("m").data(), m.data(), sizeof(double) * 6) == 0);
  CHECK(b.real("r") == 0.1);
  CHECK(b.integer("i") == -42);
  CHECK(b.text("s") == std::string("a\0b", 3));
  dposg::Rng back;
  b.get_rng("rng", back);
  CHECK(back() == rng());  // the same stream, continued where it was
  CHECK_THROWS_AS(b.integer("m"), dposg::CheckpointError);
  CHECK_THROWS_AS(b.real("absent"), dposg::CheckpointError);

  std::string bytes = dposg::test::slurp(path);
  SECTION("a flipped byte") {
    bytes[bytes.size() / 2] ^= 0x10;
    std::ofstream(path, std::ios::binary) << bytes;
    CHECK_THROWS_WITH(dposg::StateArchive::read_file(path), Catch::Contains("checksum"));
  }
  SECTION("a truncated file") {
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 20);
    CHECK_THROWS_AS(dposg::StateArchive::read_file(path), dposg::CheckpointError);
  }
  SECTION("not a checkpoint") {
    std::ofstream(path, std::ios::binary) << "hello";
    CHECK_THROWS_WITH(dposg::StateArchive::read_file(path), Catch::Contains("not a dposg checkpoint"));
  }
}

TEST_CASE("resume and the checkpoint options refuse bad input in one line, exit 2", "[resume][checkpoint]") {
  TempDir dir;
  auto one_line = [](const dposg::test::CliResult& r, const std::string& text) {
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(text) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  one_line(run_cli("resume nosuch.h5", dir), "FILE: 'nosuch.h5' does not exist");
  one_line(run_cli("resume", dir), "FILE: missing");
  one_line(run_cli("run --iters 5 --checkpoint-every -1 --out a.h5", dir), "--checkpoint-every");
  CHECK_FALSE(fs::exists(dir / "a.h5"));
  one_line(run_cli("run --iters 5 --checkpoint-seconds -3 --out a.h5", dir), "--checkpoint-seconds");
  REQUIRE(run_cli("run --iters 5 --out b.h5 --run-name done --quiet", dir).code == 0);
  one_line(run_cli("resume b.h5 --run nosuch", dir), "--run: no run 'nosuch'");
  one_line(run_cli("resume b.h5 --run done", dir), "--run: run 'done' is finished: nothing to resume");
  const auto nothing = run_cli("resume b.h5", dir);
  CHECK(nothing.code == 0);
  CHECK(nothing.out.find("nothing to resume") != std::string::npos);
}
