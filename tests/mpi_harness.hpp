#pragma once
// Runs `mpirun -np P dposg ARGS` as a user would, like run_cli (cli_harness.hpp) runs `dposg ARGS`, and
// reads what it wrote. run_mpi exists where DPOSG_MPIEXEC is defined (the build's MPIEXEC_EXECUTABLE,
// tests/CMakeLists.txt).
#include <H5Cpp.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cli_harness.hpp"
#include "core/types.hpp"

namespace dposg::test {

#ifdef DPOSG_MPIEXEC
// `mpirun` of several app contexts (MPMD: "-np 1 dposg ARGS_A : -np 1 dposg ARGS_B"), ranks numbered
// in their order: each app is (ranks, dposg's arguments). As root Open MPI needs --allow-run-as-root;
// --oversubscribe lets P exceed the cores. `env`: -x NAME=VALUE options.
inline CliResult run_mpi_apps(const std::vector<std::pair<int, std::string>>& apps, const TempDir& dir,
                              const std::string& env = "") {
  const std::string out = dir / "mpi-stdout.txt", err = dir / "mpi-stderr.txt";
  // Each job's Open MPI session directory in its own TMPDIR: concurrent mpiruns (ctest -j) that
  // share /tmp/ompi.HOST.UID now and then end a finished job with "process rank 1 with PID 0 ...
  // exiting improperly" (Open MPI 4.1, open-mpi/ompi#12607, #9389; seen once in this suite).
  const std::string tmp = dir / "ompi-tmp";
  std::filesystem::create_directories(tmp);
  std::string cmd = "cd '" + dir.path.string() + "' && TMPDIR='" + tmp + "' timeout 120 " + std::string(DPOSG_MPIEXEC) +
                    " --allow-run-as-root --oversubscribe " + env;
  for (std::size_t i = 0; i < apps.size(); ++i)
    cmd += (i ? " : -np " : " -np ") + std::to_string(apps[i].first) + " " + DPOSG_CLI + " " + apps[i].second;
  cmd += " >'" + out + "' 2>'" + err + "' </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline CliResult run_mpi(int ranks, const std::string& args, const TempDir& dir, const std::string& env = "") {
  return run_mpi_apps({{ranks, args}}, dir, env);
}
#endif

// The final z̄ of `run` in the results file at `path` (/runs/<run>/final/z_bar).
inline Vector final_z_bar(const std::string& path, const std::string& run) {
  H5::H5File f(path, H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet("/runs/" + run + "/final/z_bar");
  hsize_t n = 0;
  ds.getSpace().getSimpleExtentDims(&n);
  Vector v(static_cast<Index>(n));
  ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
  return v;
}

}  // namespace dposg::test
