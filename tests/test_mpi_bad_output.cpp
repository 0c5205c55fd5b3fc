// ctest-label: mpi
// A bad --out under mpirun ends every rank within seconds with one line from rank 0 (it hung:
// rank 0 in MPI_Finalize, rank 1 spinning in the run's first collective call).
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>

#include "mpi_harness.hpp"

using dposg::test::TempDir;

#ifdef DPOSG_MPIEXEC
TEST_CASE("mpi: a bad --out ends the job with one line from rank 0") {
  TempDir dir;
  std::ofstream(dir / "text.h5") << "not hdf5\n";
  for (const char* out : {"/nonexistent/x.h5", "text.h5", "''"}) {
    INFO(out);
    const auto start = std::chrono::steady_clock::now();
    const auto r = dposg::test::run_mpi(2, std::string("run --backend mpi --iters 50 --out ") + out, dir);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK(r.code != 124);  // timeout 120 of run_mpi: the hang
    CHECK(seconds < 60);
    CHECK(r.err.find("dposg run: --out:") != std::string::npos);
  }
}
#endif
