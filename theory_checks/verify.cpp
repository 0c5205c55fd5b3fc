#include "theory_checks/verify.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/error.hpp"

namespace dposg::verify {

const char* to_string(Status s) {
  switch (s) {
    case Status::pass: return "PASS";
    case Status::fail: return "FAIL";
    case Status::info: return "info";
    case Status::not_applicable: return "n/a";
    case Status::vacuous: return "vacuous";
    case Status::refuted: return "REFUTED";
  }
  return "?";
}

bool carries_weight(const Row& r) {
  return !r.premise && !r.control && (r.status == Status::pass || r.status == Status::fail || r.status == Status::refuted);
}

Row make_row(const std::string& check, const std::string& claim, double measured, const std::string& relation,
             double expected, Status status, const std::string& note) {
  Row r;
  r.check = check;
  r.claim = claim;
  r.measured = measured;
  r.relation = relation;
  r.expected = expected;
  r.status = status;
  r.note = note;
  return r;
}

const std::vector<CheckInfo>& checks() {
  static const std::vector<CheckInfo> list = {
      {"theorem1", "Theorem 1: (1/N) sum E||g(z̄_k)||^2 <= RHS for t >= t_min, eta <= eta_max", "quick 2.9 s"},
      {"t-rounds", "Lemma 3 at Theorem 1's setting (M = 4); consensus falling like rho^{2t}", "quick 0.4 s"},
      {"lemma1", "Lemma 1: average of gradients vs gradient at the average", "quick 0.2 s, full 6.7 s"},
      {"remark2", "Remark 2: ring rho closed form; random mixing E||W_1..W_t - J|| <= sqrt(M-1)/sqrt(3)^t", "quick 0.2 s, full > 5 min"},
      {"corollary1", "Corollary 1: stationary ||g(z̄)||^2 scales like 1/(mM); --full follows M to 16384", "quick 2.8 s, full 15 min on a loaded machine"},
      {"special-cases", "Special cases: W = 11^T/M, t = 1 is CPOSG; M = 1, W = I is OSG", "quick 0.05 s"},
      {"negative-control", "Negative control: Assumption 1(iv) violated, the theorem not claimed", "quick 0.1 s"},
      {"compression", "DQGAN: biased compressors with error feedback reach the uncompressed level; without, they stall", "quick 4.0 s"},
      {"lemma2", "Lemma 2: spread of the workers' stochastic gradients, printed bound vs corrected, M = 4..1024", "quick 1.0 s"},
      {"t-needed", "the t-round bound measured: smallest t at which a ring's stationary ||g(z̄)||^2 is within 10% of CPOSG's, beside t_min (and random rings in --full)", "quick 0.2 s, full 20 s"},
      {"lemma3", "Lemma 3: mean mu_k, printed bound vs corrected, M = 4..1024 (W = 11^T/M); --full to M = 10^5, W = 11^T/M and a ring", "quick 1.1 s, full 2.4 min on a loaded machine"},
      {"one-peer", "one-peer exponential (BlueFog): exact averaging after log2 M rounds for M = 2^k; closed form vs dense", "quick 1.1 s (CPU)"},
  };
  return list;
}

double Trace::time_average(const std::string& metric) const {
  // Theorem 1 averages k = 0..N-1: every logged row but the last (iteration N).
  double s = 0;
  std::size_t n = 0;
  const std::int64_t N = rows.empty() ? 0 : rows.back().iteration;
  for (const auto& r : rows)
    if (r.iteration < N) s += r.get(metric), ++n;
  return n ? s / static_cast<double>(n) : std::nan("");
}

double Trace::tail_mean(const std::string& metric, std::int64_t from) const {
  double s = 0;
  std::size_t n = 0;
  for (const auto& r : rows)
    if (r.iteration >= from) s += r.get(metric), ++n;
  return n ? s / static_cast<double>(n) : std::nan("");
}

ExperimentConfig star_osg_config(double noise, const std::string& lr, std::uint64_t seed) {
  ExperimentConfig c;
  c.problem.name = "star";
  c.problem.dim = 10;
  c.problem.noise = noise;
  c.step_rule = "osg";
  c.lr = lr;
  c.log_every = 1;
  c.seed = seed;
  return c;
}

std::string short_number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double std_error(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
}

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double mx = mean(x), my = mean(y);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - mx) * (y[i] - my);
    den += (x[i] - mx) * (x[i] - mx);
  }
  return num / den;
}

namespace {

struct TraceObserver final : Observer {
  std::vector<MetricsRow>* rows;
  explicit TraceObserver(std::vector<MetricsRow>* r) : rows(r) {}
  void on_log(const MetricsRow& r) override { rows->push_back(r); }
};

}  // namespace

Trace Context::run(ExperimentConfig c, const std::string& name, const PartOverrides& parts,
                   const std::vector<std::pair<std::string, AttrValue>>& attrs) {
  c.threads = opt.threads;
  c.run_name = "verify." + name;
  Experiment e = build_experiment(c, parts);
  Trace t;
  t.theorem = e.theorem;
  t.constants = e.problem->constants();
  t.rho = e.mixer->schedule().rho();
  t.rho_t = e.rho_t;
  t.eta = e.step.eta_u;
  t.run_name = e.run_name;
  if (opt.progress) std::fprintf(stderr, "  running %s\n", e.run_name.c_str());
  TraceObserver obs(&t.rows);
  std::unique_ptr<RunWriter> w;
  if (opt.out) {
    if (opt.out->has_run(e.run_name)) opt.out->remove_run(e.run_name);
    w = opt.out->create_run(e.run_name);
    for (const auto& [k, v] : attrs) w->set_attr(k, v);
  }
  t.outcome = run_experiment(e, w.get(), {&obs});
  return t;
}

std::vector<Row> run_checks(const Options& opt) {
  using Fn = void (*)(Context&);
  const std::vector<std::pair<std::string, Fn>> fns = {
      {"theorem1", check_theorem1},       {"t-rounds", check_t_rounds},
      {"lemma1", check_lemma1},           {"remark2", check_remark2},
      {"corollary1", check_corollary1},   {"special-cases", check_special_cases},
      {"negative-control", check_negative_control}, {"compression", check_compression},
      {"lemma2", check_lemma2},           {"lemma3", check_lemma3},
      {"t-needed", check_t_needed},       {"one-peer", check_one_peer},
  };
  for (const auto& name : opt.only) {
    bool known = false;
    for (const auto& [n, f] : fns) known = known || n == name;
    if (!known) {
      std::string list;
      for (const auto& [n, f] : fns) list += (list.empty() ? "" : ", ") + n;
      throw InputError("--check: unknown check '" + name + "' (known: " + list + ")");
    }
  }
  Context ctx(opt);
  for (const auto& [name, fn] : fns) {
    if (!opt.only.empty() && std::find(opt.only.begin(), opt.only.end(), name) == opt.only.end()) continue;
    if (opt.progress) std::fprintf(stderr, "check %s\n", name.c_str());
    fn(ctx);
  }
  if (opt.out) {
    // Each check's rows replace its whole group: a rerun with fewer rows leaves no stale ones.
    std::vector<std::string> order;
    std::vector<std::vector<ResultsFile::Record>> groups;
    for (const auto& r : ctx.rows) {
      auto at = std::find(order.begin(), order.end(), r.check);
      if (at == order.end()) order.push_back(r.check), groups.emplace_back(), at = order.end() - 1;
      auto& records = groups[static_cast<std::size_t>(at - order.begin())];
      char idx[32];
      std::snprintf(idx, sizeof idx, "row%03zu", records.size());
      records.push_back({idx,
                         {{"claim", r.claim},
                          {"measured", r.measured},
                          {"relation", r.relation},
                          {"expected", r.expected},
                          {"margin", r.margin},
                          {"margin_kind", r.margin_kind},
                          {"status", std::string(to_string(r.status))},
                          {"note", r.note},
                          {"control", std::string(r.control ? "yes" : "no")},
                          {"carries_weight", std::string(carries_weight(r) ? "yes" : (r.premise ? "premise" : "no"))}}});
    }
    for (std::size_t i = 0; i < order.size(); ++i) opt.out->replace_records("verify", order[i], groups[i]);
  }
  return ctx.rows;
}

bool print_table(const std::vector<Row>& rows, std::FILE* to) {
  bool ok = true;
  std::fprintf(to, "%-16s %-72s %12s %-4s %12s %-24s %-7s %s\n", "check", "claim", "measured", "", "bound/expected",
               "margin", "weight", "result");
  std::vector<std::string> ran, weighed, blind;
  for (const auto& r : rows) {
    char margin[64] = "";
    if (!std::isnan(r.margin)) std::snprintf(margin, sizeof margin, "%.3g %s", r.margin, r.margin_kind.c_str());
    const char* weight = carries_weight(r) ? "yes" : r.premise ? "premise" : r.control ? "control" : "-";
    std::fprintf(to, "%-16s %-72s %12.4e %-4s %12.4e %-24s %-7s %s%s%s\n", r.check.c_str(), r.claim.c_str(),
                 r.measured, r.relation.c_str(), r.expected, margin, weight, to_string(r.status),
                 r.note.empty() ? "" : "  ", r.note.c_str());
    ok = ok && (r.control ? r.status == Status::fail : r.status != Status::fail);
    if (r.control && r.status != Status::fail) blind.push_back(r.check);
    if (std::find(ran.begin(), ran.end(), r.check) == ran.end()) ran.push_back(r.check);
    if (carries_weight(r) && std::find(weighed.begin(), weighed.end(), r.check) == weighed.end())
      weighed.push_back(r.check);
  }
  std::string idle;
  for (const auto& c : ran)
    if (std::find(weighed.begin(), weighed.end(), c) == weighed.end()) idle += (idle.empty() ? "" : ", ") + c;
  for (const auto& c : blind)
    std::fprintf(to, "\nthe negative control of %s did not FAIL: its comparison cannot detect a violation\n", c.c_str());
  if (!idle.empty()) {
    std::fprintf(to, "\nno row that could have failed (all vacuous, info or n/a): %s\n", idle.c_str());
    ok = false;
  }
  return ok;
}

}  // namespace dposg::verify
