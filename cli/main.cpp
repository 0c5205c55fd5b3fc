// dposg: decentralized parallel optimistic stochastic gradient testbed.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "app/option_names.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/mpi_backend.hpp"
#include "core/recorder.hpp"

namespace {
const char* kUsage =
    "usage: dposg <command> [options]   (dposg <command> --help for its options)\n"
    "commands:\n"
    "  run        run DPOSG (or a relative) on one problem and record it to HDF5\n"
    "  topology   print W's spectrum, rho, rho^t and the closed form where one exists\n"
    "  sweep      run a grid of experiments (options x seeds) into one HDF5 file, in parallel, resumable\n"
    "  plot       render PNG figures (gnuplot) of an HDF5 results file\n"
    "  verify     check the paper's claims (Theorem 1, Lemmas 1 and 3, Remark 2, Corollary 1, ...)\n"
    "  info       summarise an HDF5 results file\n"
    "  resume     continue the interrupted runs of a results file from their checkpoints\n"
    "  merge      join the results files of one sweep (its --shard parts, or an MPI sweep's rank files)\n";
}

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  // Past `ulimit -f` a write fails with EFBIG instead of the process dying of SIGXFSZ: the
  // recorder then says so in one line and keeps the results file as of its last flush.
  std::signal(SIGXFSZ, SIG_IGN);
  dposg::app::install_option_names();
  // Sub-commands parse their options from argv[1..] (argv[1] plays the program name's part).
  const char* const* sub_argv = argv + 1;
  const int sub_argc = argc - 1;
  try {
    if (command == "run") return dposg::cli::run_command(sub_argc, sub_argv);
    if (command == "topology") return dposg::cli::topology_command(sub_argc, sub_argv);
    if (command == "info") return dposg::cli::info_command(sub_argc, sub_argv);
    if (command == "sweep") return dposg::cli::sweep_command(sub_argc, sub_argv);
    if (command == "merge") return dposg::cli::merge_command(sub_argc, sub_argv);
    if (command == "plot") return dposg::cli::plot_command(sub_argc, sub_argv);
    if (command == "verify") return dposg::cli::verify_command(sub_argc, sub_argv);
    if (command == "resume") return dposg::cli::resume_command(sub_argc, sub_argv);
    std::cerr << "dposg: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const dposg::ReportedError& e) {
    return e.exit_code();
  } catch (const dposg::InputError& e) {
    if (dposg::mpi_world_rank() <= 0) std::cerr << "dposg " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    if (dposg::mpi_world_rank() <= 0) std::cerr << "dposg " << command << ": error: " << e.what() << "\n";
    if (dposg::results_file_poisoned()) {
      // No atexit clean-up: HDF5 would try to close the file whose write failed (and may crash).
      std::cerr.flush();
      std::fflush(stdout);
      std::_Exit(1);
    }
    return 1;
  }
}
