// ctest-label: integration
// No silent acceptance: every input below is one line on stderr naming the option, exit 2, and
// nothing on disk.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_harness.hpp"

using dposg::test::run_cli;
using dposg::test::TempDir;

namespace {

std::size_t h5_files(const TempDir& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) n += e.path().extension() == ".h5";
  return n;
}

}  // namespace

TEST_CASE("bad input is one line naming the option, exit 2, nothing created") {
  TempDir dir;
  std::filesystem::create_directories(dir / "cfgdir");
  {
    std::ofstream bin(dir / "bin.cfg", std::ios::binary);
    const char bytes[] = {'\x7f', 'E', 'L', 'F', '\x02', '\x01', '\x00', '\x1b', '[', '2', 'J', '\n'};
    bin.write(bytes, sizeof bytes);
    std::ofstream(dir / "neg.cfg") << "seed = -1\n";
    std::ofstream(dir / "eps.cfg") << "eps = 1e-6\n";
  }
  const std::pair<const char*, const char*> cases[] = {
      {"run extra", "unexpected argument 'extra'"},
      {"run --config cfgdir", "--config: 'cfgdir' is a directory"},
      {"run --seed -1", "--seed: must be a non-negative decimal integer, got '-1'"},
      {"run --config neg.cfg", "--seed: must be a non-negative decimal integer"},
      {"run --seed 18446744073709551616", "--seed"},
      {"run --lr 0x10", "--lr: expected a number or 'theorem', got '0x10'"},
      {"run --noise 0x1", "--noise"},
      {"run --iters 0x10", "--iters"},
      {"run --run-name a/b", "--run-name: invalid run name 'a/b'"},
      {"run --run-name é", "--run-name: invalid run name"},
      {"run --config bin.cfg", "--config: 'bin.cfg' is not a text file"},
      {"run --topology-file w.h5", "--topology-file: applies only to --topology file"},
      {"run --gan-downscale 2", "--gan-downscale: applies only to --problem gan-fashion"},
      {"run --eps 1e-3", "--eps: applies only to --step-rule oadam"},
      {"run --config eps.cfg", "--eps: applies only to --step-rule oadam"},
      {"run --threads -1", "--threads: must be >= 0"},
      {"verify --threads -2", "--threads: must be >= 0"},
  };
  for (const auto& [args, expected] : cases) {
    INFO(args);
    const auto r = run_cli(args, dir);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(expected) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find('\x1b') == std::string::npos);
    CHECK(h5_files(dir) == 0);
  }
}

TEST_CASE("options that apply are still taken, from the command line or a config file") {
  TempDir dir;
  std::ofstream(dir / "oadam.cfg") << "step-rule = oadam\neps = 1e-6\n";
  CHECK(run_cli("run --step-rule oadam --eps 1e-3 --beta1 0.5 --iters 3 --out a.h5", dir).code == 0);
  CHECK(run_cli("run --config oadam.cfg --iters 3 --out b.h5", dir).code == 0);
  CHECK(run_cli("run --seed 18446744073709551615 --iters 3 --out c.h5", dir).code == 0);
}
