#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "theory_checks/verify.hpp"

namespace dposg::cli {

int verify_command(int argc, const char* const argv[]) {
  bool quick = false, full = false;
  std::vector<std::string> only;
  std::string out = "dposg-verify.h5";
  std::uint64_t seed = 0;
  int threads = 0;
  std::string check_help = "run only this check (repeatable):";
  for (const auto& c : verify::checks()) check_help += "\n  " + c.name + " (" + c.run_time + "): " + c.title;
  po::options_description desc("Verify");
  desc.add_options()
      ("quick", po::bool_switch(&quick), "CI size (the default): about 13 s on 2 cores, all checks")
      ("full", po::bool_switch(&full), "study size: more seeds, longer runs, larger M")
      ("check", po::value(&only)->composing(), check_help.c_str())
      ("out", po::value(&out)->default_value(out), "HDF5 file for every run and the table (/verify/<check>/<row>)")
      ("seed", po::value(&seed)->default_value(seed), "first seed")
      ("threads", po::value(&threads)->default_value(threads), "OpenMP threads; 0 = default");
  if (!parse(argc, argv, desc,
             "usage: dposg verify [--quick | --full] [--check NAME ...]\n"
             "Checks the paper's claims; exits 1 if any row fails or a check has no row that could have\n"
             "failed (all vacuous, info or n/a). REFUTED rows (the paper's claim contradicted inside its\n"
             "assumptions) are findings and do not fail the command."))
    return 0;
  if (quick && full) throw InputError("--quick and --full: choose one");
  verify::Options opt;
  opt.size = full ? verify::Size::full : verify::Size::quick;
  opt.only = only;
  opt.seed = seed;
  if (threads < 0) throw InputError("--threads: must be >= 0 (0 = OpenMP's default), got " + std::to_string(threads));
  opt.threads = threads;
  opt.progress = isatty(STDERR_FILENO) != 0;
  for (const auto& name : only) {
    bool known = false;
    for (const auto& c : verify::checks()) known = known || c.name == name;
    if (!known) throw InputError("--check: unknown check '" + name + "'");
  }
  auto file = ResultsFile::open(out);
  opt.out = file.get();
  const auto start = std::chrono::steady_clock::now();
  const auto rows = verify::run_checks(opt);
  const bool ok = verify::print_table(rows, stdout);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int fails = 0;
  for (const auto& r : rows) fails += r.status == verify::Status::fail;
  std::printf("\n%s: %zu rows, %d failed, %.1f s; everything measured is in %s\n", ok ? "PASS" : "FAIL", rows.size(),
              fails, secs, out.c_str());
  return ok ? 0 : 1;
}

}  // namespace dposg::cli
