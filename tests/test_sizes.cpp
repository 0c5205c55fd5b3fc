// ctest-label: unit
// Sizes are checked before they are allocated, and an allocation that fails inside an OpenMP
// region reaches the caller as an exception instead of std::terminate.
#include <omp.h>

#include <catch2/catch.hpp>
#include <new>
#include <stdexcept>
#include <string>

#include "cli_harness.hpp"
#include "core/omp_exceptions.hpp"
#include "gan_test_support.hpp"

using namespace dposg;

TEST_CASE("an exception thrown by one thread of an OpenMP region is rethrown after it") {
  OmpExceptions errors;
  int done = 0;
#pragma omp parallel for schedule(static) num_threads(4) reduction(+ : done)
  for (int i = 0; i < 64; ++i) {
    errors.run([&] {
      if (i == 37) throw std::runtime_error("column 37");
      ++done;
    });
  }
  CHECK(done == 63);
  CHECK_THROWS_WITH(errors.rethrow(), "column 37");
}

TEST_CASE("a GAN batch too large to allocate throws std::bad_alloc out of sample(), no terminate") {
  ProblemOptions o;
  o.name = "gan-mog8";
  o.gan_width = 6;
  o.gan_depth = 2;
  o.gan_latent = 3;
  auto p = test::make_gan(o);
  const Index M = 4;
  const Matrix Z = test::worker_points(*p, M, 3);
  WorkerRngs rngs(5, M);
  Matrix G;
  omp_set_num_threads(2);
  CHECK_THROWS_AS(p->sample(Z, Index{1} << 52, rngs, G), std::bad_alloc);
  // The problem still works afterwards.
  WorkerRngs again(5, M);
  p->sample(Z, 8, again, G);
  CHECK(G.allFinite());
}

TEST_CASE("sizes beyond the machine's memory are refused before allocation, naming the option") {
  test::TempDir dir;
  const std::pair<const char*, const char*> cases[] = {
      {"run --problem gan-mog8 --eval-batch 1000000000000000 --iters 1", "--eval-batch: the run needs at least"},
      {"run --problem gan-mog8 --batch 1000000000000000 --iters 1", "--batch: the run needs at least"},
      {"run --problem gan-mog25 --total-batch 8000000000000000 --workers 8", "--total-batch: the run needs at least"},
      {"run --workers 100000000000", "--workers: the run needs at least"},
      {"run --dim 100000000000", "--dim: the run needs at least"},
  };
  for (const auto& [args, expected] : cases) {
    INFO(args);
    const auto r = test::run_cli(std::string(args) + " --out r.h5", dir);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(expected) != std::string::npos);
    CHECK(r.err.find("available") != std::string::npos);
    CHECK(!std::filesystem::exists(dir / "r.h5"));
  }
}
