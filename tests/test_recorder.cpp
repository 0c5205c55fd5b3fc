// ctest-label: unit
// Tests of core/recorder: the HDF5 layout of DESIGN.md §4, read back through ResultsReader, the raw
// HDF5 C API and (when available) h5py; status visibility from another process; SIGKILL safety;
// bad inputs.
//
// Visibility "on disk" is checked from a child process (fork + exec of this test binary running
// the hidden test case "recorder child reader"), because a second open of a file inside one
// process shares HDF5's in-memory state and so proves nothing about the disk. The child opens the
// file with ResultsReader, which disables HDF5 file locking, while the writer still holds it.
#include <H5Cpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/recorder.hpp"

namespace fs = std::filesystem;
using namespace dposg;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dposg_recorder_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool have_h5py() {
  return std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0;
}

const AttrValue* find_attr(const RunSummary& s, const std::string& name) {
  for (const auto& [n, v] : s.attrs)
    if (n == name) return &v;
  return nullptr;
}

Matrix test_matrix(Index rows, Index cols, double offset) {
  Matrix m(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) m(i, j) = offset + 10.0 * static_cast<double>(i) + j + 0.5;
  return m;
}

// Reads a 2-D dataset with the raw C API: dims and row-major data.
std::vector<double> raw_read_2d(const std::string& path, const std::string& name, hsize_t dims[2]) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  REQUIRE(d >= 0);
  hid_t s = H5Dget_space(d);
  REQUIRE(H5Sget_simple_extent_ndims(s) == 2);
  H5Sget_simple_extent_dims(s, dims, nullptr);
  std::vector<double> buf(dims[0] * dims[1]);
  REQUIRE(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return buf;
}

// Runs the hidden test case "recorder child reader" in a fresh process; true when it passed. It
// leaves a marker file when it got to the end (Catch2 v2 exits with 0 when no test matches).
bool child_reader_sees(const std::string& path, const std::string& run, const std::string& status,
                       std::int64_t rows) {
  const std::string marker = path + ".child_ok";
  std::error_code ec;
  fs::remove(marker, ec);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv("DPOSG_REC_FILE", path.c_str(), 1);
    ::setenv("DPOSG_REC_RUN", run.c_str(), 1);
    ::setenv("DPOSG_REC_STATUS", status.c_str(), 1);
    ::setenv("DPOSG_REC_ROWS", std::to_string(rows).c_str(), 1);
    ::setenv("DPOSG_REC_MARKER", marker.c_str(), 1);
    if (std::FILE* null = std::fopen("/dev/null", "w")) ::dup2(::fileno(null), 1);
    ::execl("/proc/self/exe", "test_recorder", "recorder child reader", (char*)nullptr);
    ::_exit(127);
  }
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && fs::exists(marker);
  fs::remove(marker, ec);
  return ok;
}

MetricsRow make_row(std::int64_t k) {
  MetricsRow r;
  r.iteration = 10 * k;
  r.set("grad_norm_sq", 1.0 / static_cast<double>(k + 1));
  r.set("consensus_error", 0.5 * static_cast<double>(k));
  r.set("wall_time_s", 1e-3 * static_cast<double>(k));
  return r;
}

// Forks a writer that appends forever, kills it with SIGKILL `delay` after its first flushed rows,
// and returns once it is dead. The run it leaves is `run`.
void write_then_sigkill(const std::string& path, const std::string& run, double delay_s) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      auto file = ResultsFile::open(path);
      auto w = file->create_run(run);
      w->set_attr("workers", AttrValue(std::int64_t{4}));
      for (std::int64_t k = 0; k < 10; ++k) w->append(make_row(k));
      w->flush(true);
      char c = 'x';
      if (::write(fds[1], &c, 1) != 1) ::_exit(4);
      for (std::int64_t k = 10;; ++k) {
        w->append(make_row(k));
        if (k % 500 == 0) w->set_attr("progress", AttrValue(static_cast<double>(k)));
        ::usleep(100);
      }
    } catch (...) {
      ::_exit(3);
    }
  }
  ::close(fds[1]);
  char c = 0;
  ssize_t got = ::read(fds[0], &c, 1);
  ::close(fds[0]);
  if (got != 1) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    FAIL("the writer child failed before its first flush (status " << st << ")");
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  REQUIRE(WIFSIGNALED(st));
  REQUIRE(WTERMSIG(st) == SIGKILL);
}

void check_killed_run(const std::string& path, const std::string& run) {
  std::unique_ptr<ResultsReader> r;
  REQUIRE_NOTHROW(r = ResultsReader::open(path));
  RunSummary s = r->summary(run);
  CHECK(s.status == "running");
  CHECK(s.rows >= 10);
  auto it = r->iterations(run);
  REQUIRE(static_cast<std::int64_t>(it.size()) == s.rows);
  for (std::size_t k = 0; k < it.size(); ++k) REQUIRE(it[k] == 10 * static_cast<std::int64_t>(k));
  CHECK(s.metric_names.size() == 4);
  for (const auto& name : s.metric_names) {
    auto v = r->metric(run, name);
    REQUIRE(v.size() == it.size());
  }
  auto g = r->metric(run, "grad_norm_sq");
  for (std::size_t k = 0; k < g.size(); ++k) REQUIRE(g[k] == 1.0 / static_cast<double>(k + 1));
  // The writer can open the file again and add a run (no h5clear needed). In one process a
  // file open read-only cannot be opened read-write as well: close the reader first.
  r.reset();
  auto f = ResultsFile::open(path);
  CHECK(f->run_status(run) == "running");
  REQUIRE_NOTHROW(f->create_run(run + "_after"));
}

}  // namespace

TEST_CASE("recorder child reader", "[.child]") {
  // Run by child_reader_sees() in a separate process; does nothing when run by hand.
  const char* path = std::getenv("DPOSG_REC_FILE");
  if (!path) return;
  auto r = ResultsReader::open(path);
  RunSummary s = r->summary(std::getenv("DPOSG_REC_RUN"));
  REQUIRE(s.status == std::getenv("DPOSG_REC_STATUS"));
  REQUIRE(s.rows == std::stoll(std::getenv("DPOSG_REC_ROWS")));
  std::ofstream(std::getenv("DPOSG_REC_MARKER")) << "ok\n";
}

TEST_CASE("recorder round trip of attributes, metrics, problem and final data", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("results.h5");
  const std::string run = "star_lr=0.1,M-8.seed_3";
  const int n_rows = 2500;  // crosses chunk boundaries (1024)
  const Matrix A = test_matrix(3, 5, 0.0);
  const Matrix Z = test_matrix(4, 2, 100.0);
  Vector b(3);
  b << 1.0, -2.0, 3.25;
  Vector zv = Vector::LinSpaced(7, 0.0, 6.0);
  {
    auto file = ResultsFile::open(path);
    CHECK(file->path() == path);
    CHECK(file->runs().empty());
    auto w = file->create_run(run);
    CHECK(file->has_run(run));
    CHECK(file->run_status(run) == "running");
    w->set_attr("workers", AttrValue(std::int64_t{8}));
    w->set_attr("seed", AttrValue(std::int64_t{-3}));
    w->set_attr("rho", AttrValue(0.97));
    w->set_attr("topology", AttrValue(std::string("ring")));
    w->set_attr("unicode", AttrValue(std::string("\xce\xbc-\xcf\x83 ok")));  // "μ-σ ok"
    w->set_attr("empty", AttrValue(std::string()));
    w->set_attr("spectrum", std::vector<double>{1.0, 0.5, -0.25});
    std::vector<double> big(10000);  // 80 KB: over the 64 KiB limit of compact attributes
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<double>(i);
    w->set_attr("big", big);
    w->set_attr("lr", AttrValue(0.1));
    w->set_attr("lr", AttrValue(0.2));                      // overwritten
    w->set_attr("kind", AttrValue(std::int64_t{1}));
    w->set_attr("kind", AttrValue(std::string("changed")));  // overwritten with another type
    for (int k = 0; k < n_rows; ++k) w->append(make_row(k));
    InstanceWriter& p = w->problem_group();
    p.matrix("A", A);
    p.vector("b", b);
    p.scalar("L", 2.5);
    p.text("description", "star-convex toy");
    w->write_final("z_bar_matrix", Z);
    w->write_final("z_bar", zv);
    w->set_status("finished");
  }

  auto r = ResultsReader::open(path);
  CHECK(r->runs() == std::vector<std::string>{run});
  CHECK(std::get<std::int64_t>(r->root_attr("format_version")) == kFormatVersion);
  CHECK(std::get<std::string>(r->root_attr("dposg_version")) == kDposgVersion);
  CHECK_THROWS_AS(r->root_attr("nope"), InputError);

  RunSummary s = r->summary(run);
  CHECK(s.name == run);
  CHECK(s.status == "finished");
  CHECK(s.rows == n_rows);
  CHECK(s.metric_names ==
        std::vector<std::string>{"iteration", "consensus_error", "grad_norm_sq", "wall_time_s"});
  REQUIRE(find_attr(s, "workers"));
  CHECK(std::get<std::int64_t>(*find_attr(s, "workers")) == 8);
  CHECK(std::get<std::int64_t>(*find_attr(s, "seed")) == -3);
  CHECK(std::get<double>(*find_attr(s, "rho")) == 0.97);
  CHECK(std::get<double>(*find_attr(s, "lr")) == 0.2);
  CHECK(std::get<std::string>(*find_attr(s, "topology")) == "ring");
  CHECK(std::get<std::string>(*find_attr(s, "unicode")) == "\xce\xbc-\xcf\x83 ok");
  CHECK(std::get<std::string>(*find_attr(s, "empty")).empty());
  CHECK(std::get<std::string>(*find_attr(s, "kind")) == "changed");
  CHECK(std::get<std::string>(*find_attr(s, "spectrum")) == "[1, 0.5, -0.25]");
  CHECK(std::get<std::string>(*find_attr(s, "big")).rfind("[0, 1, 2, 3, ", 0) == 0);
  CHECK(std::get<std::string>(*find_attr(s, "status")) == "finished");

  auto it = r->iterations(run);
  auto itd = r->metric(run, "iteration");
  auto g = r->metric(run, "grad_norm_sq");
  auto c = r->metric(run, "consensus_error");
  auto t = r->metric(run, "wall_time_s");
  REQUIRE(it.size() == static_cast<std::size_t>(n_rows));
  REQUIRE(itd.size() == it.size());
  REQUIRE(g.size() == it.size());
  REQUIRE(c.size() == it.size());
  REQUIRE(t.size() == it.size());
  bool all_equal = true;
  for (int k = 0; k < n_rows; ++k) {
    MetricsRow row = make_row(k);
    all_equal = all_equal && it[k] == row.iteration && itd[k] == static_cast<double>(row.iteration) &&
                g[k] == row.get("grad_norm_sq") && c[k] == row.get("consensus_error") &&
                t[k] == row.get("wall_time_s");
  }
  CHECK(all_equal);
  CHECK(r->metric(run, "nope").empty());  // a metric the run does not have reads as empty
  CHECK_THROWS_AS(r->metric("nope", "grad_norm_sq"), InputError);
  CHECK_THROWS_AS(r->iterations("nope"), InputError);
  CHECK_THROWS_AS(r->summary("nope"), InputError);
  r.reset();

  SECTION("raw HDF5 C API: orientation, types, chunking") {
    hsize_t dims[2] = {0, 0};
    auto a = raw_read_2d(path, "/runs/" + run + "/problem/A", dims);
    REQUIRE(dims[0] == 3);
    REQUIRE(dims[1] == 5);
    for (Index i = 0; i < A.rows(); ++i)
      for (Index j = 0; j < A.cols(); ++j)
        CHECK(a[static_cast<std::size_t>(i * A.cols() + j)] == A(i, j));
    auto z = raw_read_2d(path, "/runs/" + run + "/final/z_bar_matrix", dims);
    REQUIRE(dims[0] == 4);
    REQUIRE(dims[1] == 2);
    for (Index i = 0; i < Z.rows(); ++i)
      for (Index j = 0; j < Z.cols(); ++j)
        CHECK(z[static_cast<std::size_t>(i * Z.cols() + j)] == Z(i, j));

    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    // String attribute (format_version 2): variable length, UTF-8 (h5py: str).
    hid_t grp = H5Gopen2(f, ("/runs/" + run).c_str(), H5P_DEFAULT);
    hid_t at = H5Aopen(grp, "topology", H5P_DEFAULT);
    hid_t tt = H5Aget_type(at);
    CHECK(H5Tget_class(tt) == H5T_STRING);
    CHECK(H5Tis_variable_str(tt) > 0);
    CHECK(H5Tget_cset(tt) == H5T_CSET_UTF8);
    H5Tclose(tt);
    H5Aclose(at);
    // Array attribute.
    hid_t sa = H5Aopen(grp, "spectrum", H5P_DEFAULT);
    double spec[3] = {0, 0, 0};
    CHECK(H5Aread(sa, H5T_NATIVE_DOUBLE, spec) >= 0);
    CHECK(spec[0] == 1.0);
    CHECK(spec[2] == -0.25);
    H5Aclose(sa);
    H5Gclose(grp);
    // iteration: int64, chunked, unlimited.
    hid_t d = H5Dopen2(f, ("/runs/" + run + "/metrics/iteration").c_str(), H5P_DEFAULT);
    hid_t dt = H5Dget_type(d);
    CHECK(H5Tget_class(dt) == H5T_INTEGER);
    CHECK(H5Tget_size(dt) == 8);
    H5Tclose(dt);
    hid_t sp = H5Dget_space(d);
    hsize_t cur = 0, mx = 0;
    H5Sget_simple_extent_dims(sp, &cur, &mx);
    CHECK(cur == static_cast<hsize_t>(n_rows));
    CHECK(mx == H5S_UNLIMITED);
    H5Sclose(sp);
    hid_t dcpl = H5Dget_create_plist(d);
    CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED);
    H5Pclose(dcpl);
    H5Dclose(d);
    // problem/L scalar, problem/b vector, final/z_bar vector, problem/description string.
    double L = 0;
    d = H5Dopen2(f, ("/runs/" + run + "/problem/L").c_str(), H5P_DEFAULT);
    CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &L) >= 0);
    CHECK(L == 2.5);
    H5Dclose(d);
    std::vector<double> bv(3);
    d = H5Dopen2(f, ("/runs/" + run + "/problem/b").c_str(), H5P_DEFAULT);
    CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, bv.data()) >= 0);
    CHECK(bv == std::vector<double>{1.0, -2.0, 3.25});
    H5Dclose(d);
    std::vector<double> zr(7);
    d = H5Dopen2(f, ("/runs/" + run + "/final/z_bar").c_str(), H5P_DEFAULT);
    CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, zr.data()) >= 0);
    for (int i = 0; i < 7; ++i) CHECK(zr[i] == zv(i));
    H5Dclose(d);
    d = H5Dopen2(f, ("/runs/" + run + "/problem/description").c_str(), H5P_DEFAULT);
    dt = H5Dget_type(d);
    std::vector<char> txt(H5Tget_size(dt) + 1, '\0');
    CHECK(H5Dread(d, dt, H5S_ALL, H5S_ALL, H5P_DEFAULT, txt.data()) >= 0);
    CHECK(std::string(txt.data()) == "star-convex toy");
    H5Tclose(dt);
    H5Dclose(d);
    H5Fclose(f);
  }

  SECTION("h5py reads the layout") {
    if (!have_h5py()) {
      WARN("/usr/bin/python3 with h5py not available: h5py check skipped");
      return;
    }
    const std::string script = tmp.file("check.py");
    std::ofstream(script) << R"PY(import sys, h5py, numpy as np
def s(x):
    return x.decode('utf-8') if isinstance(x, bytes) else str(x)
f = h5py.File(sys.argv[1], 'r')
assert int(f.attrs['format_version']) == 2
assert isinstance(f['runs'][sys.argv[2]].attrs['status'], str)  # variable-length UTF-8
assert s(f.attrs['dposg_version']) == '0.1.0'
r = f['runs'][sys.argv[2]]
A = r['problem/A'][()]
assert A.shape == (3, 5), A.shape
assert A[0, 1] == 1.5 and A[2, 0] == 20.5, A
assert r['final/z_bar_matrix'].shape == (4, 2)
assert s(r.attrs['status']) == 'finished'
assert s(r.attrs['topology']) == 'ring'
assert s(r.attrs['unicode']) == '\u03bc-\u03c3 ok'
assert int(r.attrs['workers']) == 8 and float(r.attrs['rho']) == 0.97
assert list(r.attrs['spectrum']) == [1.0, 0.5, -0.25]
assert r.attrs['big'].shape == (10000,) and r.attrs['big'][9999] == 9999.0
assert s(r['problem/description'][()]) == 'star-convex toy'
assert float(r['problem/L'][()]) == 2.5
lens = {len(d) for d in r['metrics'].values()}
assert lens == {2500}, lens
assert r['metrics/iteration'].dtype == np.int64
assert r['metrics/iteration'][2499] == 24990
assert r['metrics/grad_norm_sq'][3] == 0.25
)PY";
    const std::string cmd = "/usr/bin/python3 '" + script + "' '" + path + "' '" + run + "'";
    CHECK(std::system(cmd.c_str()) == 0);
  }
}

TEST_CASE("recorder back-fills NaN for metrics that appear or go missing", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("r.h5");
  {
    auto file = ResultsFile::open(path);
    auto w = file->create_run("r");
    for (int k = 0; k < 3; ++k) {
      MetricsRow row;
      row.iteration = k;
      row.set("a", k);
      w->append(row);
      if (k == 1) w->flush(true);  // rows 0-1 on disk, row 2 pending when "b" appears
    }
    for (int k = 3; k < 5; ++k) {
      MetricsRow row;
      row.iteration = k;
      row.set("b", 10 + k);  // new name, and a different order than the columns
      row.set("a", k);
      w->append(row);
    }
    MetricsRow row;
    row.iteration = 5;
    row.set("b", 15);  // "a" missing
    w->append(row);
  }
  auto r = ResultsReader::open(path);
  RunSummary s = r->summary("r");
  CHECK(s.rows == 6);
  CHECK(s.metric_names == std::vector<std::string>{"iteration", "a", "b"});
  auto a = r->metric("r", "a");
  auto b = r->metric("r", "b");
  auto it = r->iterations("r");
  REQUIRE(a.size() == 6);
  REQUIRE(b.size() == 6);
  CHECK(it == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
  for (int k = 0; k < 5; ++k) CHECK(a[k] == k);
  CHECK(std::isnan(a[5]));
  for (int k = 0; k < 3; ++k) CHECK(std::isnan(b[k]));
  for (int k = 3; k < 6; ++k) CHECK(b[k] == 10 + k);
}

TEST_CASE("recorder status is on disk at once, seen by another process", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("status.h5");
  auto file = ResultsFile::open(path);
  auto w = file->create_run("run1");
  CHECK(child_reader_sees(path, "run1", "running", 0));
  for (int k = 0; k < 5; ++k) w->append(make_row(k));
  w->set_status("finished");  // writes the pending rows too
  CHECK(file->run_status("run1") == "finished");
  CHECK(child_reader_sees(path, "run1", "finished", 5));
  // A reader in this process while the writer is open (HDF5 shares the open file).
  auto r = ResultsReader::open(path);
  CHECK(r->summary("run1").status == "finished");
  w->set_status("diverged");
  CHECK(r->summary("run1").status == "diverged");
  CHECK(child_reader_sees(path, "run1", "diverged", 5));
}

TEST_CASE("recorder survives SIGKILL of the writer", "[recorder]") {
  TempDir tmp;
  SECTION("a fresh file") {
    const std::string path = tmp.file("killed.h5");
    write_then_sigkill(path, "killed", 0.5);
    check_killed_run(path, "killed");
  }
  SECTION("a file with a finished run, killed several times") {
    const std::string path = tmp.file("killed2.h5");
    {
      auto file = ResultsFile::open(path);
      auto w = file->create_run("done");
      for (int k = 0; k < 1500; ++k) w->append(make_row(k));
      w->set_attr("rho", AttrValue(0.5));
      w->set_status("finished");
    }
    const double delays[] = {0.3, 0.55, 0.8};
    for (int i = 0; i < 3; ++i) {
      const std::string run = "killed" + std::to_string(i);
      write_then_sigkill(path, run, delays[i]);
      check_killed_run(path, run);
    }
    auto r = ResultsReader::open(path);
    CHECK(r->runs() == std::vector<std::string>{"done", "killed0", "killed0_after", "killed1",
                                                "killed1_after", "killed2", "killed2_after"});
    RunSummary s = r->summary("done");
    CHECK(s.status == "finished");
    CHECK(s.rows == 1500);
    CHECK(std::get<double>(*find_attr(s, "rho")) == 0.5);
    auto c = r->metric("done", "consensus_error");
    REQUIRE(c.size() == 1500);
    bool ok = true;
    for (int k = 0; k < 1500; ++k) ok = ok && c[k] == make_row(k).get("consensus_error");
    CHECK(ok);
  }
}

TEST_CASE("recorder rejects bad inputs with InputError", "[recorder]") {
  TempDir tmp;
  SECTION("missing directory: nothing created") {
    const std::string path = "/nonexistent/dir/x.h5";
    try {
      ResultsFile::open(path);
      FAIL("no exception");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("recorder.out"));
    }
    CHECK_FALSE(fs::exists(path));
    CHECK_THROWS_AS(ResultsReader::open(path), InputError);
  }
  SECTION("existing non-HDF5 file: unchanged") {
    const std::string path = tmp.file("notes.h5");
    std::ofstream(path, std::ios::binary) << "not an HDF5 file\n\x01\x02";
    const std::string before = read_bytes(path);
    try {
      ResultsFile::open(path);
      FAIL("no exception");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("not an HDF5 file"));
    }
    CHECK(read_bytes(path) == before);
    CHECK_THROWS_AS(ResultsReader::open(path), InputError);
    CHECK(read_bytes(path) == before);
  }
  SECTION("HDF5 file that is not a results file: unchanged") {
    const std::string path = tmp.file("other.h5");
    {
      H5::H5File f(path, H5F_ACC_TRUNC);
      f.createGroup("something");
    }
    const std::string before = read_bytes(path);
    try {
      ResultsFile::open(path);
      FAIL("no exception");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("not a dposg results file"));
    }
    CHECK(read_bytes(path) == before);
    CHECK_THROWS_AS(ResultsReader::open(path), InputError);
  }
  SECTION("a file another process writes: locked") {
    const char* locking = std::getenv("HDF5_USE_FILE_LOCKING");
    if (locking && std::string(locking) == "FALSE") {
      WARN("HDF5_USE_FILE_LOCKING=FALSE: lock check skipped");
      return;
    }
    const std::string path = tmp.file("locked.h5");
    int to_child[2], from_child[2];
    REQUIRE(::pipe(to_child) == 0);
    REQUIRE(::pipe(from_child) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        auto file = ResultsFile::open(path);
        char c = 'x';
        if (::write(from_child[1], &c, 1) != 1) ::_exit(4);
        // Hold the file until the parent is done.
        ::_exit(::read(to_child[0], &c, 1) == 1 ? 0 : 5);
      } catch (...) {
        ::_exit(3);
      }
    }
    char c = 0;
    REQUIRE(::read(from_child[0], &c, 1) == 1);
    try {
      ResultsFile::open(path);
      FAIL("no exception");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("in use by another process"));
    }
    CHECK(ResultsReader::open(path)->runs().empty());  // readers take no lock
    REQUIRE(::write(to_child[1], &c, 1) == 1);
    int st = 0;
    REQUIRE(::waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    CHECK_NOTHROW(ResultsFile::open(path));
  }
  SECTION("a directory") {
    CHECK_THROWS_AS(ResultsFile::open(tmp.dir.string()), InputError);
  }
  SECTION("run names") {
    const std::string path = tmp.file("names.h5");
    auto file = ResultsFile::open(path);
    file->create_run("a");
    try {
      file->create_run("a");
      FAIL("no exception");
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains("run 'a' already exists") && Catch::Contains(path));
    }
    for (const std::string bad : {"a/b", "", "a b", ".", "/a"}) {
      try {
        file->create_run(bad);
        FAIL("no exception for '" << bad << "'");
      } catch (const InputError& e) {
        CHECK_THAT(e.what(), Catch::Contains("recorder.run_name"));
      }
      CHECK_FALSE(file->has_run(bad));
      CHECK(file->run_status(bad).empty());
    }
    CHECK(file->runs() == std::vector<std::string>{"a"});
  }
}

TEST_CASE("recorder appends to an existing file, never truncates it", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("append.h5");
  {
    auto file = ResultsFile::open(path);
    auto w = file->create_run("A");
    for (int k = 0; k < 7; ++k) w->append(make_row(k));
    w->set_status("finished");
  }
  {
    auto file = ResultsFile::open(path);
    CHECK(file->runs() == std::vector<std::string>{"A"});
    CHECK(file->run_status("A") == "finished");
    auto w = file->create_run("B");
    for (int k = 0; k < 3; ++k) w->append(make_row(k));
    w->set_status("failed");
  }
  {
    auto r = ResultsReader::open(path);
    CHECK(r->runs() == std::vector<std::string>{"A", "B"});
    CHECK(r->summary("A").rows == 7);
    CHECK(r->summary("B").rows == 3);
    CHECK(r->summary("B").status == "failed");
  }
  SECTION("remove_run and re-create") {
    auto file = ResultsFile::open(path);
    file->remove_run("A");
    file->remove_run("missing");  // no-op
    CHECK_FALSE(file->has_run("A"));
    CHECK(file->run_status("A").empty());
    auto w = file->create_run("A");
    w->append(make_row(0));
    w.reset();
    file.reset();
    auto r = ResultsReader::open(path);
    CHECK(r->runs() == std::vector<std::string>{"A", "B"});
    CHECK(r->summary("A").rows == 1);
    CHECK(r->summary("A").status == "running");
  }
}

TEST_CASE("recorder: several writers on one file, writers outliving the file", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("multi.h5");
  std::unique_ptr<RunWriter> w1, w2;
  {
    auto file = ResultsFile::open(path);
    w1 = file->create_run("one");
    w2 = file->create_run("two");
  }
  for (int k = 0; k < 2000; ++k) {
    w1->append(make_row(k));
    if (k % 2 == 0) w2->append(make_row(k / 2));
  }
  w1->set_status("finished");
  w1.reset();
  w2.reset();
  auto r = ResultsReader::open(path);
  CHECK(r->summary("one").rows == 2000);
  CHECK(r->summary("one").status == "finished");
  CHECK(r->summary("two").rows == 1000);
  CHECK(r->summary("two").status == "running");
  CHECK(r->iterations("two").back() == 9990);
}

TEST_CASE("recorder: a run with no rows yet reads as empty", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("empty.h5");
  {
    auto file = ResultsFile::open(path);
    auto w = file->create_run("nothing");
    w->set_attr("workers", AttrValue(std::int64_t{2}));
    w->set_attr("none", std::vector<double>{});
  }
  auto r = ResultsReader::open(path);
  RunSummary s = r->summary("nothing");
  CHECK(s.status == "running");
  CHECK(s.rows == 0);
  CHECK(s.metric_names.empty());
  CHECK(r->metric("nothing", "grad_norm_sq").empty());
  CHECK(r->iterations("nothing").empty());
  REQUIRE(find_attr(s, "none"));
  CHECK(std::get<std::string>(*find_attr(s, "none")) == "[]");
}

TEST_CASE("recorder: an empty existing file is taken as a new results file", "[recorder]") {
  TempDir tmp;
  const std::string path = tmp.file("zero.h5");
  std::ofstream(path).close();  // e.g. left by a writer killed while creating the file
  REQUIRE(fs::file_size(path) == 0);
  {
    auto file = ResultsFile::open(path);
    file->create_run("x");
  }
  CHECK(ResultsReader::open(path)->runs() == std::vector<std::string>{"x"});
}
