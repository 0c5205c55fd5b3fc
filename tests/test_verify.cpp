// ctest-label: integration
#include <catch2/catch.hpp>

#include <H5Cpp.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <sstream>

#include "cli_harness.hpp"
#include "core/recorder.hpp"
#include "theory_checks/verify.hpp"

using namespace dposg;
using namespace dposg::verify;

namespace {

std::vector<Row> run_one(const std::string& check, const Injection& inj = {}) {
  Options o;
  o.size = Size::quick;
  o.only = {check};
  o.inject = inj;
  return run_checks(o);
}

int failures(const std::vector<Row>& rows) {
  int n = 0;
  for (const auto& r : rows) n += r.status == Status::fail && !r.control;
  return n;
}

bool failed(const std::vector<Row>& rows, const std::string& claim_part) {
  for (const auto& r : rows)
    if (r.status == Status::fail && r.claim.find(claim_part) != std::string::npos) return true;
  return false;
}

}  // namespace

// Each check passes as shipped and fails when its claim is broken on purpose.

TEST_CASE("theorem1 passes, and fails when L is understated so the step size leaves the theorem", "[verify]") {
  CHECK(failures(run_one("theorem1")) == 0);
  Injection inj;
  inj.stated_L_scale = 1e-3;
  // The sampled Lipschitz ratio exposes the misstated L, and the theorem is then not claimed.
  const auto rows = run_one("theorem1", inj);
  CHECK(failed(rows, "A1(i)"));
  for (const auto& r : rows)
    if (r.claim.find("<= RHS") != std::string::npos) CHECK(r.status != Status::pass);
}

TEST_CASE("t-rounds passes, and fails with a mixer with a wrong weight", "[verify]") {
  CHECK(failures(run_one("t-rounds")) == 0);
  Injection inj;
  inj.ring_self_weight = 0.5;
  CHECK(failed(run_one("t-rounds", inj), "2 log rho"));
}

TEST_CASE("lemma1 passes, and fails for disagreeing workers judged with an understated sigma", "[verify]") {
  CHECK(failures(run_one("lemma1")) == 0);
  Injection inj;
  inj.stated_sigma_scale = 1e-3;
  CHECK(failed(run_one("lemma1", inj), "g(Z_k)"));
}

TEST_CASE("remark2 passes, and fails for a ring with a wrong weight", "[verify]") {
  CHECK(failures(run_one("remark2")) == 0);
  Injection inj;
  inj.ring_self_weight = 0.5;
  CHECK(failed(run_one("remark2", inj), "ring: max over M"));
}

TEST_CASE("corollary1 passes, and fails when workers share their noise", "[verify]") {
  CHECK(failures(run_one("corollary1")) == 0);
  Injection inj;
  inj.shared_noise = true;
  CHECK(failed(run_one("corollary1", inj), "varying M"));
}

TEST_CASE("special-cases passes, and fails when a ring is compared with CPOSG", "[verify]") {
  CHECK(failures(run_one("special-cases")) == 0);
  Injection inj;
  inj.special_case_wrong_topology = true;
  CHECK(failed(run_one("special-cases", inj), "CPOSG"));
}

TEST_CASE("negative-control passes on forsaken, and fails when given a problem that satisfies (iv)", "[verify]") {
  const auto rows = run_one("negative-control");
  CHECK(failures(rows) == 0);
  // The theorem is never claimed on the negative control.
  for (const auto& r : rows)
    if (r.claim.find("not claimed") != std::string::npos) CHECK(r.status == Status::not_applicable);
  Injection inj;
  inj.negative_control_problem = "star";
  CHECK(failed(run_one("negative-control", inj), "found violated"));
}

TEST_CASE("dposg verify --quick passes, prints the table and writes every row and run to HDF5", "[verify]") {
  dposg::test::TempDir dir;
  const auto r = dposg::test::run_cli("verify --quick --out v.h5", dir);
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("PASS:") != std::string::npos);
  const std::regex row_re(R"((theorem1|t-rounds|t-needed|lemma1|lemma2|lemma3|remark2|corollary1|special-cases|negative-control|compression|one-peer) .*(PASS|FAIL|info|n/a|vacuous|REFUTED))");
  int table_rows = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) table_rows += std::regex_search(line, row_re);
  {
    auto reader = ResultsReader::open(dir / "v.h5");
    CHECK(reader->runs().size() > 20);
    for (const auto& run : reader->runs()) CHECK(reader->summary(run).status != "running");
  }
  H5::Exception::dontPrint();
  // Every table row is a group /verify/<check>/rowNNN with the table's columns as attributes.
  H5::H5File f(dir / "v.h5", H5F_ACC_RDONLY);
  int stored = 0;
  H5::Group v = f.openGroup("verify");
  for (hsize_t i = 0; i < v.getNumObjs(); ++i) {
    H5::Group g = v.openGroup(v.getObjnameByIdx(i));
    for (hsize_t j = 0; j < g.getNumObjs(); ++j) {
      H5::Group row = g.openGroup(g.getObjnameByIdx(j));
      CHECK(row.attrExists("measured"));
      CHECK(row.attrExists("status"));
      ++stored;
    }
  }
  CHECK(stored == table_rows);
  CHECK(stored > 40);
}

TEST_CASE("a check's rows replace the ones of an earlier verify in the same file, stale rows and all", "[verify]") {
  dposg::test::TempDir dir;
  const std::string path = dir / "v.h5";
  {
    auto file = ResultsFile::open(path);
    file->replace_records("verify", "lemma1", {{"row000", {{"status", std::string("PASS")}}},
                                               {"row001", {{"status", std::string("PASS")}}},
                                               {"row002", {{"status", std::string("FAIL")}}}});
    file->replace_records("verify", "lemma3", {{"row000", {{"status", std::string("PASS")}}}});
    file->replace_records("verify", "lemma1", {{"row000", {{"status", std::string("vacuous")}}}});
  }
  H5::Exception::dontPrint();
  H5::H5File f(path, H5F_ACC_RDONLY);
  CHECK(f.openGroup("verify/lemma1").getNumObjs() == 1);
  CHECK(f.openGroup("verify/lemma3").getNumObjs() == 1);
  std::string status;
  const H5::Attribute a = f.openGroup("verify/lemma1/row000").openAttribute("status");
  a.read(a.getStrType(), status);
  CHECK(status == "vacuous");
}

bool has(const std::vector<Row>& rows, Status st, const std::string& claim_part) {
  for (const auto& r : rows)
    if (r.status == st && r.claim.find(claim_part) != std::string::npos) return true;
  return false;
}

TEST_CASE("theorem1: the vacuous row says so, the informative row carries weight and its control fails it", "[verify]") {
  const auto rows = run_one("theorem1");
  CHECK(has(rows, Status::vacuous, "sum_k ||g(z̄_k)||^2 <= RHS"));
  CHECK(has(rows, Status::pass, "informative"));
  CHECK(has(rows, Status::fail, "control: the informative row with a biased oracle"));
  std::FILE* sink = std::fopen("/dev/null", "w");
  REQUIRE(sink != nullptr);
  // The control's FAIL is what makes the table good; an unbiased "control" passes and spoils it.
  CHECK(print_table(rows, sink));
  Injection blunt;
  blunt.control_bias_scale = 0.0;
  const auto unbiased = run_one("theorem1", blunt);
  CHECK(has(unbiased, Status::pass, "control: the informative row with a biased oracle"));
  CHECK_FALSE(print_table(unbiased, sink));
  std::fclose(sink);
  for (const auto& r : rows)
    if (r.claim.find("informative") != std::string::npos && r.claim.find("control") == std::string::npos)
      CHECK(r.expected < 0.05 * 30.7);  // RHS well below G^2 of star d = 10
}

TEST_CASE("remark2 and lemma1 report their bounds that cannot fail as vacuous", "[verify]") {
  const auto r2 = run_one("remark2");
  CHECK(has(r2, Status::vacuous, "t = 1:"));
  CHECK(has(r2, Status::vacuous, "t = 2:"));
  CHECK(has(r2, Status::pass, "t = 3:"));
  const auto l1 = run_one("lemma1");
  CHECK(has(l1, Status::vacuous, "g(Z_k)"));
  CHECK(has(l1, Status::pass, "consensus bound behind it"));
}

TEST_CASE("Lemma 3 and Lemma 2 as printed are refuted at large M, reproducibly; the corrected bounds pass", "[verify]") {
  for (const std::string check : {"lemma3", "lemma2"}) {
    INFO(check);
    const auto rows = run_one(check);
    CHECK(failures(rows) == 0);
    CHECK(has(rows, Status::pass, "M = 4: "));
    CHECK(has(rows, Status::refuted, "M = 1024: "));
    CHECK(has(rows, Status::refuted, "M = 256: "));
    int corrected = 0;
    for (const auto& r : rows)
      if (r.claim.find("(corrected)") != std::string::npos) {
        CHECK(r.status == Status::pass);
        ++corrected;
      }
    CHECK(corrected == 5);
    // The same seed gives the same table: the refutation is not a fluctuation of one run.
    const auto again = run_one(check);
    REQUIRE(again.size() == rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) CHECK(again[i].measured == rows[i].measured);
    // A corrected bound can fail: fed a sigma 10x too small, it does.
    Injection inj;
    inj.stated_sigma_scale = 0.1;
    CHECK(failed(run_one(check, inj), "(corrected)"));
  }
}

TEST_CASE("t-needed: the measured t sits beside t_min, against a CPOSG reference loop", "[verify]") {
  const auto rows = run_one("t-needed");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == Status::pass);
  CHECK(carries_weight(rows[0]));
  CHECK(rows[0].measured >= 1);
  CHECK(rows[0].measured <= rows[0].expected);
}

TEST_CASE("print_table: a check with only vacuous rows makes the table fail; refuted rows do not", "[verify]") {
  std::vector<Row> rows = {make_row("a", "x", 1, "<=", 2, Status::vacuous, "bound >= 1"),
                           make_row("b", "y", 3, "<=", 2, Status::refuted)};
  std::FILE* null = std::fopen("/dev/null", "w");
  CHECK_FALSE(print_table(rows, null));
  rows.push_back(make_row("a", "z", 1, "<=", 2, Status::pass));
  CHECK(print_table(rows, null));
  Row premise = make_row("c", "A1(i)", 1, "<=", 2, Status::pass);
  premise.premise = true;
  rows.push_back(premise);
  CHECK_FALSE(print_table(rows, null));  // a premise alone does not make a claim checked
  std::fclose(null);
}

TEST_CASE("dposg verify rejects an unknown check with exit code 2 and no file", "[verify]") {
  dposg::test::TempDir dir;
  const auto r = dposg::test::run_cli("verify --check theorem9 --out v.h5", dir);
  CHECK(r.code == 2);
  CHECK(r.err.find("--check") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "v.h5"));
}
