// dposg plot: PNG figures of a results file, rendered with gnuplot (cli/plot.hpp).
//   grad       ||g(z̄_k)||^2 vs iteration (log y)
//   consensus  consensus error vs iteration (log y), with dashed rho_t^{2k} reference slopes
//   bytes      ||g(z̄_k)||^2 (or --metric) vs bytes sent by the busiest node, or with --bytes
//              uplink by one worker (DQGAN's compressed uplink) (log x)
//   verify     the table `dposg verify` left under /verify (see verify_figures below)
//   metric     any logged metric (--metric NAME, e.g. a GAN's high_quality_fraction) vs iteration
//   samples    one scatter per run that stored final/samples (a GAN's generator samples at z̄) over
//              final/real (data samples)
// One curve per run, or with --group-by OPTION one curve per value of that option: the mean over
// the runs of the group (seeds and any other option) with a min/max band.
#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <variant>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/plot.hpp"
#include "core/error.hpp"
#include "core/recorder.hpp"

namespace dposg::cli {

namespace {

namespace fs = std::filesystem;
using plot::Curve;
using plot::Figure;

const char* kUsage =
    "usage: dposg plot FILE [--kind grad|consensus|bytes|verify|metric|samples|all] [--metric NAME [--band]] [--logy]\n"
    "                  [--x iteration|epochs] [--group-by OPTION] [--runs REGEX] [--out-dir DIR]\n"
    "Renders PNG figures of a results file with gnuplot; beside each NAME.png it writes NAME.gp (run\n"
    "`gnuplot NAME.gp` in DIR to restyle and re-render) and NAME.dat (the data).";

struct Run {
  std::string name, status;
  std::map<std::string, AttrValue> attrs;
  std::vector<double> iteration, grad, consensus, bytes, chosen;  // chosen: the --metric series
  std::vector<double> uplink;  // bytes_uplink where logged (DQGAN), else bytes_busiest
  // --band: the --metric's spread over the workers' own generators (NAME_min, NAME_max; the
  // driver logs them with --eval-workers K), empty where the run did not log them.
  std::vector<double> chosen_lo, chosen_hi;
  std::vector<double> epoch;  // --x epochs: iteration * m * M / the training set's size
};

std::string attr_text(const Run& r, const std::string& key) {
  auto it = r.attrs.find(key);
  if (it == r.attrs.end()) return "";
  if (const auto* s = std::get_if<std::string>(&it->second)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&it->second)) return std::to_string(*i);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.4g", std::get<double>(it->second));
  return buf;
}

double attr_number(const Run& r, const std::string& key) {
  auto it = r.attrs.find(key);
  if (it == r.attrs.end()) return std::nan("");
  if (const auto* d = std::get_if<double>(&it->second)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&it->second)) return static_cast<double>(*i);
  return std::nan("");
}

// Options a reader tells runs apart by, in legend order, with their short names (the paper's
// symbols). Options of future versions appear through a run's sweep_point.
struct Known {
  const char* attr;
  const char* label;  // "" = the value alone
};
const Known kKnown[] = {{"problem", ""},     {"topology", ""},   {"rounds", "t="},   {"workers", "M="},
                        {"step_rule", ""},   {"lr", "η="},       {"lr_v", "η_v="},   {"batch", "m="},
                        {"noise", "σ="},     {"dim", "d="},      {"iters", "N="},    {"init", "init "},
                        {"init_spread", "spread="}, {"cond", "cond="}, {"coupling", "coupling="},
                        {"alpha", "α="},     {"solution_norm", "|x*|="}, {"beta1", "β1="}, {"beta2", "β2="},
                        {"eps", "ε="},       {"log_every", "log every "}, {"topology_file", "W from "},
                        {"problem_file", "data "}, {"algorithm", ""}, {"compressor", ""}, {"compress_k", "k="},
                        {"qsgd_levels", "s="}, {"error_feedback", "EF="}, {"gossip_step", "γ="},
                        {"gan_loss", ""},    {"gan_width", "width "}, {"gan_depth", "depth "}, {"gan_latent", "latent "},
                        {"seed", "seed="}};

// Communication options that do not apply to run r (or are at their default, exact gossip) say
// nothing in a legend or title.
bool default_communication(const std::string& key, const std::string& v, const Run& r);

// Options that run r ignores (the attribute is recorded for every run): Adam's moments outside
// oadam, the noise level of problems that draw their own data, a spread without a random start,
// the GAN options of a synthetic problem. They say nothing in a title or legend.
bool ignored_by(const std::string& key, const Run& r) {
  const std::string problem = attr_text(r, "problem");
  const bool gan = problem.rfind("gan-", 0) == 0;
  if (key == "beta1" || key == "beta2" || key == "eps")
    return attr_text(r, "step_rule") != "oadam";
  if (key == "noise") return gan || problem == "gaussian-wgan";
  if (key == "init_spread") return attr_text(r, "init") != "random";
  if (key == "cond" || key == "coupling" || key == "alpha" || key == "solution_norm" || key == "problem_file")
    return gan;
  if (key.rfind("gan_", 0) == 0) return !gan;
  return false;
}

bool default_communication(const std::string& key, const std::string& v, const Run& r) {
  const std::string comp = attr_text(r, "compressor"), algo = attr_text(r, "algorithm");
  if (key == "algorithm") return v == "dposg";
  if (key == "compressor") return v == "none";
  if (key == "compress_k") return comp != "top-k" && comp != "rand-k";
  if (key == "qsgd_levels") return comp != "qsgd";
  if (key == "error_feedback") return algo != "dqgan" || comp == "none";
  if (key == "gossip_step") return algo == "dqgan" || comp == "none";
  return false;
}

std::string option_label(const std::string& attr, const std::string& value) {
  if (value.empty()) return "(no " + attr + ")";
  for (const auto& k : kKnown)
    if (attr == k.attr) return k.label + value;
  return attr + "=" + value;
}

// The options to show: every known one plus the grid keys of sweeps, minus those equal in all runs
// (`varying`) or those that differ (`common`).
std::vector<std::string> label_keys(const std::vector<const Run*>& runs) {
  std::vector<std::string> keys;
  for (const auto& k : kKnown) keys.push_back(k.attr);
  for (const Run* r : runs) {
    const std::string point = attr_text(*r, "sweep_point");
    std::stringstream ss(point);
    std::string kv;
    while (std::getline(ss, kv, ',')) {
      std::string key = kv.substr(0, kv.find('='));
      std::replace(key.begin(), key.end(), '-', '_');
      if (!key.empty() && std::find(keys.begin(), keys.end(), key) == keys.end()) keys.insert(keys.end() - 1, key);
    }
  }
  return keys;
}

bool varies(const std::vector<const Run*>& runs, const std::string& key) {
  for (const Run* r : runs)
    if (attr_text(*r, key) != attr_text(*runs[0], key)) return true;
  return false;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : sep) + p;
  return s;
}

// "star, d=20, ring, t=2, M=8, osg, η=0.05, ..." for the options all runs share.
std::string common_options(const std::vector<const Run*>& runs, const std::set<std::string>& skip) {
  std::vector<std::string> parts;
  for (const auto& key : label_keys(runs)) {
    if (skip.count(key) || key == "seed" || key == "log_every" || varies(runs, key)) continue;
    const std::string v = attr_text(*runs[0], key);
    if (v.empty() || (key == "lr_v" && v == attr_text(*runs[0], "lr"))) continue;
    if ((key == "topology_file" || key == "problem_file") && v.empty()) continue;
    if (std::any_of(runs.begin(), runs.end(), [&](const Run* r) { return ignored_by(key, *r); })) continue;
    if (key == "cond" || key == "coupling" || key == "alpha" || key == "solution_norm") continue;
    if (default_communication(key, v, *runs[0]) ||
        ((key == "compress_k" || key == "qsgd_levels" || key == "error_feedback" || key == "gossip_step") &&
         varies(runs, "compressor")))
      continue;
    parts.push_back(option_label(key, v));
  }
  return join(parts, ", ");
}

std::string run_label(const Run& r, const std::vector<const Run*>& runs) {
  std::vector<std::string> parts;
  for (const auto& key : label_keys(runs))
    if (varies(runs, key) && !default_communication(key, attr_text(r, key), r) && !ignored_by(key, r))
      parts.push_back(option_label(key, attr_text(r, key)));
  if (parts.empty())
    for (const char* key : {"topology", "rounds", "workers"}) parts.push_back(option_label(key, attr_text(r, key)));
  std::string label = join(parts, ", ");
  if (r.status != "finished") label += " [" + (r.status.empty() ? std::string("no status") : r.status) + "]";
  return label;
}

// One group of runs drawn as one curve: the mean over its runs at every iteration any of them
// logged, with the min and max as a band.
struct Group {
  std::string label;
  std::vector<const Run*> runs;
  std::string value_label;  // the group's value alone ("ring"); with one run per group, its label
};

using Series = std::vector<double> Run::*;

Curve aggregate(const Group& g, Series xs, Series ys) {
  std::map<double, std::vector<std::pair<double, double>>> at;  // iteration -> (x, y) of each run
  for (const Run* r : g.runs) {
    const auto& it = r->iteration;
    const auto& x = r->*xs;
    const auto& y = r->*ys;
    for (std::size_t i = 0; i < it.size() && i < x.size() && i < y.size(); ++i) at[it[i]].emplace_back(x[i], y[i]);
  }
  Curve c;
  c.title = g.label;
  const bool band = g.runs.size() > 1;
  for (const auto& [k, pts] : at) {
    double sx = 0, sy = 0, lo = INFINITY, hi = -INFINITY;
    std::size_t n = 0;
    for (const auto& [x, y] : pts) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      sx += x, sy += y, ++n;
      lo = std::min(lo, y), hi = std::max(hi, y);
    }
    if (n == 0) continue;
    c.x.push_back(sx / static_cast<double>(n));
    c.y.push_back(sy / static_cast<double>(n));
    if (band) c.lo.push_back(lo), c.hi.push_back(hi);
  }
  return c;
}

// The paper's Fig. 2 band: the mean of ys over the group's runs, shaded from the lowest of their
// los to the highest of their his (each run's own spread over its workers). Iterations where no
// run has a finite y are left out; a band point needs a finite lo and hi from every run that has y.
Curve aggregate_band(const Group& g, Series xs, Series ys, Series los, Series his) {
  struct At {
    double sx = 0, sy = 0, lo = INFINITY, hi = -INFINITY;
    std::size_t n = 0;
    bool band = true;
  };
  std::map<double, At> at;
  for (const Run* r : g.runs) {
    const auto& it = r->iteration;
    const auto &x = r->*xs, &y = r->*ys, &lo = r->*los, &hi = r->*his;
    for (std::size_t i = 0; i < it.size() && i < x.size() && i < y.size(); ++i) {
      if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
      At& a = at[it[i]];
      a.sx += x[i], a.sy += y[i], ++a.n;
      if (i < lo.size() && i < hi.size() && std::isfinite(lo[i]) && std::isfinite(hi[i]))
        a.lo = std::min(a.lo, lo[i]), a.hi = std::max(a.hi, hi[i]);
      else
        a.band = false;
    }
  }
  Curve c;
  c.title = g.label;
  for (const auto& [k, a] : at) {
    const double n = static_cast<double>(a.n);
    c.x.push_back(a.sx / n);
    c.y.push_back(a.sy / n);
    // Without a band at this point the shading closes onto the curve (plot.cpp draws lo = hi = y).
    c.lo.push_back(a.band ? a.lo : a.sy / n);
    c.hi.push_back(a.band ? a.hi : a.sy / n);
  }
  return c;
}

std::vector<Group> make_groups(const std::vector<Run>& runs, const std::string& group_by) {
  std::vector<const Run*> all;
  for (const auto& r : runs) all.push_back(&r);
  std::vector<Group> groups;
  if (group_by.empty()) {
    for (const auto& r : runs) groups.push_back({run_label(r, all), {&r}, run_label(r, all)});
    return groups;
  }
  std::map<std::string, std::vector<const Run*>> by;
  for (const auto& r : runs) by[attr_text(r, group_by)].push_back(&r);
  std::vector<std::string> values;
  for (const auto& [v, _] : by) values.push_back(v);
  // Numbers in numeric order (4, 8, 16), the rest alphabetically.
  auto number = [](const std::string& s, double& x) {
    char* end = nullptr;
    x = std::strtod(s.c_str(), &end);
    return !s.empty() && end && *end == '\0';
  };
  std::stable_sort(values.begin(), values.end(), [&](const std::string& a, const std::string& b) {
    double x, y;
    if (number(a, x) && number(b, y)) return x < y;
    return a < b;
  });
  for (const auto& v : values) {
    const auto& members = by[v];
    std::size_t unfinished = 0;
    for (const Run* r : members) unfinished += r->status != "finished";
    const std::string n = std::to_string(members.size()) + " run" + (members.size() > 1 ? "s" : "");
    const std::string not_finished = unfinished ? ", " + std::to_string(unfinished) + " not finished" : "";
    std::string label = option_label(group_by, v) + "  (" + (members.size() > 1 ? "mean of " : "") + n + not_finished + ")";
    groups.push_back({label, members, option_label(group_by, v)});
  }
  return groups;
}

std::string grad_axis_label(const std::vector<Run>& runs) {
  std::size_t exact = 0;
  for (const auto& r : runs) exact += attr_number(r, "grad_norm_exact") != 0;
  if (exact == runs.size()) return "||g(z̄_k)||^2  (exact operator)";
  if (exact == 0) return "||g(z̄_k)||^2  (large-batch estimate)";
  return "||g(z̄_k)||^2  (exact operator or large-batch estimate)";
}

std::string title_lines(const std::string& what, const std::vector<Run>& runs, const std::string& group_by,
                        const std::string& path, bool lines_per_run = false, const std::string& band_of = "") {
  std::vector<const Run*> all;
  for (const auto& r : runs) all.push_back(&r);
  std::set<std::string> skip;
  if (!group_by.empty()) skip.insert(group_by);
  std::string second = plot::enhanced_literal(common_options(all, skip));
  std::string third = plot::enhanced_literal(fs::path(path).filename().string() + ", " + std::to_string(runs.size()) +
                                             " run" + (runs.size() > 1 ? "s" : ""));
  if (!band_of.empty()) {
    const double K = attr_number(runs[0], "eval_workers");
    const std::string workers = std::isfinite(K) ? std::to_string(static_cast<long long>(K)) + " workers'" : "the workers'";
    // Short enough for one line at the default size: the third line is not wrapped.
    third += plot::enhanced_literal(std::string(group_by.empty() ? "; line: " : "; per " + group_by + ": ") + band_of +
                                    " at z̄" + (group_by.empty() ? "" : " (mean of its runs)") + ", band: " + band_of +
                                    "_min.._max over " + workers + " own generators");
  } else if (!group_by.empty() && lines_per_run)
    third += plot::enhanced_literal("; one colour per value of " + group_by +
                                    ": the mean of its runs that sent the same bytes (band = min..max)");
  else if (!group_by.empty())
    third += plot::enhanced_literal("; one curve per value of " + group_by + ": mean over its runs, band = min..max");
  else if (runs.size() > 24)
    third += plot::enhanced_literal("; too many for a legend: use --group-by OPTION or --runs REGEX");
  return what + (second.empty() ? "" : "\n" + second) + "\n{/*0.85 " + third + "}";
}

// /verify, written by `dposg verify`: /verify/<check>/<rowNNN> groups whose attributes are one
// table row (claim, measured, relation, expected, margin, margin_kind, status, note). One figure
// per check, verify-<check>: per row, the measured value (a filled circle coloured by the row's
// status) and the bound or expected value (an open square), log y when the values are positive
// and span more than two decades.
struct VerifyRow {
  std::string name, claim, relation, status, note;
  double measured = std::nan(""), expected = std::nan("");
};

std::string string_attr(const H5::H5Object& o, const char* name) {
  if (!o.attrExists(name)) return "";
  H5::Attribute a = o.openAttribute(name);
  if (a.getTypeClass() != H5T_STRING) return "";
  std::string s;
  a.read(a.getStrType(), s);
  return s.c_str();  // drop the NUL padding of fixed-length strings
}

double number_attr(const H5::H5Object& o, const char* name) {
  if (!o.attrExists(name)) return std::nan("");
  H5::Attribute a = o.openAttribute(name);
  if (a.getTypeClass() != H5T_FLOAT && a.getTypeClass() != H5T_INTEGER) return std::nan("");
  if (a.getSpace().getSimpleExtentNpoints() != 1) return std::nan("");
  double v = 0;
  a.read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

std::vector<std::string> children_of(const H5::Group& g, H5O_type_t type) {
  std::vector<std::string> names;
  for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
    const std::string n = g.getObjnameByIdx(i);
    if (g.childObjType(n) == type) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// final/samples and final/real (2 x n each) of every selected run that has them, as scatter plots.
std::vector<Figure> sample_figures(const std::string& path, const std::vector<Run>& runs) {
  std::vector<Figure> figures;
  H5::Exception::dontPrint();
  H5::FileAccPropList fapl;
  H5Pset_file_locking(fapl.getId(), false, true);
  H5::H5File file(path, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
  auto read_points = [&](const std::string& where, plot::Curve& c) {
    if (!file.nameExists(where)) return false;
    H5::DataSet ds = file.openDataSet(where);
    H5::DataSpace space = ds.getSpace();
    hsize_t dims[2] = {0, 0};
    if (space.getSimpleExtentNdims() != 2 || (space.getSimpleExtentDims(dims), dims[0] != 2)) return false;
    std::vector<double> rows(2 * dims[1]);  // row-major on disk: all x, then all y
    ds.read(rows.data(), H5::PredType::NATIVE_DOUBLE);
    c.x.assign(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(dims[1]));
    c.y.assign(rows.begin() + static_cast<std::ptrdiff_t>(dims[1]), rows.end());
    return true;
  };
  for (const auto& r : runs) {
    const std::string base = "/runs/" + r.name + "/final/";
    if (!file.nameExists("/runs/" + r.name + "/final")) continue;
    Curve real, fake;
    if (!read_points(base + "samples", fake)) continue;
    Figure f;
    f.name = "samples-" + r.name;
    f.source = path + ":" + base;
    f.title = plot::enhanced_literal(r.name) + "\ngenerator samples at z̄ (final/samples) over data samples (final/real)";
    f.xlabel = "x_1";
    f.ylabel = "x_2";
    f.logy = false;
    f.equal_axes = true;
    fake.title = "generator (" + std::to_string(fake.x.size()) + ")";
    fake.point_type = 7;
    fake.point_size = 0.4;
    fake.colour = 0;
    f.curves.push_back(std::move(fake));
    if (read_points(base + "real", real)) {
      real.title = "data (" + std::to_string(real.x.size()) + ")";
      real.point_type = 7;
      real.point_size = 0.2;
      real.colour = 1;
      f.curves.push_back(std::move(real));
    }
    figures.push_back(std::move(f));
  }
  return figures;
}

// final/samples of runs whose problem generates images (problem/image_height and image_width):
// the first 64 as an 8 x 8 grid, one blank pixel between images.
std::vector<plot::ImageFigure> image_sample_figures(const std::string& path, const std::vector<Run>& runs) {
  std::vector<plot::ImageFigure> figures;
  H5::Exception::dontPrint();
  H5::FileAccPropList fapl;
  H5Pset_file_locking(fapl.getId(), false, true);
  H5::H5File file(path, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
  auto scalar = [&](const std::string& where) {
    if (!file.nameExists(where)) return 0.0;
    double v = 0;
    file.openDataSet(where).read(&v, H5::PredType::NATIVE_DOUBLE);
    return v;
  };
  for (const auto& r : runs) {
    const std::string base = "/runs/" + r.name;
    if (!file.nameExists(base + "/problem") || !file.nameExists(base + "/final") ||
        !file.nameExists(base + "/final/samples"))
      continue;
    const auto h = static_cast<Eigen::Index>(scalar(base + "/problem/image_height"));
    const auto w = static_cast<Eigen::Index>(scalar(base + "/problem/image_width"));
    if (h <= 0 || w <= 0) continue;
    H5::DataSet ds = file.openDataSet(base + "/final/samples");
    hsize_t dims[2] = {0, 0};
    if (ds.getSpace().getSimpleExtentNdims() != 2) continue;
    ds.getSpace().getSimpleExtentDims(dims);
    if (static_cast<Eigen::Index>(dims[0]) != h * w || dims[1] == 0) continue;
    // On disk row-major (pixels x n): row p holds pixel p of every sample.
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> samples(dims[0], dims[1]);
    ds.read(samples.data(), H5::PredType::NATIVE_DOUBLE);
    const Eigen::Index n = std::min<Eigen::Index>(64, samples.cols()), side = 8;
    plot::ImageFigure f;
    f.name = "samples-" + r.name;
    f.source = path + ":" + base + "/final/samples";
    f.title = plot::enhanced_literal(r.name) + "\nthe first " + std::to_string(n) + " generator samples at z̄ (final/samples)";
    f.pixels = Eigen::MatrixXd::Constant(side * (h + 1) - 1, side * (w + 1) - 1, -1.0);
    for (Eigen::Index k = 0; k < n; ++k)
      for (Eigen::Index y = 0; y < h; ++y)
        for (Eigen::Index x = 0; x < w; ++x)
          f.pixels((k / side) * (h + 1) + y, (k % side) * (w + 1) + x) = std::clamp(samples(y * w + x, k), -1.0, 1.0);
    figures.push_back(std::move(f));
  }
  return figures;
}

std::vector<Figure> verify_figures(const std::string& path, bool& present) {
  std::map<std::string, std::vector<VerifyRow>> checks;
  present = false;
  try {
    H5::Exception::dontPrint();
    H5::FileAccPropList fapl;
    H5Pset_file_locking(fapl.getId(), false, true);
    H5::H5File file(path, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
    if (!file.nameExists("verify") || file.childObjType("verify") != H5O_TYPE_GROUP) return {};
    present = true;
    const H5::Group verify = file.openGroup("verify");
    for (const auto& check : children_of(verify, H5O_TYPE_GROUP)) {
      const H5::Group cg = verify.openGroup(check);
      for (const auto& row : children_of(cg, H5O_TYPE_GROUP)) {
        const H5::Group rg = cg.openGroup(row);
        VerifyRow r;
        r.name = row;
        r.claim = string_attr(rg, "claim");
        r.relation = string_attr(rg, "relation");
        r.status = string_attr(rg, "status");
        r.note = string_attr(rg, "note");
        r.measured = number_attr(rg, "measured");
        r.expected = number_attr(rg, "expected");
        checks[check].push_back(std::move(r));
      }
    }
  } catch (const H5::Exception& e) {
    throw std::runtime_error("reading /verify of '" + path + "': " + e.getDetailMsg());
  }
  std::vector<Figure> figures;
  for (const auto& [check, rows] : checks) {
    if (rows.empty()) continue;
    Figure f;
    std::string stem = "verify-" + check;
    for (char& c : stem)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    f.name = stem;
    f.source = path + ":/verify/" + check;
    std::size_t pass = 0, fail = 0;
    double lo = INFINITY, hi = 0;
    bool nonpositive = false;
    int refuted = 0;
    for (const auto& r : rows) {
      pass += r.status == "PASS";
      fail += r.status == "FAIL";
      refuted += r.status == "REFUTED";
      for (double v : {r.measured, r.expected}) {
        if (!std::isfinite(v)) continue;
        if (v <= 0) nonpositive = true;
        else lo = std::min(lo, v), hi = std::max(hi, v);
      }
    }
    f.logy = false;
    f.logx = hi > 0 && hi / lo > 100;
    f.title = plot::enhanced_literal("dposg verify, check " + check + ": measured value and bound/expected value per row") +
              "\n{/*0.85 " +
              plot::enhanced_literal(fs::path(path).filename().string() + ": " + std::to_string(rows.size()) + " rows, " +
                                     std::to_string(pass) + " PASS, " + std::to_string(fail) + " FAIL" +
                                     (refuted ? ", " + std::to_string(refuted) + " REFUTED" : std::string()) +
                                     (f.logx && nonpositive ? "; values <= 0 not drawn on the log axis" : "")) +
              "}";
    f.xlabel = "value (in the units of each row's claim)";
    f.ylabel = "";
    f.height = std::max(500, 200 + 34 * static_cast<int>(rows.size()));
    Curve expected, passed, failed, refuted_curve, other;
    expected.title = "bound or expected value";
    expected.point_type = 4;
    expected.colour = 0;
    passed.title = "measured, PASS";
    failed.title = "measured, FAIL";
    refuted_curve.title = "measured, REFUTED (the paper's claim)";
    other.title = "measured, vacuous, info or n/a";
    passed.colour = 2, failed.colour = 3, refuted_curve.colour = 4, other.colour = 7;
    passed.point_type = failed.point_type = refuted_curve.point_type = other.point_type = 7;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      const double y = static_cast<double>(i + 1);
      std::string claim = r.claim.empty() ? r.name : r.claim;
      if (claim.size() > 64) claim = claim.substr(0, 62) + "..";
      f.ytics.emplace_back(y, claim + "  [" + r.status + "]");
      if (r.relation != "info") {
        expected.x.push_back(r.expected);
        expected.y.push_back(y);
      }
      Curve& m = r.status == "PASS"      ? passed
                 : r.status == "FAIL"    ? failed
                 : r.status == "REFUTED" ? refuted_curve
                                         : other;
      m.x.push_back(r.measured);
      m.y.push_back(y);
    }
    for (Curve* c : {&expected, &passed, &failed, &refuted_curve, &other})
      if (!c->x.empty()) f.curves.push_back(std::move(*c));
    figures.push_back(std::move(f));
  }
  return figures;
}

// /runs/<run>/problem/<key> (a scalar dataset the problem described itself with) of each run, NaN
// where it is absent.
std::vector<double> problem_scalars(const std::string& path, const std::vector<Run>& runs, const std::string& key) {
  H5::Exception::dontPrint();
  H5::FileAccPropList fapl;
  H5Pset_file_locking(fapl.getId(), false, true);
  H5::H5File file(path, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
  std::vector<double> values;
  for (const auto& r : runs) {
    const std::string where = "/runs/" + r.name + "/problem/" + key;
    double v = std::nan("");
    if (file.nameExists("/runs/" + r.name + "/problem") && file.nameExists(where)) {
      H5::DataSet ds = file.openDataSet(where);
      if (ds.getSpace().getSimpleExtentNpoints() == 1) ds.read(&v, H5::PredType::NATIVE_DOUBLE);
    }
    values.push_back(v);
  }
  return values;
}

}  // namespace

int plot_command(int argc, const char* const argv[]) {
  std::string path, kind = "all", group_by, runs_regex, out_dir, metric, bytes_axis = "busiest", x_axis = "iteration";
  bool logy = false, band = false;
  po::options_description desc("Plot");
  desc.add_options()
      ("file", po::value(&path), "HDF5 results file")
      ("kind", po::value(&kind)->default_value(kind),
       "grad (||g(z̄_k)||^2 vs k) | consensus (consensus error vs k, with rho_t^{2k} slopes) | bytes "
       "(||g(z̄_k)||^2 vs bytes on the busiest node) | verify (the /verify results) | metric (--metric vs k) | "
       "samples (a GAN's final generator samples over data) | all (grad, consensus, bytes, verify, samples)")
      ("metric", po::value(&metric),
       "with --kind metric: the logged metric to draw (e.g. high_quality_fraction, mmd); with --kind bytes: the "
       "y axis instead of ||g(z̄_k)||^2")
      ("bytes", po::value(&bytes_axis)->default_value(bytes_axis),
       "with --kind bytes, the x axis: busiest (bytes_busiest: the busiest node, a DQGAN server's broadcast) | "
       "uplink (what one worker sends: bytes_uplink for DQGAN, bytes_busiest for gossip)")
      ("logy", po::bool_switch(&logy), "with --kind metric, or --kind bytes with --metric: logarithmic y axis")
      ("band", po::bool_switch(&band),
       "with --kind metric: shade each curve from the lowest to the highest value over the workers' own generators "
       "(the metric's NAME_min and NAME_max, which runs log with --eval-workers K; the paper's Fig. 2 band)")
      ("x", po::value(&x_axis)->default_value(x_axis),
       "with --kind grad, consensus or metric, the x axis: iteration | epochs (iteration * m * M / the training set's "
       "size: the image GANs)")
      ("group-by", po::value(&group_by),
       "one curve per value of this option (e.g. topology, rounds, workers): mean over its runs with a min/max band")
      ("runs", po::value(&runs_regex), "only runs whose name matches this regular expression (ECMAScript, search)")
      ("out-dir", po::value(&out_dir), "where to write NAME.png/.gp/.dat (default: FILE without .h5, plus -plots)");
  po::positional_options_description pos;
  pos.add("file", 1);
  if (!parse(argc, argv, desc, kUsage, &pos)) return 0;
  if (path.empty()) throw InputError("FILE: give the results file to plot (dposg plot FILE)");
  const std::set<std::string> kinds = {"grad", "consensus", "bytes", "verify", "metric", "samples", "all"};
  if (!kinds.count(kind))
    throw InputError("--kind: expected grad, consensus, bytes, verify, metric, samples or all, got '" + kind + "'");
  if (kind == "metric" && metric.empty()) throw InputError("--metric: --kind metric needs the metric's name");
  if (kind != "metric" && kind != "bytes" && !metric.empty())
    throw InputError("--metric: only with --kind metric or --kind bytes");
  if (bytes_axis != "busiest" && bytes_axis != "uplink")
    throw InputError("--bytes: expected busiest or uplink, got '" + bytes_axis + "'");
  if (bytes_axis != "busiest" && kind != "bytes") throw InputError("--bytes: only with --kind bytes");
  if (band && kind != "metric") throw InputError("--band: only with --kind metric");
  if (x_axis != "iteration" && x_axis != "epochs")
    throw InputError("--x: expected iteration or epochs, got '" + x_axis + "'");
  const bool epochs = x_axis == "epochs";
  if (epochs && kind != "grad" && kind != "consensus" && kind != "metric")
    throw InputError("--x: epochs only with --kind grad, consensus or metric");
  std::optional<std::regex> filter;
  if (!runs_regex.empty()) {
    try {
      filter.emplace(runs_regex);
    } catch (const std::regex_error& e) {
      throw InputError("--runs: not a regular expression: '" + runs_regex + "' (" + e.what() + ")");
    }
  }
  std::string group_attr = group_by;
  std::replace(group_attr.begin(), group_attr.end(), '-', '_');
  if (out_dir.empty()) {
    fs::path p(path);
    out_dir = (p.parent_path() / (p.stem().string() + "-plots")).string();
  }
  const bool want_runs = kind != "verify";

  std::vector<Run> runs;
  {
    auto reader = ResultsReader::open(path);
    for (const auto& name : reader->runs()) {
      if (filter && !std::regex_search(name, *filter)) continue;
      // A damaged run (a writer killed in the middle of a flush) is named and left out; the
      // others are plotted.
      try {
        const RunSummary s = reader->summary(name);
        if (s.rows == 0) continue;
        Run r;
        r.name = name;
        r.status = s.status;
        for (const auto& [k, v] : s.attrs) r.attrs[k] = v;
        const auto it = reader->iterations(name);
        r.iteration.assign(it.begin(), it.end());
        r.grad = reader->metric(name, "grad_norm_sq");
        r.consensus = reader->metric(name, "consensus_error");
        r.bytes = reader->metric(name, "bytes_busiest");
        const auto& names = s.metric_names;
        r.uplink = std::find(names.begin(), names.end(), "bytes_uplink") != names.end()
                       ? reader->metric(name, "bytes_uplink")
                       : r.bytes;
        auto logged = [&](const std::string& m) {
          return std::find(names.begin(), names.end(), m) != names.end();
        };
        if (!metric.empty() && logged(metric)) r.chosen = reader->metric(name, metric);
        if (band && logged(metric + "_min") && logged(metric + "_max")) {
          r.chosen_lo = reader->metric(name, metric + "_min");
          r.chosen_hi = reader->metric(name, metric + "_max");
        }
        runs.push_back(std::move(r));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "dposg plot: run '%s' is damaged and left out (%s)\n", name.c_str(), e.what());
      }
    }
  }
  if (want_runs && runs.empty()) {
    if (filter) throw InputError("--runs: no run with metrics in '" + path + "' matches '" + runs_regex + "'");
    if (kind != "all") throw InputError("'" + path + "' has no run with metrics to plot");
  }
  if ((kind == "metric" || (kind == "bytes" && !metric.empty())) && !runs.empty() &&
      std::none_of(runs.begin(), runs.end(), [](const Run& r) { return !r.chosen.empty(); }))
    throw InputError("--metric: no selected run in '" + path + "' logged '" + metric + "'");
  if (band && !runs.empty() && std::none_of(runs.begin(), runs.end(), [](const Run& r) { return !r.chosen_lo.empty(); }))
    throw InputError("--band: no selected run in '" + path + "' logged " + metric + "_min and " + metric +
                     "_max (a run logs them with --eval-workers K)");
  if (epochs && !runs.empty()) {
    const auto sizes = problem_scalars(path, runs, "train_images");
    for (std::size_t i = 0; i < runs.size(); ++i) {
      Run& r = runs[i];
      const double per_iteration = attr_number(r, "batch") * attr_number(r, "workers");
      if (!(sizes[i] > 0) || !(per_iteration > 0))
        throw InputError("--x: epochs need the training set's size, which run '" + r.name +
                         "' does not record (only the image GANs count epochs)");
      for (double k : r.iteration) r.epoch.push_back(k * per_iteration / sizes[i]);
    }
  }
  const Series xs = epochs ? &Run::epoch : &Run::iteration;
  const std::string x_label = epochs ? "epoch (iteration × m·M / training images)" : "iteration k";
  if (!group_attr.empty() && !runs.empty()) {
    const bool any = std::any_of(runs.begin(), runs.end(), [&](const Run& r) { return r.attrs.count(group_attr); });
    if (!any) throw InputError("--group-by: no run in '" + path + "' has the option '" + group_by + "'");
  }
  if (plot::find_gnuplot().empty())
    throw InputError("gnuplot not found on PATH: dposg plot renders with it (Debian: apt-get install gnuplot-nox)");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) throw InputError("--out-dir: cannot create '" + out_dir + "': " + ec.message());

  const std::vector<Group> groups = make_groups(runs, group_attr);
  std::vector<std::string> written;
  auto emit = [&](Figure f, const std::string& skip_reason) {
    if (!plot::prune(f)) {
      std::printf("%s: skipped: %s\n", f.name.c_str(), skip_reason.c_str());
      return;
    }
    written.push_back(plot::render(f, out_dir));
    std::printf("wrote %s  (restyle: %s.gp, data: %s.dat)\n", written.back().c_str(), f.name.c_str(), f.name.c_str());
  };

  if (!runs.empty() && (kind == "grad" || kind == "all")) {
    Figure f;
    f.name = "grad_norm";
    f.source = path;
    f.title = title_lines("||g(z̄_k)||^2 at the worker average z̄_k, by " + x_axis, runs, group_attr, path);
    f.xlabel = x_label;
    f.ylabel = grad_axis_label(runs);
    for (const auto& g : groups) f.curves.push_back(aggregate(g, xs, &Run::grad));
    emit(std::move(f), "no positive finite ||g(z̄_k)||^2 in the selected runs");
  }
  if (!runs.empty() && (kind == "consensus" || kind == "all")) {
    Figure f;
    f.name = "consensus";
    f.source = path;
    f.title = title_lines("consensus error (1/M) Σ_i ||z_k^i - z̄_k||^2, by " + x_axis, runs, group_attr, path);
    f.xlabel = x_label;
    f.ylabel = "consensus error (1/M) Σ_i ||z_k^i - z̄_k||^2";
    if (!epochs) f.reference_title = "dashed: ρ_t^{2k} through the first point (ρ_t = ρ^t, or measured for random mixing)";
    for (const auto& g : groups) {
      Curve c = aggregate(g, xs, &Run::consensus);
      double rho_t = 0, lo = INFINITY, hi = -INFINITY;
      for (const Run* r : g.runs) {
        const double v = attr_number(*r, "rho_t");
        rho_t += v / static_cast<double>(g.runs.size());
        lo = std::min(lo, v), hi = std::max(hi, v);
      }
      if (std::isfinite(rho_t)) {
        // rho_t ~ 0 (complete graph: exact consensus in one round) has no slope worth drawing.
        // Along epochs the slope would need each run's iterations per epoch: drawn along iterations only.
        if (rho_t > 1e-9 && !epochs) c.reference_rate = rho_t * rho_t;
        char buf[96];
        if (hi - lo > 1e-9) std::snprintf(buf, sizeof buf, "  rho_t=%.3g..%.3g (dashed: their mean %.3g)", lo, hi, rho_t);
        else std::snprintf(buf, sizeof buf, "  rho_t=%.3g", rho_t > 1e-9 ? rho_t : 0.0);
        c.title += buf;
      }
      f.curves.push_back(std::move(c));
    }
    emit(std::move(f),
         "no run has a positive consensus error (one worker, or exact consensus on the complete graph)");
  }
  if (!runs.empty() && (kind == "bytes" || kind == "all")) {
    Figure f;
    const bool uplink = bytes_axis == "uplink";
    const bool chosen = !metric.empty();
    const Series x = uplink ? &Run::uplink : &Run::bytes;
    const Series y = chosen ? &Run::chosen : &Run::grad;
    f.name = std::string("bytes") + (uplink ? "-uplink" : "") + (chosen ? "-" + metric : "");
    f.source = path;
    // A group's runs are averaged where they logged the same bytes at the same iterations; runs
    // that sent other bytes (another M or t within the group) are averaged apart, in the group's
    // colour: averaging along x would mix them.
    auto by_bytes = [&](const Group& g) {
      std::vector<std::vector<const Run*>> parts;
      for (const Run* r : g.runs) {
        auto same = [&](const std::vector<const Run*>& p) {
          return p[0]->iteration == r->iteration && p[0]->*x == r->*x;
        };
        auto it = std::find_if(parts.begin(), parts.end(), same);
        if (it == parts.end()) parts.push_back({r});
        else it->push_back(r);
      }
      return parts;
    };
    const bool split = !group_attr.empty() &&
                       std::any_of(groups.begin(), groups.end(), [&](const Group& g) { return by_bytes(g).size() > 1; });
    f.title = title_lines((chosen ? plot::enhanced_literal(metric) : std::string("||g(z̄_k)||^2")) +
                              (uplink ? " against what one worker sends" : " against the communication of the busiest node"),
                          runs, group_attr, path, split);
    f.xlabel = uplink ? "bytes sent by one worker, cumulative" : "bytes sent by the busiest node, cumulative";
    f.ylabel = chosen ? plot::enhanced_literal(metric) : grad_axis_label(runs);
    f.logx = true;
    f.logy = chosen ? logy : f.logy;
    for (std::size_t k = 0; k < groups.size(); ++k) {
      const auto parts = by_bytes(groups[k]);
      if (group_attr.empty() || parts.size() == 1) {
        f.curves.push_back(aggregate(groups[k], x, y));
        continue;
      }
      const std::string label = groups[k].value_label + "  (" + std::to_string(groups[k].runs.size()) + " runs in " +
                                std::to_string(parts.size()) + " lines, each the mean of runs that sent equal bytes)";
      for (std::size_t i = 0; i < parts.size(); ++i) {
        Curve c = aggregate({i == 0 ? label : "", parts[i], ""}, x, y);
        c.colour = static_cast<int>(k);
        f.curves.push_back(std::move(c));
      }
    }
    emit(std::move(f), "no run sends bytes (one worker: nothing to communicate)");
  }
  if (!runs.empty() && kind == "metric") {
    Figure f;
    f.name = "metric-" + metric + (band ? "-band" : "") + (epochs ? "-epochs" : "");
    f.source = path;
    f.title = title_lines(plot::enhanced_literal(metric) + ", by " + x_axis, runs, group_attr, path, false,
                          band ? metric : "");
    f.xlabel = x_label;
    f.ylabel = plot::enhanced_literal(metric);
    f.logy = logy;
    for (const auto& g : groups)
      f.curves.push_back(band ? aggregate_band(g, xs, &Run::chosen, &Run::chosen_lo, &Run::chosen_hi)
                              : aggregate(g, xs, &Run::chosen));
    emit(std::move(f), "no finite value of " + metric + " in the selected runs");
  }
  if (!runs.empty() && (kind == "samples" || kind == "all")) {
    const auto figures = sample_figures(path, runs);
    const auto images = image_sample_figures(path, runs);
    if (figures.empty() && images.empty() && kind == "samples")
      std::printf("samples: skipped: no selected run stored final/samples\n");
    for (const auto& f : figures) emit(f, "no finite sample");
    for (const auto& f : images) {
      written.push_back(plot::render_image(f, out_dir));
      std::printf("wrote %s  (restyle: %s.gp, data: %s.dat)\n", written.back().c_str(), f.name.c_str(), f.name.c_str());
    }
  }
  if (kind == "verify" || kind == "all") {
    bool present = false;
    const auto figures = verify_figures(path, present);
    if (!present) std::printf("verify: skipped: no verify results in %s\n", path.c_str());
    else if (figures.empty()) std::printf("verify: skipped: /verify in %s holds no table rows\n", path.c_str());
    for (const auto& f : figures) emit(f, "no finite values under " + f.source);
  }
  if (written.empty()) std::printf("no figure written\n");
  return 0;
}

}  // namespace dposg::cli
