// ctest-label: unit
// The CIFAR-10 binary loader (data/cifar.hpp) on files this test writes byte by byte: the record
// layout (label, then the red, green and blue planes, row-major), the [-1, 1] scaling, the order of
// the five training batches; every kind of damage is one InputError naming --data-dir; and
// --problem gan-cifar10 (both architectures, --gan-shard) and `dposg run` on such a folder.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "app/problem_catalog.hpp"
#include "cifar_files.hpp"
#include "cli_harness.hpp"
#include "core/error.hpp"
#include "data/cifar.hpp"
#include "gan/gan_problem.hpp"

using dposg::Index;
using dposg::InputError;
using dposg::test::TempDir;
using dposg::test::record;
using dposg::test::write_batch;
using dposg::test::write_bytes;
using dposg::test::write_folder;

namespace {

void refused(const std::function<void()>& f, const std::string& part) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.rfind("--data-dir: ", 0) == 0);
    CHECK(what.find(part) != std::string::npos);
    CHECK(what.find('\n') == std::string::npos);
    return;
  }
  FAIL("no InputError (" << part << ")");
}

}  // namespace

TEST_CASE("cifar: a record is a label byte and three 32 x 32 planes, scaled to [-1, 1]", "[data][cifar]") {
  TempDir dir;
  write_batch(dir / "b.bin", 3, 7);
  const auto set = dposg::data::read_cifar10_file(dir / "b.bin");
  REQUIRE(set.count() == 3);
  CHECK(set.channels == 3);
  CHECK(set.height == 32);
  CHECK(set.width == 32);
  REQUIRE(set.images.rows() == 3072);
  CHECK(set.labels == std::vector<int>{7, 8, 9});
  for (int k = 0; k < 3; ++k) {
    const auto r = record(set.labels[static_cast<std::size_t>(k)], k);
    for (int c = 0; c < 3; ++c)
      for (int y : {0, 5, 31})
        for (int x : {0, 13, 31}) {
          const Index row = c * 1024 + y * 32 + x;
          CHECK(set.images(row, k) == Approx(2.0 * r[static_cast<std::size_t>(1 + row)] / 255.0 - 1.0).margin(1e-15));
        }
  }
  // 0 -> -1 and 255 -> 1 exactly.
  std::vector<unsigned char> extremes(3073, 0);
  for (int i = 1 + 1024; i < 3073; ++i) extremes[static_cast<std::size_t>(i)] = 255;
  write_bytes(dir / "e.bin", extremes);
  const auto e = dposg::data::read_cifar10_file(dir / "e.bin");
  CHECK(e.images(0, 0) == -1.0);
  CHECK(e.images(1024, 0) == 1.0);
  CHECK(e.images(3071, 0) == 1.0);
}

TEST_CASE("cifar: the training split is the five batches in order, the test split test_batch.bin", "[data][cifar]") {
  TempDir dir;
  write_folder(dir, 2);
  const auto train = dposg::data::load_cifar10(dir.path.string(), "train");
  REQUIRE(train.count() == 10);
  CHECK(train.labels == std::vector<int>{2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
  const auto test = dposg::data::load_cifar10(dir.path.string(), "test");
  CHECK(test.labels == std::vector<int>{0, 1});
}

TEST_CASE("cifar: every kind of damage is one line naming --data-dir", "[data][cifar]") {
  TempDir dir;
  using dposg::data::load_cifar10;
  using dposg::data::read_cifar10_file;
  refused([&] { load_cifar10(dir / "nowhere", "train"); }, "cifar-10-binary.tar.gz");
  refused([&] { load_cifar10("", "train"); }, "cifar-10-binary.tar.gz");
  write_bytes(dir / "plain-file", {1, 2, 3});
  refused([&] { load_cifar10(dir / "plain-file", "train"); }, "not a folder");
  write_folder(dir, 1);
  std::filesystem::remove(dir / "data_batch_3.bin");
  refused([&] { load_cifar10(dir.path.string(), "train"); }, "data_batch_3.bin");
  write_bytes(dir / "empty.bin", {});
  refused([&] { read_cifar10_file(dir / "empty.bin"); }, "is empty");
  std::vector<unsigned char> two = record(1, 0);
  const auto second = record(2, 1);
  two.insert(two.end(), second.begin(), second.end());
  std::vector<unsigned char> truncated(two.begin(), two.end() - 1), padded = two;
  padded.push_back(0);
  write_bytes(dir / "truncated.bin", truncated);
  write_bytes(dir / "padded.bin", padded);
  refused([&] { read_cifar10_file(dir / "truncated.bin"); }, "6145 bytes");
  refused([&] { read_cifar10_file(dir / "padded.bin"); }, "6147 bytes");
  std::vector<unsigned char> bad_label = two;
  bad_label[3073] = 10;
  write_bytes(dir / "label.bin", bad_label);
  refused([&] { read_cifar10_file(dir / "label.bin"); }, "record 1 has label 10");
  std::filesystem::create_directory(dir / "a-folder.bin");
  refused([&] { read_cifar10_file(dir / "a-folder.bin"); }, "no CIFAR-10 file");
}

TEST_CASE("cifar: gan-cifar10 runs both architectures, and --gan-shard splits its classes", "[gan][cifar]") {
  TempDir dir;
  write_folder(dir, 8);  // 40 training images, 4 of each class
  dposg::ProblemOptions o;
  o.name = "gan-cifar10";
  o.data_dir = dir.path.string();
  o.gan_width = 2;
  o.gan_depth = 1;
  o.gan_latent = 3;
  o.gan_shard = true;
  for (const std::string arch : {"mlp", "dcgan"}) {
    INFO(arch);
    o.gan_arch = arch;
    o.gan_classifier = dir / (arch + "-classifier.h5");  // dcgan scores with a conv classifier
    o.gan_activation = arch == "dcgan" ? "leaky-relu" : "relu";
    const auto p = dposg::make_problem(o);
    auto* g = dynamic_cast<dposg::gan::GanProblem*>(p.get());
    REQUIRE(g != nullptr);
    CHECK(g->data().dim() == 3072);
    if (arch == "dcgan") CHECK(g->conv_generator().shape().channels == 3);
    dposg::Rng rng(1);
    const dposg::Vector z = g->initial_point(rng);
    // Worker i of 4 draws only classes k = i mod 4 (red (0, 0) holds 20 k, i.e. 2 * 20 k / 255 - 1).
    for (Index i = 0; i < 4; ++i) {
      const auto b = g->draw_batch(rng, 16, i, 4);
      for (Index j = 0; j < b.real.cols(); ++j) {
        const int label = static_cast<int>(std::lround((b.real(0, j) + 1.0) * 255.0 / 2.0 / 20.0));
        CHECK(label % 4 == i);
      }
      dposg::Vector gz(g->dim());
      g->operator_on(z, b, gz);
      CHECK(gz.allFinite());
    }
  }
  CHECK(std::filesystem::exists(dir / "mlp-classifier.h5"));
  CHECK(std::filesystem::exists(dir / "dcgan-classifier.h5"));
}

TEST_CASE("cifar: dposg run --problem gan-cifar10 reads --data-dir, refuses a missing one in one line",
          "[gan][cifar][cli]") {
  TempDir dir;
  write_folder(dir, 4);
  const std::string common = "run --problem gan-cifar10 --gan-classifier '" + (dir / "c.h5") +
                             "' --gan-arch dcgan --gan-width 2 --gan-latent 4 --gan-loss wgan-gp --workers 2 "
                             "--topology ring --iters 2 --batch 2 --eval-batch 2 --init problem --log-every 1";
  const auto ok = dposg::test::run_cli(common + " --eval-workers 2 --data-dir '" + dir.path.string() + "' --out r.h5", dir);
  INFO(ok.err);
  CHECK(ok.code == 0);
  // The conv classifier's scores, at z̄ and as the band over two workers (the summary lists them).
  for (const char* metric : {"is_classifier ", "kid_classifier ", "fd_classifier ", "is_classifier_min ", "is_classifier_max "})
    CHECK(ok.out.find(metric) != std::string::npos);
  const auto missing = dposg::test::run_cli(common + " --data-dir '" + (dir / "none") + "' --out s.h5", dir);
  CHECK(missing.code == 2);
  CHECK(missing.err.find("--data-dir: ") != std::string::npos);
  CHECK(missing.err.find("cifar-10-binary.tar.gz") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "s.h5"));
  const auto wrong = dposg::test::run_cli("run --problem gan-fashion --data-dir x --out t.h5", dir);
  CHECK(wrong.code == 2);
  CHECK(wrong.err.find("--data-dir: applies only to --problem gan-cifar10") != std::string::npos);
}
