#pragma once
// `dposg verify`: the paper's claims as checks that can fail. Each check runs experiments through
// the same engine as `dposg run`, compares what it measured with the claim's bound or expected
// value, and returns table rows; every run and every row is written to the results file.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "app/experiment.hpp"
#include "core/recorder.hpp"

namespace dposg::verify {

// vacuous: the row would pass, but its bound is implied by a trivial one (the reason is in the
// note), so it could not have failed. refuted: the paper's claim is contradicted inside its own
// assumptions; that is a finding about the paper, not a failure of the code, so it does not fail
// the command.
enum class Status { pass, fail, info, not_applicable, vacuous, refuted };
const char* to_string(Status s);

struct Row {
  std::string check;
  std::string claim;
  double measured = std::numeric_limits<double>::quiet_NaN();
  std::string relation;  // "<=", ">=", "~=", "info"
  double expected = std::numeric_limits<double>::quiet_NaN();
  double margin = std::numeric_limits<double>::quiet_NaN();  // see `margin_kind`
  std::string margin_kind;  // e.g. "measured/bound", "rel. error", "tolerance"
  Status status = Status::info;
  std::string note;
  bool premise = false;  // an Assumption 1 row: what a claim stands on, not the claim
  // A negative control: the claim's own comparison on a deliberately broken instance, which must
  // come out FAIL (it shows the comparison can); its FAIL does not fail the command, a PASS does.
  bool control = false;
};

// A verdict that could have gone the other way: pass, fail or refuted on a row that is neither a
// premise nor a control.
bool carries_weight(const Row& r);

// Deliberate faults, so that tests can show each check fails when its claim is broken.
struct Injection {
  double ring_self_weight = 0.0;   // > 0: gossip uses a ring with this self weight (not 1/3)
  double stated_L_scale = 1.0;     // the theorem is fed L * scale (< 1 understates L)
  bool shared_noise = false;       // every worker sees the same noise (no averaging across workers)
  bool special_case_wrong_topology = false;  // special cases compared on a ring instead of W = 11^T/M
  double stated_sigma_scale = 1.0; // Lemma 1's bound is fed sigma * scale
  std::string negative_control_problem = "forsaken";  // the problem expected to violate (iv)
  bool compression_without_error_feedback = false;  // the error-feedback runs of `compression` run without it
  double control_bias_scale = 1.0;  // theorem1's control oracle is biased by this times sqrt(3 RHS) (0: unbiased)
};

enum class Size { quick, full };

struct Options {
  Size size = Size::quick;
  std::uint64_t seed = 0;
  int threads = 0;
  std::vector<std::string> only;  // check names; empty = all
  Injection inject;
  ResultsFile* out = nullptr;
  bool progress = false;  // one line per experiment on stderr
};

Row make_row(const std::string& check, const std::string& claim, double measured, const std::string& relation,
             double expected, Status status, const std::string& note = "");

struct CheckInfo {
  std::string name;
  std::string title;
  // Wall time measured on 2 cores (Release build): --quick, and --full where it was measured.
  std::string run_time;
};
const std::vector<CheckInfo>& checks();

// Runs the selected checks; throws InputError for an unknown check name.
std::vector<Row> run_checks(const Options& opt);

// Prints the table; returns true when no row but a control failed, every control failed, and every
// check that ran has a row that carries weight (a check whose rows are all vacuous or
// informational validated nothing).
bool print_table(const std::vector<Row>& rows, std::FILE* to);

// ---- shared by the checks -------------------------------------------------------------------

struct Trace {
  std::vector<MetricsRow> rows;
  RunOutcome outcome;
  TheoremQuantities theorem;
  ProblemConstants constants;
  double rho = 0, rho_t = 0, eta = 0;
  std::string run_name;
  // Time average over k = 0..N-1 of a metric logged every iteration.
  double time_average(const std::string& metric) const;
  // Mean over the logged rows with iteration >= from.
  double tail_mean(const std::string& metric, std::int64_t from) const;
};

class Context {
 public:
  explicit Context(const Options& o) : opt(o) {}
  const Options& opt;
  std::vector<Row> rows;
  bool quick() const { return opt.size == Size::quick; }

  // Runs one experiment, logging every iteration unless the config says otherwise; `parts` may
  // replace parts that the config would build (a faulty mixer, a wrapped problem: PartOverrides);
  // `attrs` are the claim's quantities, written as run attributes.
  Trace run(ExperimentConfig c, const std::string& name,
            const PartOverrides& parts = {},
            const std::vector<std::pair<std::string, AttrValue>>& attrs = {});
  void add(Row r) { rows.push_back(std::move(r)); }
};

// The problem with its stated L and sigma scaled: what a user who misstates the constants runs.
std::unique_ptr<Problem> with_stated_constants(std::unique_ptr<Problem> p, double L_scale, double sigma_scale);

// A number for a note: 4 significant digits.
std::string short_number(double v);

// Statistics.
double mean(const std::vector<double>& v);
double std_error(const std::vector<double>& v);
// Least-squares slope of y against x.
double slope(const std::vector<double>& x, const std::vector<double>& y);

// OSG on the star game of dimension 10 with this noise and step (the checks' common setting).
ExperimentConfig star_osg_config(double noise, const std::string& lr, std::uint64_t seed);

// CPOSG (every worker restarts from the exact average of x) or, for M = 1, OSG of equation (2):
// a plain loop over the problem's operator and noise streams (those of a run with this seed),
// returning ||g(z̄_k)||^2 for k = 0..N.
std::vector<double> plain_loop(const Problem& p, Index M, double eta, std::int64_t N, Index batch, std::uint64_t seed);

// Assumption 1 checked numerically on a problem (sampled Lipschitz ratios, <g(x), x - x*>, the
// bound G on the ball, the noise variance against sigma^2/m); adds rows and returns whether
// (i)-(iv) all held.
bool check_assumption1(Context& ctx, const std::string& check, const Problem& p, std::uint64_t seed);

// The checks (one per claim of the paper).
void check_theorem1(Context& ctx);
void check_t_rounds(Context& ctx);
void check_lemma1(Context& ctx);
void check_remark2(Context& ctx);
void check_corollary1(Context& ctx);
void check_special_cases(Context& ctx);
void check_negative_control(Context& ctx);
void check_compression(Context& ctx);
void check_lemma2(Context& ctx);
void check_lemma3(Context& ctx);
void check_t_needed(Context& ctx);
void check_one_peer(Context& ctx);

}  // namespace dposg::verify
