// ctest-label: integration
// Issue #19: text attributes are variable-length UTF-8 (format_version 2; h5py reads them as str),
// files of format_version 1 (fixed-length strings) still read and take new runs; --metrics
// chooses what a run logs.
#include <catch2/catch.hpp>

#include <H5Cpp.h>

#include <filesystem>
#include <variant>

#include "cli_harness.hpp"
#include "core/recorder.hpp"

using namespace dposg;
using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

// Every text attribute of `obj` rewritten as format_version 1 wrote it: fixed-length, NUL-terminated.
void to_fixed_length(H5::H5Object& obj) {
  std::vector<std::pair<std::string, std::string>> texts;
  for (int i = 0; i < obj.getNumAttrs(); ++i) {
    H5::Attribute a = obj.openAttribute(static_cast<unsigned>(i));
    if (a.getTypeClass() != H5T_STRING) continue;
    std::string v;
    a.read(a.getStrType(), v);
    texts.emplace_back(a.getName(), v);
  }
  for (const auto& [name, v] : texts) {
    obj.removeAttr(name);
    H5::StrType t(H5::PredType::C_S1, v.size() + 1);
    t.setCset(H5T_CSET_UTF8);
    H5::Attribute a = obj.createAttribute(name, t, H5::DataSpace(H5S_SCALAR));
    a.write(t, v.c_str());
  }
}

bool is_variable_string(const H5::H5Object& obj, const char* name) {
  H5::Attribute a = obj.openAttribute(name);
  return H5Tis_variable_str(a.getStrType().getId()) > 0;
}

}  // namespace

TEST_CASE("text attributes: variable-length UTF-8 in format 2; a format-1 file reads and takes new runs", "[recorder]") {
  TempDir dir;
  REQUIRE(run_cli("run --iters 10 --run-name a --quiet --out r.h5", dir).code == 0);
  {
    H5::H5File f(dir / "r.h5", H5F_ACC_RDWR);
    std::int64_t version = 0;
    f.openAttribute("format_version").read(H5::PredType::NATIVE_INT64, &version);
    CHECK(version == 2);
    H5::Group run = f.openGroup("runs/a");
    CHECK(is_variable_string(run, "status"));
    CHECK(is_variable_string(run, "topology"));
    CHECK(is_variable_string(f, "dposg_version"));
    // Now make it a file of format 1.
    to_fixed_length(f);
    to_fixed_length(run);
    version = 1;
    f.openAttribute("format_version").write(H5::PredType::NATIVE_INT64, &version);
    CHECK_FALSE(is_variable_string(run, "status"));
  }
  {
    auto reader = ResultsReader::open(dir / "r.h5");
    const RunSummary s = reader->summary("a");
    CHECK(s.status == "finished");
    bool topology = false;
    for (const auto& [n, v] : s.attrs)
      if (n == "topology") topology = std::get<std::string>(v) == "ring";
    CHECK(topology);
  }
  // A new run appended to the old file; both read.
  REQUIRE(run_cli("run --iters 10 --run-name b --quiet --out r.h5", dir).code == 0);
  const auto info = run_cli("info r.h5 --csv", dir);
  REQUIRE(info.code == 0);
  CHECK(info.out.find("\na,finished,") != std::string::npos);
  CHECK(info.out.find("\nb,finished,") != std::string::npos);
}

TEST_CASE("metric selection: --metrics logs the chosen metrics and the iteration; an unknown name is one line, exit 2",
          "[recorder][cli]") {
  TempDir dir;
  REQUIRE(run_cli("run --iters 10 --metrics 'consensus_error, grad_norm_sq' --quiet --out r.h5", dir).code == 0);
  {
    auto reader = ResultsReader::open(dir / "r.h5");
    const RunSummary s = reader->summary(reader->runs().front());
    CHECK(s.metric_names == std::vector<std::string>{"consensus_error", "grad_norm_sq", "iteration"});
    CHECK(reader->metric(s.name, "grad_norm_sq").size() == 2);
  }
  // The default: every contract metric.
  REQUIRE(run_cli("run --iters 10 --quiet --out all.h5", dir).code == 0);
  {
    auto reader = ResultsReader::open(dir / "all.h5");
    const auto names = reader->summary(reader->runs().front()).metric_names;
    for (const char* m : {"grad_norm_sq", "consensus_error", "grad_dispersion", "dist_to_solution", "bytes_busiest",
                          "wall_time_s", "iteration"})
      CHECK(std::find(names.begin(), names.end(), m) != names.end());
  }
  // A GAN's own metrics can be chosen; a name the run does not log is refused before any file exists.
  REQUIRE(run_cli("run --problem gan-mog8 --gan-width 8 --workers 2 --iters 2 --metrics mmd --quiet --out g.h5", dir).code == 0);
  for (const char* bad : {"--metrics bogus", "--metrics mmd", "--metrics grad_norm_sq,grad_norm_sq", "--metrics ,"}) {
    INFO(bad);
    const auto r = run_cli(std::string("run --iters 2 ") + bad + " --out bad.h5", dir);
    CHECK(r.code == 2);
    CHECK(r.err.rfind("dposg run: --metrics: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(dir / "bad.h5"));
  }
}
