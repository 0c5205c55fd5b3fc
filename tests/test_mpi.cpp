// ctest-label: mpi
// The MPI backend against the in-process simulator: `mpirun -np P dposg run --backend mpi` must log
// the same metrics and the same final z̄ as `dposg run` with the same options and seed, to
// round-off. Needs mpirun (the build's MPIEXEC_EXECUTABLE); run with `ctest --test-dir build -L mpi`.
#include <H5Cpp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "cifar_files.hpp"
#include "cli_harness.hpp"
#include "mpi_harness.hpp"
#include "run_attrs.hpp"
#include "core/recorder.hpp"
#include "core/types.hpp"

using dposg::test::CliResult;
using dposg::test::final_z_bar;
using dposg::test::run_cli;
using dposg::test::run_mpi;
using dposg::test::attr_double;
using dposg::test::TempDir;

namespace {

#ifdef DPOSG_MPIEXEC

// Relative 1e-10, with an absolute floor for quantities that are 0 up to round-off: the spread of
// workers that hold the same point (complete gossip, DQGAN's broadcast) is the rounding of z̄ = sum/M,
// whose summation order differs between one process and P.
bool close(double a, double b, double floor = 1e-20) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::abs(a - b) <= 1e-10 * std::max({std::abs(a), std::abs(b)}) + floor;
}

// `common`: the run's options up to --out. bytes_busiest is compared when the two backends count
// the same traffic (DQGAN's logical server model); a gossiping rank sends only its boundary columns.
void check_equivalent_run(const std::string& options, int ranks, bool same_bytes) {
  TempDir dir;
  const std::string common = options + " --seed 5 --quiet --run-name r --out ";
  const CliResult sim = run_cli("run " + common + "sim.h5", dir);
  REQUIRE(sim.code == 0);
  const CliResult mpi = run_mpi(ranks, "run --backend mpi " + common + "mpi.h5", dir);
  INFO(mpi.out << mpi.err);
  REQUIRE(mpi.code == 0);

  auto a = dposg::ResultsReader::open(dir / "sim.h5");
  auto b = dposg::ResultsReader::open(dir / "mpi.h5");
  const auto sa = a->summary("r");
  const auto sb = b->summary("r");
  CHECK(sb.status == "finished");
  REQUIRE(sa.rows == sb.rows);
  REQUIRE(sa.metric_names == sb.metric_names);
  int compared = 0;
  for (const auto& name : sa.metric_names) {
    if ((name == "bytes_busiest" && !same_bytes) || name.ends_with("_time_s")) continue;
    const auto x = a->metric("r", name), y = b->metric("r", name);
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO(name << " row " << i << ": sim " << x[i] << ", mpi " << y[i]);
      const bool spread = name == "consensus_error" || name == "grad_dispersion" || name == "grad_avg_gap_sq";
      CHECK(close(x[i], y[i], spread ? 1e-12 : 1e-20));
    }
    ++compared;
  }
  CHECK(compared >= 7);
  // The run mixed something: workers started apart.
  CHECK(a->metric("r", "consensus_error").front() > 1e-3);
  // ... and moved.
  const auto g = a->metric("r", "grad_norm_sq");
  CHECK(g.back() != g.front());
  a.reset();  // HDF5 refuses a second open of a file with other access properties
  b.reset();
  const dposg::Vector za = final_z_bar(dir / "sim.h5", "r"), zb = final_z_bar(dir / "mpi.h5", "r");
  REQUIRE(za.size() == zb.size());
  for (dposg::Index i = 0; i < za.size(); ++i) CHECK(close(za[i], zb[i]));
}

void check_equivalent(const std::string& problem, const std::string& topology, int ranks) {
  check_equivalent_run("--problem " + problem + " --topology " + topology +
                           " --workers 8 --rounds 2 --iters 60 --log-every 10 --noise 0.3 --init random"
                           " --init-spread 1",
                       ranks, false);
}

#endif

}  // namespace

#ifdef DPOSG_MPIEXEC

TEST_CASE("mpi backend: every metric and z-bar equal the in-process run", "[mpi]") {
  for (const std::string problem : {"star", "bilinear"})
    for (const std::string topology : {"ring", "torus", "random-ring", "complete"})
      for (const int ranks : {2, 4}) {
        SECTION(problem + " " + topology + " P=" + std::to_string(ranks)) {
          check_equivalent(problem, topology, ranks);
        }
      }
}

TEST_CASE("mpi backend: --noise-normals ziggurat equals the in-process run", "[mpi]") {
  // Each rank holds some workers' streams; the ziggurat's key is one word of each, so the split of
  // workers over ranks must not change a number.
  for (const int ranks : {2, 3})
    SECTION("P=" + std::to_string(ranks)) {
      check_equivalent_run("--problem star --noise-normals ziggurat --topology ring --workers 6 --rounds 2 --iters 60"
                           " --log-every 10 --noise 0.3 --init random --init-spread 1 --step-rule oadam --lr 0.02",
                           ranks, false);
    }
}

TEST_CASE("mpi backend: the dcgan WGAN-GP problem equals the in-process run", "[mpi]") {
  // A CIFAR-10 folder written here (8 images a batch) and its classifier, trained by the first run.
  TempDir data;
  dposg::test::write_folder(data, 8);
  check_equivalent_run("--problem gan-cifar10 --data-dir '" + data.path.string() + "' --gan-classifier '" +
                           (data / "c.h5") + "' --gan-arch dcgan --gan-width 2 --gan-latent 4 --gan-loss wgan-gp" +
                           " --topology ring --workers 4 --step-rule oadam --lr 1e-3 --batch 2 --eval-batch 2" +
                           " --iters 6 --log-every 2 --init random --init-spread 0.1 --eval-workers 2",
                       2, false);
}

TEST_CASE("mpi backend: the overlapped variant equals the in-process one", "[mpi]") {
  // --overlap exchanges on a second thread while the operator is evaluated; the numbers must not
  // depend on it. Star with d = 2 (a few columns) and bilinear.
  for (const std::string problem : {"star", "bilinear"})
    for (const std::string topology : {"ring", "random-ring", "complete"})
      for (const int ranks : {2, 4}) {
        SECTION(problem + " " + topology + " P=" + std::to_string(ranks)) {
          check_equivalent_run("--overlap --problem " + problem + " --topology " + topology +
                                   " --workers 8 --rounds 2 --iters 60 --log-every 10 --noise 0.3 --init random"
                                   " --init-spread 1 --step-rule oadam --lr 0.02",
                               ranks, false);
        }
      }
}

TEST_CASE("mpi backend: dqgan with rank 0 as server equals the in-process run", "[mpi]") {
  // Every compressor, with and without error feedback where it applies; the messages travel in the
  // wire format (Compressor::encode), so this also checks that decoding is exact.
  const std::vector<std::string> compressors{"none", "top-k --compress-ratio 0.3", "rand-k --compress-k 2", "sign",
                                             "qsgd --qsgd-levels 2"};
  for (const auto& comp : compressors)
    for (const bool ef : {false, true}) {
      if (ef && comp == "none") continue;
      for (const int ranks : {2, 4}) {
        SECTION(comp + (ef ? " +ef" : "") + " P=" + std::to_string(ranks)) {
          check_equivalent_run("--algorithm dqgan --topology complete --problem star --dim 6 --workers 8 --iters 60"
                               " --log-every 10 --noise 0.3 --init random --init-spread 1 --lr 0.05 --compressor " +
                                   comp + (ef ? " --error-feedback" : ""),
                               ranks, true);
        }
      }
    }
}

TEST_CASE("mpi backend: CHOCO gossip (compressed messages) equals the in-process run", "[mpi]") {
  // Fixed W: the messages go to the neighbouring ranks; random-ring and complete: to every rank.
  const std::vector<std::pair<std::string, std::string>> cases{{"ring", "top-k --compress-ratio 0.5"},
                                                               {"torus", "qsgd --qsgd-levels 2"},
                                                               {"random-ring", "rand-k --compress-k 2"},
                                                               {"complete", "sign"},
                                                               {"ring --overlap", "top-k --compress-k 3"}};
  for (const auto& [topology, comp] : cases)
    for (const int ranks : {2, 4}) {
      SECTION(topology + " " + comp + " P=" + std::to_string(ranks)) {
        check_equivalent_run("--problem star --dim 6 --topology " + topology + " --compressor " + comp +
                                 " --gossip-step 0.4 --workers 8 --rounds 2 --iters 60 --log-every 10 --noise 0.3"
                                 " --init random --init-spread 1",
                             ranks, false);
      }
    }
}

TEST_CASE("mpi backend: --net-latency/--net-bandwidth sleep the modelled time and change no number", "[mpi]") {
  TempDir dir;
  // P = 4 ranks, M = 4 workers, t = 1, N = 20: a ring round sends d doubles to each of 2
  // neighbours; the complete topology is the ring all-reduce, 2(P-1) steps of d/P doubles.
  const double L = 0.002, B = 1e7;
  const std::string common = " --problem star --workers 4 --rounds 1 --iters 20 --log-every 10 --quiet --out r.h5";
  for (const std::string topology : {"ring", "complete"}) {
    INFO(topology);
    REQUIRE(run_mpi(4, "run --backend mpi --topology " + topology + common + " --run-name plain", dir).code == 0);
    const CliResult r = run_mpi(4, "run --backend mpi --topology " + topology + common +
                                       " --run-name slow --net-latency 0.002 --net-bandwidth 1e7", dir);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    {
      auto f = dposg::ResultsReader::open(dir / "r.h5");
      const auto s = f->summary("slow");
      const double d = attr_double(s, "dim");
      const double model = topology == "ring" ? 20 * (L + 2 * d * 8 / B) : 20 * 2 * 3 * (L + d * 8 / 4 / B);
      CHECK(attr_double(s, "net_emulated_s") == Approx(model).epsilon(1e-12));
      CHECK(attr_double(s, "net_latency_s") == L);
      CHECK(f->metric("slow", "wall_time_s").back() >= model);
      for (const char* m : {"grad_norm_sq", "consensus_error", "z_bar_norm", "bytes_busiest"})
        CHECK(f->metric("slow", m) == f->metric("plain", m));
    }
    std::filesystem::remove(dir / "r.h5");
  }
  const CliResult bad = run_mpi(2, "run --backend mpi --net-latency -1 --quiet --out bad.h5", dir);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--net-latency") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.h5"));
}

TEST_CASE("mpi backend: bytes_busiest counts the busiest rank's boundary columns", "[mpi]") {
  TempDir dir;
  // Ring, M = 8: with P = 2 or 4 every rank sends one column to each side per round.
  const CliResult r = run_mpi(4, "run --backend mpi --problem star --workers 8 --topology ring --rounds 3 --iters 20"
                                 " --log-every 5 --quiet --run-name r --out r.h5", dir);
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto f = dposg::ResultsReader::open(dir / "r.h5");
  const auto bytes = f->metric("r", "bytes_busiest");
  const auto dim = std::get<std::int64_t>(dposg::test::run_attr(f->summary("r"), "dim"));
  CHECK(bytes.back() == 20.0 * 3 * 2 * static_cast<double>(dim) * 8);
}

TEST_CASE("mpi backend: CHOCO's bytes_busiest counts the encoded messages to the neighbouring ranks", "[mpi]") {
  TempDir dir;
  // Ring, M = 8, P = 4: per round every rank sends one message of ceil(bits/8) bytes to each side.
  const CliResult r = run_mpi(4, "run --backend mpi --problem star --dim 10 --workers 8 --topology ring --rounds 3"
                                 " --iters 20 --log-every 5 --compressor qsgd --gossip-step 0.5 --quiet --run-name r"
                                 " --out r.h5", dir);
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto f = dposg::ResultsReader::open(dir / "r.h5");
  const double bits = attr_double(f->summary("r"), "message_bits");
  CHECK(f->metric("r", "bytes_busiest").back() == 20.0 * 3 * 2 * std::ceil(bits / 8));
}

TEST_CASE("mpi backend: bad input is one line and exit code 2", "[mpi]") {
  TempDir dir;
  const CliResult r = run_mpi(3, "run --backend mpi --workers 8 --quiet --out r.h5", dir);
  CHECK(r.code == 2);
  CHECK(r.err.find("--workers: 8 is not a multiple of the number of MPI ranks 3") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
  const CliResult d = run_mpi(2, "run --backend mpi --algorithm dqgan --topology complete --overlap --quiet --out r.h5", dir);
  CHECK(d.code == 2);
  CHECK(d.err.find("--overlap: --algorithm dqgan") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "r.h5"));
}

#else

TEST_CASE("mpi backend: not built", "[mpi]") {
  WARN("this build has no MPI (DPOSG_HAVE_MPI off): nothing to test");
  TempDir dir;
  const CliResult r = run_cli("run --backend mpi --quiet --out r.h5", dir);
  CHECK(r.code == 2);
  CHECK(r.err.find("--backend") != std::string::npos);
}

#endif
