// An ASCII log-log plot for the terminal: seed 000's Figures 4 to 7 (success
// S against N_tele, both axes logarithmic), drawn from an estimate's numbers:
//
//     S (log)
//     0.5 +                                   .......o
//         |                          ....o.....
//     0.3 +        +----------->.....
//         |  .....o....
//     0.2 +o..
//         +-------------+-------------------+---------------------+
//         50            100                 200                   400   N_tele (log)
//
//   o  a teleop-only point (seed mean); the fitted power law S = alpha N^beta
//      as a line of '.'
//   +  a mixed point (N'_t, S_mix) whose global eta is > 0, x one whose eta
//      is < 0, * one whose eta is undefined or infinite (no effect)
//   ->  from a mixed point along S_mix to N_eq, where the fitted curve
//      reaches S_mix: '>' when N_eq > N'_t (eta > 0), '<' when N_eq < N'_t
//      (eta < 0)
//
// Points with S = 0 have no place on a log axis: they are counted and named
// under the plot, never drawn. Pure: plain numbers in (no protos), text out;
// the layout is exposed so tests can check where each mark lands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mixsweep::cli {

// A logarithmic axis: [lo, hi] (0 < lo < hi) over `cells` cells, cell 0 at
// lo and cell cells - 1 at hi, equal steps in log(value).
struct LogAxis {
  double lo = 1;
  double hi = 10;
  int cells = 1;

  // Where `value` falls in cells (fractional: 0 at lo, cells - 1 at hi);
  // nullopt for a value <= 0 or not finite.
  std::optional<double> Position(double value) const;
  // The nearest cell of `value`; nullopt for a value <= 0, not finite, or
  // outside [lo, hi] by more than half a cell.
  std::optional<int> Cell(double value) const;
  // The value at position `position` (fractional cells allowed).
  double ValueAt(double position) const;
};

// "Nice" tick values of a log axis in [lo, hi]: the powers of ten, or, when
// fewer than `min_ticks` of them fall inside, 1-2-5 times powers of ten, and
// failing that 1-2-3-5; ascending. Empty for a bad range.
std::vector<double> LogTicks(double lo, double hi, int min_ticks = 2);

// A number for an axis label: at most 3 significant digits, no exponent
// within 1e-4..1e9 ("0.05", "0.3", "1", "50", "1000", "2.5e+04" beyond).
std::string FormatTick(double value);

struct PlotPoint {
  double n = 0;  // N_tele
  double s = 0;  // seed-mean S
};

// A mixed point and what its global eta says.
struct MixedPlotPoint {
  double n_tele = 0;  // N'_t
  int64_t n_nt = 0;   // N'_nt
  double s = 0;       // S_mix, seed mean
  // Global eta, when defined (finite, non-zero).
  std::optional<double> eta;
  // N_eq on the fitted curve, where it means something (eta defined, or
  // N_eq == N'_t); the arrow goes there.
  std::optional<double> n_eq;
  // Why eta is undefined, in a few words ("no effect", "S_mix=0", ...).
  std::string undefined_reason;
};

// The fitted power law S = alpha N^beta. `drawable` when alpha > 0 and both
// are finite (beta <= 0 is drawn too: it is a fit without positive scaling);
// else `undefined_reason` says why there is no line.
struct PlotFit {
  bool drawable = false;
  double alpha = 0;
  double beta = 0;
  std::string undefined_reason;
};

struct LogLogPlotInput {
  std::vector<PlotPoint> teleop;
  std::vector<MixedPlotPoint> mixed;
  PlotFit fit;
  std::string source;  // names the mixed points in the legend, e.g. "sim"
  // What the 'o' points are and what N counts: seed 000's teleop curve by
  // default; a scaling estimate (seed 001 Fig. 5) plots its source's own
  // curve, S against N source demos, with "sim" / "N sim demos (log)" here.
  std::string points_name = "teleop";
  std::string x_title = "N_tele (log)";
};

// The marks, one character each (also what the colours key on).
inline constexpr char kMarkTeleop = 'o';
inline constexpr char kMarkPositive = '+';
inline constexpr char kMarkNegative = 'x';
inline constexpr char kMarkUndefined = '*';
inline constexpr char kMarkFit = '.';
inline constexpr char kMarkShaft = '-';
inline constexpr char kMarkHeadRight = '>';
inline constexpr char kMarkHeadLeft = '<';

// The plotting area and what was left out of it.
struct PlotLayout {
  // False when nothing can be drawn (no point with S > 0 and N > 0); then
  // `notes` says why and the other fields are empty.
  bool drawn = false;
  LogAxis x;  // N_tele, columns left to right
  LogAxis y;  // S; y.Cell(s) counts from the bottom: row = height - 1 - cell
  int width = 0;
  int height = 0;
  // `height` rows of `width` characters, row 0 at the top (largest S).
  std::vector<std::string> rows;
  // Per column, the rows the fitted line covers there ([top, bottom], top <=
  // bottom); nullopt where it is outside the plot or there is no fit.
  std::vector<std::optional<std::pair<int, int>>> fit_rows;
  // Points with S = 0 (or N <= 0), counted and not drawn.
  int zero_points = 0;
  // Lines for under the plot: what was not drawn and why.
  std::vector<std::string> notes;

  // The character at (column, row); ' ' outside the area.
  char At(int column, int row) const;
  // The row of a value of S (row 0 at the top); nullopt outside the area.
  std::optional<int> Row(double s) const;
};

// Lays out the plotting area (width x height characters, at least 8 x 4).
// The x range covers the teleop and mixed N_tele and the N_eq of the arrows
// (an N_eq more than 8 times beyond the measured N is cut at the edge, with a
// note); the y range covers the S values drawn, up to 1 at most when every S
// is <= 1. One distinct value on an axis gets a range around it.
PlotLayout LayOutLogLogPlot(const LogLogPlotInput& input, int width, int height);

struct PlotOptions {
  int width = 80;   // of the whole plot, labels included (at least 30)
  int height = 15;  // rows of the plotting area (at least 4)
  bool color = false;  // ANSI colours for the marks
};

// The plot with its axes, tick labels, a legend and the notes, every line at
// most `width` characters (without the colour codes) and without trailing
// blanks. When nothing can be drawn, one line saying why.
std::string RenderLogLogPlot(const LogLogPlotInput& input, const PlotOptions& options);

}  // namespace mixsweep::cli
