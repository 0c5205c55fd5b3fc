// ctest-label: integration
// A file with one damaged run (its object header overwritten, as a kill in the middle of a flush
// can leave it): `dposg info`, `dposg plot` and notebooks/dposg_results.py read every other run
// and name the damaged one instead of refusing the file.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_harness.hpp"

using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

// Overwrites the first bytes of /runs/<run>'s object header with zeros.
void damage_run(const std::string& path, const std::string& run) {
  haddr_t addr = 0;
  {
    H5::H5File f(path, H5F_ACC_RDONLY);
    H5O_info_t info;
    REQUIRE(H5Oget_info_by_name(f.getId(), ("runs/" + run).c_str(), &info, H5P_DEFAULT) >= 0);
    addr = info.addr;
  }
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(static_cast<std::streamoff>(addr));
  const std::string zeros(64, '\0');
  io.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
}

}  // namespace

TEST_CASE("a damaged run is named, info, plot and the Python helper read the others") {
  TempDir dir;
  for (const char* name : {"a", "b", "c"})
    REQUIRE(run_cli(std::string("run --iters 50 --out r.h5 --run-name ") + name, dir).code == 0);
  damage_run(dir / "r.h5", "b");

  const auto info = run_cli("info r.h5 --csv", dir);
  CHECK(info.code == 0);
  CHECK(info.out.find("\na,finished,6,") != std::string::npos);
  CHECK(info.out.find("\nb,damaged,0,") != std::string::npos);
  CHECK(info.out.find("\nc,finished,6,") != std::string::npos);
  CHECK(info.err.find("run 'b' is damaged") != std::string::npos);

  const auto plot = run_cli("plot r.h5 --out plots", dir);
  INFO(plot.err);
  CHECK(plot.code == 0);
  CHECK(plot.err.find("run 'b' is damaged") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "plots/grad_norm.png"));

  const std::string probe = "/usr/bin/python3 -c 'import h5py, pandas' 2>/dev/null";
  if (std::system(probe.c_str()) != 0) {
    WARN("skipped the Python helper: /usr/bin/python3 has no h5py or pandas");
    return;
  }
  const std::string out = dir / "py.txt";
  const std::string py = "cd '" + dir.path.string() + "' && /usr/bin/python3 -c \"import sys; sys.path.insert(0, '" +
                         std::string(DPOSG_SOURCE_DIR) + "/notebooks'); import dposg_results as d; "
                         "t = d.runs_table('r.h5'); print(sorted(zip(t.run, t.status, t.rows))); "
                         "print(sorted(d.all_metrics('r.h5').run.unique()))\" >'" + out + "' 2>&1";
  CHECK(std::system(py.c_str()) == 0);
  const std::string got = dposg::test::slurp(out);
  INFO(got);
  CHECK(got.find("('a', 'finished', 6), ('b', 'damaged', 0), ('c', 'finished', 6)") != std::string::npos);
  CHECK(got.find("['a', 'c']") != std::string::npos);
  CHECK(got.find("run 'b' is damaged") != std::string::npos);
}
