#pragma once
// Figures rendered with gnuplot (pngcairo). Each figure NAME is written as three files in one
// directory: NAME.dat (the data, one gnuplot `index` block per curve, commented), NAME.gp (a
// standalone script: `cd DIR && gnuplot NAME.gp` re-renders it, so a user can restyle it) and
// NAME.png.
#include <Eigen/Core>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dposg::cli::plot {

struct Curve {
  std::string title;  // legend entry, shown as is (no enhanced-text markup); "" = not in the legend
  int colour = -1;    // index into the colour cycle; -1 = the curve's own position
  int point_type = 0; // 0 = a line; else points of this gnuplot point type (7 filled circle, 4 open square)
  double point_size = 1.6;
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // a min/max band when not empty (same length as x)
  // A dashed line y = y0 * rate^(x - x0) through the curve's first drawn point (x0, y0), in the
  // curve's colour; drawn only when 0 < rate < 1.
  std::optional<double> reference_rate;
};

struct Figure {
  std::string name;    // file stem
  std::string title;   // gnuplot enhanced text; "\n" starts a new line
  std::string xlabel, ylabel;  // enhanced text
  bool logx = false, logy = true;
  bool equal_axes = false;  // one unit is as long on x as on y (scatter plots of 2-D samples)
  std::string reference_title;  // legend entry of the first reference line (enhanced text)
  std::string source;           // where the data came from, for the files' header comments
  // Labelled y tics (shown as is), first at the top; empty = a numeric y axis.
  std::vector<std::pair<double, std::string>> ytics;
  int height = 750;  // pixels (the width is 1200)
  std::vector<Curve> curves;
};

// A grey image (e.g. a grid of generated images), pixel (r, c) drawn at row r from the top.
struct ImageFigure {
  std::string name, title, source;
  Eigen::MatrixXd pixels;
  double low = -1.0, high = 1.0;  // the values drawn black and white
};

// Escapes gnuplot enhanced-text markup (_ ^ { } @ & ~ \) so that `text` prints as written.
std::string enhanced_literal(const std::string& text);

// The gnuplot executable on PATH, or "" when there is none.
std::string find_gnuplot();

// Drops points that cannot be drawn (non-finite, or <= 0 on a log axis) and curves left empty.
// Returns false when nothing is left to draw.
bool prune(Figure& f);

// Writes DIR/NAME.dat, DIR/NAME.gp and runs gnuplot in DIR to make DIR/NAME.png; returns the PNG
// path. Throws InputError when gnuplot is missing or lacks pngcairo, std::runtime_error (with
// gnuplot's messages) when it fails otherwise.
std::string render(const Figure& f, const std::string& dir);
// The same for an image: DIR/NAME.dat (the pixel matrix), DIR/NAME.gp, DIR/NAME.png.
std::string render_image(const ImageFigure& f, const std::string& dir);

}  // namespace dposg::cli::plot
