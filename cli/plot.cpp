#include "cli/plot.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "core/error.hpp"

namespace dposg::cli::plot {

namespace {

// A colour-blind-friendly cycle (Tableau 10); after ten curves the dash pattern changes.
const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kNumColours = 10;
const int kDashes[] = {1, 4, 5, 3};  // solid, dash-dot, dash-dot-dot, dotted (2 = references)
// Curves that lie exactly on an earlier one: long dashes, then shorter ones (gaps show the curve beneath).
const char* kCopyDashes[] = {"(14,14)", "(6,10)", "(2,8)"};

// For each curve, the first earlier curve it hides on the page, else -1: the same x, and y within
// about a line's width at 90% of the points (2% of the value on a log axis, 0.5% of the figure's
// y range on a linear one), so that one would be drawn over the other.
std::vector<int> coinciding(const std::vector<Curve>& curves, bool logy) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& c : curves)
    for (double y : c.y) lo = std::min(lo, y), hi = std::max(hi, y);
  std::vector<int> same(curves.size(), -1);
  for (std::size_t k = 0; k < curves.size(); ++k)
    for (std::size_t j = 0; j < k && same[k] < 0; ++j) {
      const Curve &a = curves[j], &b = curves[k];
      if (a.point_type != 0 || b.point_type != 0 || a.x != b.x || a.y.size() != b.y.size() || a.y.empty()) continue;
      std::size_t close = 0;
      for (std::size_t i = 0; i < a.y.size(); ++i)
        close += std::abs(a.y[i] - b.y[i]) <= (logy ? 0.02 * std::max(std::abs(a.y[i]), std::abs(b.y[i])) : 0.005 * (hi - lo));
      if (static_cast<double>(close) >= 0.9 * static_cast<double>(a.y.size()))
        same[k] = same[j] >= 0 ? same[j] : static_cast<int>(j);
    }
  return same;
}

// A gnuplot single-quoted string: nothing is interpreted but '' (one quote).
std::string gp_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// A string expression for enhanced text that may contain newlines: 'a'."\n".'b'.
std::string text_expr(const std::string& s) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto nl = s.find('\n', pos);
    out += gp_quote(s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    out += ".\"\\n\".";
    pos = nl + 1;
  }
  return out;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

bool drawable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

std::string run_gnuplot(const std::string& gnuplot, const std::string& dir, const std::string& script, int& status) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
    }
    if (::chdir(dir.c_str()) != 0) _exit(126);
    ::execl(gnuplot.c_str(), gnuplot.c_str(), script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return err;
}

std::string last_lines(const std::string& s, int n) {
  std::size_t pos = s.size();
  while (pos > 0 && (s[pos - 1] == '\n' || s[pos - 1] == ' ')) --pos;
  const std::size_t end = pos;
  for (int k = 0; k < n && pos > 0; ++k) {
    pos = s.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  std::string out = s.substr(pos, end - pos);
  while (!out.empty() && out.front() == '\n') out.erase(out.begin());
  for (char& c : out)
    if (c == '\n') c = ' ';
  return out;
}

}  // namespace

std::string enhanced_literal(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::strchr("_^{}@&~\\", c)) out += '\\';
    out += c;
  }
  return out;
}

std::string find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    // (A path built with std::filesystem: GCC 12 warns falsely (-Wrestrict) on `d + "/gnuplot"`.)
    const std::string candidate = (std::filesystem::path(d.empty() ? "." : d) / "gnuplot").string();
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) return candidate;
  }
  return "";
}

bool prune(Figure& f) {
  std::vector<Curve> kept;
  for (auto& c : f.curves) {
    Curve p;
    p.title = c.title;
    p.colour = c.colour;
    p.point_type = c.point_type;
    p.point_size = c.point_size;
    p.reference_rate = c.reference_rate;
    const bool band = !c.lo.empty();
    for (std::size_t i = 0; i < c.x.size() && i < c.y.size(); ++i) {
      if (!drawable(c.x[i], f.logx) || !drawable(c.y[i], f.logy)) continue;
      p.x.push_back(c.x[i]);
      p.y.push_back(c.y[i]);
      if (band) {
        p.lo.push_back(drawable(c.lo[i], f.logy) ? c.lo[i] : c.y[i]);
        p.hi.push_back(drawable(c.hi[i], f.logy) ? c.hi[i] : c.y[i]);
      }
    }
    if (!p.x.empty()) kept.push_back(std::move(p));
  }
  f.curves = std::move(kept);
  return !f.curves.empty();
}

namespace {

std::string require_gnuplot() {
  std::string gnuplot = find_gnuplot();
  if (gnuplot.empty())
    throw InputError("gnuplot not found on PATH: dposg plot renders with it (Debian: apt-get install gnuplot-nox)");
  return gnuplot;
}

// The head of every .gp script: where it came from, how to re-render it, the PNG terminal.
std::string script_preamble(const std::string& first_line, const std::string& source, const std::string& gp,
                            const std::string& dat, const std::string& png, int width, int height) {
  std::ostringstream s;
  s << "# " << first_line << "\n# Made by `dposg plot` from " << source << ".\n"
    << "# Restyle freely; re-render with `gnuplot " << gp << "` in this directory (data: " << dat << ").\n"
    << "set encoding utf8\n"
    << "set terminal pngcairo size " << width << "," << height << " enhanced font 'Sans,12'\n"
    << "set output " << gp_quote(png) << "\n";
  return s.str();
}

// Runs gnuplot on DIR/gp and checks that it made DIR/png; returns the PNG's path.
std::string run_script(const std::string& gnuplot, const std::string& dir, const std::string& gp,
                       const std::string& png) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove(fs::path(dir) / png, ec);
  int status = 0;
  const std::string err = run_gnuplot(gnuplot, dir, gp, status);
  const std::string where = (fs::path(dir) / gp).string();
  if (status == 127 && err.empty()) throw InputError("cannot execute '" + gnuplot + "'");
  if (err.find("unknown or ambiguous terminal type") != std::string::npos)
    throw InputError("this gnuplot has no pngcairo terminal (Debian: gnuplot-nox has it): " + last_lines(err, 2));
  if (status != 0) throw std::runtime_error("gnuplot failed on " + where + " (exit " + std::to_string(status) + "): " + last_lines(err, 4));
  if (!fs::exists(fs::path(dir) / png)) throw std::runtime_error("gnuplot made no " + png + " from " + where + ": " + last_lines(err, 4));
  return (fs::path(dir) / png).string();
}

}  // namespace

std::string render(const Figure& f, const std::string& dir) {
  const std::string gnuplot = require_gnuplot();
  namespace fs = std::filesystem;
  const std::string dat = f.name + ".dat", gp = f.name + ".gp", png = f.name + ".png";
  const std::string first_line = f.title.substr(0, f.title.find('\n'));

  {
    std::ofstream out(fs::path(dir) / dat);
    if (!out) throw InputError("--out-dir: cannot write '" + (fs::path(dir) / dat).string() + "'");
    out << "# dposg plot data: " << first_line << "\n# source: " << f.source
        << "\n# one block per curve (gnuplot: index N); columns: x y" << (f.curves.empty() || f.curves[0].lo.empty() ? "" : " min max")
        << "\n";
    for (std::size_t k = 0; k < f.curves.size(); ++k) {
      const Curve& c = f.curves[k];
      out << (k ? "\n\n" : "") << "# block " << k << ": " << c.title << "\n";
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        out << num(c.x[i]) << ' ' << num(c.y[i]);
        if (!c.lo.empty()) out << ' ' << num(c.lo[i]) << ' ' << num(c.hi[i]);
        out << '\n';
      }
    }
    if (!out.flush()) throw std::runtime_error("writing '" + (fs::path(dir) / dat).string() + "' failed");
  }

  bool references = false;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& c : f.curves) {
    if (c.reference_rate && *c.reference_rate > 0 && *c.reference_rate < 1) references = true;
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      xmin = std::min(xmin, c.x[i]);
      xmax = std::max(xmax, c.x[i]);
      ymin = std::min({ymin, c.y[i], c.lo.empty() ? c.y[i] : c.lo[i]});
      ymax = std::max({ymax, c.y[i], c.hi.empty() ? c.y[i] : c.hi[i]});
    }
  }

  std::ostringstream s;
  s << script_preamble(first_line, f.source, gp, dat, png, 1200, f.height);
  for (int i = 0; i < kNumColours; ++i) s << "set linetype " << i + 1 << " lc rgb '" << kColours[i] << "' lw 2\n";
  s << "set linetype cycle " << kNumColours << "\n"
    << "set title " << text_expr(f.title) << "\n"
    << "set xlabel " << text_expr(f.xlabel) << "\n"
    << "set ylabel " << text_expr(f.ylabel) << "\n";
  if (!f.ytics.empty()) {
    // Row names as labels left of the axis (tic labels would be format strings, which gnuplot
    // cuts short when they hold a %), with a left margin wide enough for the longest.
    std::size_t longest = 0;
    for (const auto& [y, text] : f.ytics) longest = std::max(longest, text.size());
    s << "set ytics 1 format ''\nset lmargin at screen "
      << num(std::min(0.65, (static_cast<double>(longest) * 6.6 + 24.0) / 1200.0)) << "\n";
    for (std::size_t i = 0; i < f.ytics.size(); ++i)
      s << "set label " << i + 1 << " " << gp_quote(f.ytics[i].second) << " at graph -0.01, first "
        << num(f.ytics[i].first) << " right noenhanced font ',10'\n";
    s << "set yrange [" << num(f.ytics.back().first + 0.5) << ":" << num(f.ytics.front().first - 0.5) << "]\n";
  }
  if (f.equal_axes) s << "set size ratio -1\n";
  if (f.logx) s << "set logscale x 10\nset format x '10^{%L}'\n";
  if (f.logy && f.ytics.empty()) s << "set logscale y 10\nset format y '10^{%L}'\n";
  s << (f.ytics.empty() ? "set grid xtics ytics" : "set grid xtics") << "\nset style fill transparent solid 0.18 noborder\nset samples 1000\n";
  std::size_t entries = 0;
  for (const auto& c : f.curves) entries += !c.title.empty();
  // The legend goes below the plot area, never over the data.
  if (entries > 24) s << "set key off\n";
  else if (!f.ytics.empty()) s << "set key below center horizontal noenhanced\n";
  else s << "set key below left Left reverse noenhanced maxcols " << (entries > 6 ? 3 : 2) << " width 2\n";
  if (references) {
    // Fixed ranges: the reference lines would otherwise stretch the autoscaled axes.
    const double pad = f.logy ? 2.0 : 0.0;
    s << "set xrange [" << num(xmin) << ":" << num(xmax) << "]\n";
    if (f.logy) s << "set yrange [" << num(ymin / pad) << ":" << num(ymax * pad) << "]\n";
  }
  const std::vector<int> same_as = coinciding(f.curves, f.logy);
  s << "plot \\\n";
  std::vector<std::string> items;
  bool reference_titled = false;
  for (std::size_t k = 0; k < f.curves.size(); ++k) {
    const Curve& c = f.curves[k];
    const std::size_t slot = c.colour >= 0 ? static_cast<std::size_t>(c.colour) : k;
    const int lt = static_cast<int>(slot % kNumColours) + 1;
    const int dt = kDashes[(slot / kNumColours) % 4];
    const std::string src = gp_quote(dat) + " index " + std::to_string(k);
    if (!c.lo.empty()) items.push_back(src + " using 1:3:4 with filledcurves lt " + std::to_string(lt) + " notitle");
    // A line drawn exactly over an earlier one is dashed (its gaps show the one beneath, a
    // different pattern for each further copy) and says so in the legend.
    std::string dash = std::to_string(dt), title = c.title;
    if (same_as[k] >= 0 && c.point_type == 0) {
      int copies = 0;
      for (std::size_t j = 0; j < k; ++j) copies += same_as[j] == same_as[k];
      dash = kCopyDashes[copies % 3];
      // The other curve's name without its parenthesised details ("ring  (mean of 9 runs)" -> "ring").
      const std::string& full = f.curves[static_cast<std::size_t>(same_as[k])].title;
      const std::string under = full.substr(0, full.find("  ("));
      if (!title.empty()) title += under.empty() ? "  [coincides with another curve]" : "  [coincides with " + under + "]";
    }
    const std::string style = c.point_type > 0 ? "with points pt " + std::to_string(c.point_type) + " ps " + num(c.point_size)
                                               : "with lines dt " + dash;
    items.push_back(src + " using 1:2 " + style + " lt " + std::to_string(lt) +
                    (title.empty() ? std::string(" notitle") : " title " + gp_quote(title) + " noenhanced"));
    if (c.reference_rate && *c.reference_rate > 0 && *c.reference_rate < 1) {
      const std::string x0 = num(c.x[0]), y0 = num(c.y[0]), r = num(*c.reference_rate);
      std::string title = "notitle";
      if (!reference_titled && !f.reference_title.empty()) {
        title = "title " + text_expr(f.reference_title) + " enhanced";
        reference_titled = true;
      }
      items.push_back("(x >= " + x0 + " ? " + y0 + " * " + r + "**(x - " + x0 + ") : NaN) with lines lt " +
                      std::to_string(lt) + " lw 1.5 dt 2 " + title);
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) s << "  " << items[i] << (i + 1 < items.size() ? ", \\\n" : "\n");
  {
    std::ofstream out(fs::path(dir) / gp);
    out << s.str();
    if (!out.flush()) throw std::runtime_error("writing '" + (fs::path(dir) / gp).string() + "' failed");
  }

  return run_script(gnuplot, dir, gp, png);
}

std::string render_image(const ImageFigure& f, const std::string& dir) {
  const std::string gnuplot = require_gnuplot();
  namespace fs = std::filesystem;
  const std::string dat = f.name + ".dat", gp = f.name + ".gp", png = f.name + ".png";
  const std::string first_line = f.title.substr(0, f.title.find('\n'));
  {
    std::ofstream out(fs::path(dir) / dat);
    if (!out) throw InputError("--out-dir: cannot write '" + (fs::path(dir) / dat).string() + "'");
    out << "# dposg plot data: " << first_line << "\n# source: " << f.source
        << "\n# a grey image, one line per pixel row, top row first (gnuplot: matrix)\n";
    for (Eigen::Index r = 0; r < f.pixels.rows(); ++r) {
      for (Eigen::Index c = 0; c < f.pixels.cols(); ++c) out << (c ? " " : "") << num(f.pixels(r, c));
      out << '\n';
    }
    if (!out.flush()) throw std::runtime_error("writing '" + (fs::path(dir) / dat).string() + "' failed");
  }
  const int side = 900;
  std::ostringstream s;
  s << script_preamble(first_line, f.source, gp, dat, png, side, side + 80)
    << "set title " << text_expr(f.title) << "\n"
    << "set palette grey\nunset colorbox\nset cbrange [" << num(f.low) << ":" << num(f.high) << "]\n"
    << "set size ratio -1\nunset xtics\nunset ytics\nunset border\nunset key\n"
    << "set xrange [-0.5:" << num(static_cast<double>(f.pixels.cols()) - 0.5) << "]\n"
    << "set yrange [" << num(static_cast<double>(f.pixels.rows()) - 0.5) << ":-0.5]\n"
    << "plot " << gp_quote(dat) << " matrix with image pixels\n";
  {
    std::ofstream out(fs::path(dir) / gp);
    out << s.str();
    if (!out.flush()) throw std::runtime_error("writing '" + (fs::path(dir) / gp).string() + "' failed");
  }
  return run_script(gnuplot, dir, gp, png);
}

}  // namespace dposg::cli::plot
