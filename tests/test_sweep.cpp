// ctest-label: integration
// dposg sweep (grid, seeds, parallel runs, resume after SIGKILL, failed/diverged runs) and the
// CSV of dposg info; the grid helpers of app/sweep.hpp directly.
#include <catch2/catch.hpp>

#include <hdf5.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "cli_harness.hpp"
#include "core/error.hpp"
#include "core/recorder.hpp"
#include "app/sweep.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

std::string attr_text(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) {
      if (auto p = std::get_if<std::string>(&v)) return *p;
      if (auto p = std::get_if<std::int64_t>(&v)) return std::to_string(*p);
      if (auto p = std::get_if<double>(&v)) return std::to_string(*p);
    }
  return "<absent>";
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

std::set<std::string> names_of(const std::string& path) {
  const auto runs = ResultsReader::open(path)->runs();
  return {runs.begin(), runs.end()};
}

// A minimal RFC 4180 reader: fields separated by commas, quoted fields may hold commas and "".
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field), field.clear();
    } else if (c == '\n') {
      row.push_back(field), field.clear();
      rows.push_back(row), row.clear();
    } else {
      field += c;
    }
  }
  return rows;
}

}  // namespace

TEST_CASE("grid axes, combinations and run names", "[sweep]") {
  const GridAxis a = parse_grid_axis("workers=4, 8,16");
  CHECK(a.key == "workers");
  CHECK(a.values == std::vector<std::string>{"4", "8", "16"});
  CHECK_THROWS_AS(parse_grid_axis("workers"), InputError);
  CHECK_THROWS_AS(parse_grid_axis("=4,8"), InputError);
  CHECK_THROWS_AS(parse_grid_axis("workers=4,,8"), InputError);
  CHECK_THROWS_WITH(parse_grid_axis("workers=4,4"), Catch::Contains("given twice"));

  const auto points = expand_grid({parse_grid_axis("workers=4,8"), parse_grid_axis("topology=ring,complete,torus")});
  REQUIRE(points.size() == 6);
  CHECK(sweep_run_name(points[0]) == "workers=4,topology=ring");
  CHECK(sweep_run_name(points[1]) == "workers=4,topology=complete");
  CHECK(sweep_run_name(points[5]) == "workers=8,topology=torus");
  CHECK(expand_grid({}).size() == 1);
  CHECK_THROWS_AS(expand_grid({parse_grid_axis("rounds=1"), parse_grid_axis("rounds=2")}), InputError);
  // Characters a run name cannot hold become '_'.
  CHECK(sweep_run_name({{"topology-file", "dir/w.h5"}}) == "topology-file=dir_w.h5");
}

TEST_CASE("what a re-run does with each recorded status", "[sweep]") {
  const ResumePolicy keep{}, retry{true, false}, over{false, true};
  CHECK(resume_action("", keep) == ResumeAction::run);
  CHECK(resume_action("finished", keep) == ResumeAction::skip);
  CHECK(resume_action("diverged", keep) == ResumeAction::skip);
  CHECK(resume_action("diverged", retry) == ResumeAction::skip);  // deterministic: a result, not an accident
  CHECK(resume_action("failed", keep) == ResumeAction::skip);
  CHECK(resume_action("failed", retry) == ResumeAction::redo);
  CHECK(resume_action("running", keep) == ResumeAction::redo);   // left by a killed process
  CHECK(resume_action("finished", over) == ResumeAction::redo);
  CHECK(options_key_difference("a=1\nb=2\n", "a=1\nb=2\nc=3\n").empty());  // options added later
  CHECK(options_key_difference("a=1\nb=2\n", "a=1\nb=3\n") == "b: 2 vs 3");
}

TEST_CASE("dposg sweep runs every combination x seed into one file, as dposg run would", "[sweep][cli]") {
  TempDir dir;
  const auto r = run_cli(
      "sweep --grid workers=4,8 --grid topology=ring,complete --seeds 2 --seed 5 --iters 200 --problem bilinear "
      "--jobs 2 --out s.h5",
      dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());  // not a terminal: no progress display
  const std::set<std::string> expected = {
      "workers=4,topology=ring,seed=5",     "workers=4,topology=ring,seed=6",
      "workers=4,topology=complete,seed=5", "workers=4,topology=complete,seed=6",
      "workers=8,topology=ring,seed=5",     "workers=8,topology=ring,seed=6",
      "workers=8,topology=complete,seed=5", "workers=8,topology=complete,seed=6"};
  CHECK(names_of(dir / "s.h5") == expected);
  {
    auto reader = ResultsReader::open(dir / "s.h5");
    const RunSummary s = reader->summary("workers=8,topology=complete,seed=6");
    CHECK(s.status == "finished");
    CHECK(attr_text(s, "workers") == "8");
    CHECK(attr_text(s, "topology") == "complete");
    CHECK(attr_text(s, "seed") == "6");
    CHECK(attr_text(s, "problem") == "bilinear");
    CHECK(attr_text(s, "iters") == "200");
    CHECK(attr_text(s, "sweep_point") == "workers=8,topology=complete,seed=6");
  }
  // The summary: one line per combination, aggregated over the seeds.
  CHECK(r.out.find("8 run(s) = 4 combination(s) x 2 seed(s)") != std::string::npos);
  CHECK(r.out.find("workers=8,topology=ring ") != std::string::npos);
  CHECK(r.out.find("8 finished") != std::string::npos);

  // A grid point means what the same options mean to dposg run (and threads do not change it).
  REQUIRE(run_cli("run --workers 8 --topology ring --seed 6 --iters 200 --problem bilinear --run-name direct "
                  "--out d.h5 --quiet",
                  dir)
              .code == 0);
  const auto direct = ResultsReader::open(dir / "d.h5")->metric("direct", "grad_norm_sq");
  const auto swept = ResultsReader::open(dir / "s.h5")->metric("workers=8,topology=ring,seed=6", "grad_norm_sq");
  CHECK(swept == direct);
}

TEST_CASE("a sweep from a config file, the command line winning key by key", "[sweep][cli]") {
  TempDir dir;
  {
    std::ofstream cfg(dir / "sweep.cfg");
    cfg << "# grid lines repeat; fixed options as for dposg run\n"
           "grid = workers=4,8\ngrid = rounds=1,2\niters = 50\nproblem = bilinear\n";
  }
  REQUIRE(run_cli("sweep --config sweep.cfg --out c.h5 --quiet", dir).code == 0);
  CHECK(names_of(dir / "c.h5") == std::set<std::string>{"workers=4,rounds=1,seed=0", "workers=4,rounds=2,seed=0",
                                                           "workers=8,rounds=1,seed=0", "workers=8,rounds=2,seed=0"});
  // --grid rounds=3 replaces the file's rounds axis; --workers 16 replaces its workers axis.
  REQUIRE(run_cli("sweep --config sweep.cfg --grid rounds=3 --workers 16 --out o.h5 --quiet", dir).code == 0);
  CHECK(names_of(dir / "o.h5") == std::set<std::string>{"rounds=3,seed=0"});
  auto reader = ResultsReader::open(dir / "o.h5");
  CHECK(attr_text(reader->summary("rounds=3,seed=0"), "workers") == "16");
  CHECK(attr_text(reader->summary("rounds=3,seed=0"), "iters") == "50");
}

TEST_CASE("sweep: bad input gives one line naming the problem, exit code 2 and no file", "[sweep][cli]") {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--grid wrokers=4,8", "wrokers"},
      {"--grid step_rule=osg,gda", "step-rule"},
      {"--grid workers=4,abc", "workers"},
      {"--grid workers=4,0", "--workers"},
      {"--grid topology=ring,hypercube", "hypercube"},
      {"--grid out=a.h5,b.h5", "out"},
      {"--grid workers=4,4", "twice"},
      {"--grid workers", "KEY=VALUE"},
      {"--workers 4 --grid workers=4,8", "--workers"},
      {"--grid workers=4 --grid workers=8", "twice"},
      {"--seeds 0", "--seeds"},
      {"--jobs 0", "--jobs"},
      {"--run-name x", "--run-name"},
      {"--grid seed=1,2 --seeds 3", "--seeds"},
  };
  for (const auto& [args, needle] : cases) {
    INFO(args);
    const auto r = run_cli("sweep " + args + " --iters 10 --out out.h5", dir);
    CHECK(r.code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "out.h5"));
  }
}

TEST_CASE("sweep: diverged and failed runs are recorded results, and --retry-failed redoes failed ones", "[sweep][cli]") {
  TempDir dir;
  const std::string args = "sweep --problem bilinear --step-rule gda --grid lr=0.01,50 --iters 3000 --out f.h5";
  const auto first = run_cli(args, dir);
  INFO(first.err);
  CHECK(first.code == 1);  // one run diverged; the sweep went on with the other
  {
    auto reader = ResultsReader::open(dir / "f.h5");
    CHECK(reader->summary("lr=50,seed=0").status == "diverged");
    CHECK(reader->summary("lr=0.01,seed=0").status == "finished");
  }
  CHECK(first.out.find("1 diverged") != std::string::npos);
  // Again: nothing to do, the diverged run is kept (it would diverge again), still exit code 1.
  const auto again = run_cli(args, dir);
  CHECK(again.code == 1);
  CHECK(again.out.find("0 run now, 2 kept") != std::string::npos);

  // Make the finished run look failed (as after an exception), keeping its sweep_options.
  std::string options;
  {
    auto reader = ResultsReader::open(dir / "f.h5");
    for (const auto& [n, v] : reader->summary("lr=0.01,seed=0").attrs)
      if (n == "sweep_options") options = std::get<std::string>(v);
  }
  REQUIRE(!options.empty());
  {
    auto file = ResultsFile::open(dir / "f.h5");
    file->remove_run("lr=0.01,seed=0");
    auto w = file->create_run("lr=0.01,seed=0");
    w->set_attr("sweep_options", options);
    w->set_status("failed");
  }
  const auto kept = run_cli(args, dir);
  CHECK(kept.code == 1);
  CHECK(kept.out.find("--retry-failed") != std::string::npos);
  CHECK(ResultsReader::open(dir / "f.h5")->summary("lr=0.01,seed=0").status == "failed");
  const auto retried = run_cli(args + " --retry-failed", dir);
  CHECK(retried.code == 1);  // the diverged run is still there
  CHECK(retried.out.find("1 run now") != std::string::npos);
  CHECK(ResultsReader::open(dir / "f.h5")->summary("lr=0.01,seed=0").status == "finished");
}

TEST_CASE("sweep: runs of the same name made with other options are not taken for this sweep's", "[sweep][cli]") {
  TempDir dir;
  REQUIRE(run_cli("sweep --grid workers=4,8 --iters 50 --out m.h5 --quiet", dir).code == 0);
  const auto before = ResultsReader::open(dir / "m.h5")->metric("workers=4,seed=0", "grad_norm_sq");
  const auto r = run_cli("sweep --grid workers=4,8 --iters 80 --out m.h5 --quiet", dir);
  CHECK(r.code == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find("iters: 50 vs 80") != std::string::npos);
  CHECK(ResultsReader::open(dir / "m.h5")->metric("workers=4,seed=0", "grad_norm_sq") == before);
  // A run that no sweep made is not adopted either.
  REQUIRE(run_cli("run --iters 50 --run-name seed=0 --out n.h5 --quiet", dir).code == 0);
  CHECK(run_cli("sweep --iters 50 --out n.h5 --quiet", dir).code == 2);
  // --overwrite redoes the grid's runs with the new options.
  REQUIRE(run_cli("sweep --grid workers=4,8 --iters 80 --out m.h5 --overwrite --quiet", dir).code == 0);
  CHECK(ResultsReader::open(dir / "m.h5")->iterations("workers=4,seed=0").back() == 80);
  CHECK(names_of(dir / "m.h5").size() == 2);
}

TEST_CASE("a sweep killed with SIGKILL resumes: no finished run lost, redone or duplicated", "[sweep][cli]") {
  TempDir dir;
  const std::string path = dir / "k.h5";
  const std::vector<std::string> args = {"sweep", "--grid",  "rounds=1,2,3,4", "--seeds", "2",     "--dim",
                                         "100",   "--workers", "16",          "--iters", "2000", "--log-every",
                                         "20",    "--jobs",  "2",              "--quiet", "--out"};
  auto start = [&](const std::string& out) {
    const pid_t child = fork();
    if (child == 0) {
      if (chdir(dir.path.c_str()) != 0) _exit(99);
      std::vector<const char*> argv = {DPOSG_CLI};
      for (const auto& a : args) argv.push_back(a.c_str());
      argv.push_back(out.c_str());
      argv.push_back(nullptr);
      execv(DPOSG_CLI, const_cast<char* const*>(argv.data()));
      _exit(98);
    }
    return child;
  };
  auto finished_runs = [&](const std::string& file) {
    std::map<std::string, std::vector<double>> done;
    try {
      auto reader = ResultsReader::open(file);
      for (const auto& run : reader->runs())
        if (reader->summary(run).status == "finished") done[run] = reader->metric(run, "grad_norm_sq");
    } catch (const std::exception&) {
      // not created yet, or caught mid-write: look again
    }
    return done;
  };

  const pid_t child = start("k.h5");
  REQUIRE(child > 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (finished_runs(path).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));

  std::map<std::string, RunSummary> before;
  std::map<std::string, std::vector<double>> before_metrics, before_walls;
  int unreadable = 0;
  {
    auto reader = ResultsReader::open(path);
    for (const auto& run : reader->runs()) {
      try {
        before[run] = reader->summary(run);
        before_metrics[run] = reader->metric(run, "grad_norm_sq");
        before_walls[run] = reader->metric(run, "wall_time_s");
      } catch (const std::exception& e) {
        // The run being written when the kill came, its metadata cut mid-flush (HDF5 1.10 has no
        // atomic commit): not a finished run, and the resume must redo it.
        WARN("unreadable after the kill (the interrupted run): " << run << ": " << e.what());
        before.erase(run);
        ++unreadable;
      }
    }
    CHECK(unreadable <= 1);
  }
  std::size_t finished_before = 0;
  for (const auto& [run, s] : before) finished_before += s.status == "finished";
  REQUIRE(finished_before >= 1);
  REQUIRE(finished_before < 8);  // killed midway

  // Resume: the same command on the same file.
  std::string cmd;
  for (const auto& a : args) cmd += a + " ";
  const auto r = run_cli(cmd + "k.h5", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::set<std::string> expected;
  for (int t = 1; t <= 4; ++t)
    for (int s = 0; s <= 1; ++s) expected.insert("rounds=" + std::to_string(t) + ",seed=" + std::to_string(s));
  CHECK(names_of(path) == expected);
  {
    auto reader = ResultsReader::open(path);
    for (const auto& run : reader->runs()) {
      INFO(run);
      const RunSummary s = reader->summary(run);
      CHECK(s.status == "finished");
      CHECK(s.rows == 2000 / 20 + 1);
      if (before.count(run) && before[run].status == "finished") {
        // Kept as it was: the same numbers and the same wall times (not run again).
        CHECK(reader->metric(run, "grad_norm_sq") == before_metrics[run]);
        CHECK(reader->metric(run, "wall_time_s") == before_walls[run]);
      }
    }
  }
  // Every run, redone or not, equals an uninterrupted sweep's.
  REQUIRE(run_cli(cmd + "ref.h5", dir).code == 0);
  auto ref = ResultsReader::open(dir / "ref.h5");
  auto got = ResultsReader::open(path);
  for (const auto& run : expected) {
    INFO(run);
    CHECK(got->metric(run, "grad_norm_sq") == ref->metric(run, "grad_norm_sq"));
  }
}

TEST_CASE("dposg info: the columns stay aligned for long problem and topology names", "[sweep][cli][info]") {
  TempDir dir;
  REQUIRE(run_cli("sweep --grid problem=gaussian-wgan,star --grid topology=exponential,ring --workers 4 --iters 4 "
                  "--out i.h5 --quiet", dir).code == 0);
  const auto table = run_cli("info i.h5", dir);
  REQUIRE(table.code == 0);
  std::stringstream lines(table.out);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(lines, line))
    if (line.rfind("problem=", 0) == 0 || line.rfind("run ", 0) == 0) rows.push_back(line);
  REQUIRE(rows.size() == 5);
  // Every column starts where the header's does: the header's words are at the cells' starts (left-
  // aligned text) or ends (right-aligned numbers).
  for (const char* column : {"status", "problem", "topology", "step_rule"}) {
    const std::size_t at = rows[0].find(std::string(" ") + column) + 1;
    for (const auto& row : rows) {
      INFO(row);
      CHECK(row[at - 1] == ' ');
      CHECK(row[at] != ' ');
    }
  }
  const std::size_t end = rows[0].find("consensus") + std::string("consensus").size();
  for (const auto& row : rows) CHECK(row.size() == end);
}

TEST_CASE("dposg info --csv parses as CSV with one row per run and the final metrics", "[sweep][cli][info]") {
  TempDir dir;
  REQUIRE(run_cli("sweep --grid topology=ring,complete --grid noise=0.1,0.02 --iters 60 --out i.h5 --quiet", dir)
              .code == 0);
  const auto table = run_cli("info i.h5", dir);
  REQUIRE(table.code == 0);
  // In the order given (the file lists the runs alphabetically).
  CHECK(table.out.find("sweep grid: topology = ring, complete; noise = 0.1, 0.02; seed = 0") != std::string::npos);
  const auto r = run_cli("info i.h5 --csv", dir);
  REQUIRE(r.code == 0);
  const auto rows = parse_csv(r.out);
  REQUIRE(rows.size() == 5);
  const auto& header = rows[0];
  for (const auto& row : rows) CHECK(row.size() == header.size());
  auto column = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t run_col = column("run"), status_col = column("status"), g_col = column("final_grad_norm_sq"),
                    rho_col = column("rho"), topo_col = column("topology"), noise_col = column("noise");
  auto reader = ResultsReader::open(dir / "i.h5");
  std::set<std::string> seen;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    INFO(row[run_col]);
    seen.insert(row[run_col]);  // run names hold commas: quoted in the CSV
    CHECK(row[status_col] == "finished");
    CHECK(std::stod(row[g_col]) == reader->metric(row[run_col], "grad_norm_sq").back());
    CHECK(std::isfinite(std::stod(row[rho_col])));
    CHECK(row[run_col].find("topology=" + row[topo_col] + ",noise=" + row[noise_col] + ",") == 0);
  }
  CHECK(seen.size() == 4);
  CHECK(seen.count("topology=ring,noise=0.02,seed=0"));
}

TEST_CASE("sweep progress goes to a terminal only", "[sweep][cli]") {
  TempDir dir;
  if (std::system("command -v script >/dev/null 2>&1") != 0) {
    WARN("`script` (util-linux) not found: the terminal progress display is not tested");
    return;
  }
  // `script` gives the sweep a pseudo-terminal; its output (stdout and stderr) lands in tty.txt.
  const std::string cmd = "cd '" + dir.path.string() + "' && script -qec \"" + DPOSG_CLI +
                          " sweep --grid rounds=1,2 --iters 2000 --jobs 1 --out p.h5\" tty.txt >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string tty = dposg::test::slurp(dir / "tty.txt");
  CHECK(tty.find("runs done") != std::string::npos);
  CHECK(tty.find("left") != std::string::npos);
}

TEST_CASE("a run whose metadata a kill cut mid-flush is redone; /runs is rebuilt without it",
          "[sweep]") {
  TempDir dir;
  const std::string path = dir / "d.h5";
  {
    auto file = ResultsFile::open(path);
    auto w = file->create_run("x", {{"sweep_options", AttrValue(std::string("seed=0"))}});
    w->set_attr("more", AttrValue(1.0));
  }
  // Damage the run's object header as a torn write would: its checksum no longer matches.
  haddr_t addr = 0;
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    H5O_info_t info;
    REQUIRE(H5Oget_info_by_name(f, "/runs/x", &info, H5P_DEFAULT) >= 0);
    addr = info.addr;
    H5Fclose(f);
  }
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(addr) + 8);
    const std::string junk(24, '\xA5');
    io.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto file = ResultsFile::open(path);
  REQUIRE(file->has_run("x"));
  CHECK_THROWS(file->run_status("x"));  // the damage is real
  SweepRun run;
  run.name = "x";
  run.options_key = "seed=0";
  CHECK(plan_sweep(*file, {run}, ResumePolicy{}) == std::vector<ResumeAction>{ResumeAction::redo});
  REQUIRE_NOTHROW(file->remove_run("x"));
  CHECK_FALSE(file->has_run("x"));
  auto w = file->create_run("x");  // the name is free again
  w.reset();
  file.reset();
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  CHECK(H5Lexists(f, "/damaged", H5P_DEFAULT) > 0);
  CHECK(H5Lexists(f, "/damaged/runs", H5P_DEFAULT) > 0);  // the old /runs, the damaged run only there
  CHECK(H5Lexists(f, "/damaged/runs/x", H5P_DEFAULT) > 0);
  H5Fclose(f);
}
