// ctest-label: integration
// `dposg sweep` checks its options as `dposg run` does (cli/options.cpp check_numbers,
// check_applicable), whether fixed or grid values: one line naming the option, exit 2, no file.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <string>

#include "cli_harness.hpp"

using dposg::test::run_cli;
using dposg::test::TempDir;

TEST_CASE("sweep options are validated like run options, fixed or on the grid", "[sweep][input]") {
  TempDir dir;
  const std::pair<const char*, const char*> cases[] = {
      {"sweep extra", "unexpected argument 'extra'"},
      {"sweep --grid lr=0x10,0.1", "--lr: expected a number"},
      {"sweep --grid seed=-1,2", "--seed: must be a non-negative decimal integer, got '-1'"},
      {"sweep --batch 0x2", "'--batch' is invalid"},
      {"sweep --eps 1e-3", "--eps: applies only to --step-rule oadam"},
      {"sweep --grid eps=1e-3,1e-4", "--eps: applies only to --step-rule oadam"},
      {"sweep --grid topology-file=a.txt", "--topology-file: applies only to --topology file"},
      {"sweep --threads -2", "--threads: must be >= 0"},
  };
  for (const auto& [args, text] : cases) {
    INFO(args);
    const auto r = run_cli(std::string(args) + " --iters 5 --jobs 1 --out s.h5", dir);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(text) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(dir / "s.h5"));
  }
  // What applies is accepted: --eps with oadam on the grid.
  const auto ok = run_cli("sweep --step-rule oadam --grid eps=1e-3,1e-4 --iters 5 --jobs 1 --out s.h5", dir);
  INFO(ok.err);
  CHECK(ok.code == 0);
}
