// services/cli/render_plot.h: the ASCII log-log plot of `util show` (S
// against N_tele, the fitted power law, the mixed points and their arrows to
// N_eq).
#include "services/cli/render_plot.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/render_lines.h"

namespace mixsweep::cli {
namespace {

using ::mixsweep::cli::render_test::ExpectNoTrailingBlanks;
using ::mixsweep::cli::render_test::Lines;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

// Visible characters: ANSI colour sequences take no room.
size_t VisibleWidth(const std::string& line) {
  size_t n = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b') {
      while (i < line.size() && line[i] != 'm') ++i;
      continue;
    }
    ++n;
  }
  return n;
}

int CountOf(const PlotLayout& layout, char mark) {
  int n = 0;
  for (const std::string& row : layout.rows) n += static_cast<int>(std::count(row.begin(), row.end(), mark));
  return n;
}

// S = 0.01 N^0.5 at N = 10, 100, 1000: 0.0316, 0.1, 0.316. The ranges are
// then symmetric in log space around N = 100 and S = 0.1, so with an odd
// width and height those land in the middle column and row.
constexpr double kAlpha = 0.01;
constexpr double kBeta = 0.5;
double Law(double n) { return kAlpha * std::pow(n, kBeta); }

LogLogPlotInput PerfectLaw() {
  LogLogPlotInput in;
  in.source = "sim";
  for (double n : {10.0, 100.0, 1000.0}) in.teleop.push_back({n, Law(n)});
  in.fit = {.drawable = true, .alpha = kAlpha, .beta = kBeta, .undefined_reason = ""};
  return in;
}

// A mixed point on the law in N_t + N_nt / eta: global eta recovers eta and
// N_eq = N_t + N_nt / eta.
MixedPlotPoint Mixed(double n_tele, int64_t n_nt, double eta) {
  MixedPlotPoint m;
  m.n_tele = n_tele;
  m.n_nt = n_nt;
  m.n_eq = n_tele + static_cast<double>(n_nt) / eta;
  m.s = Law(*m.n_eq);
  m.eta = eta;
  return m;
}

// ---------------------------------------------------------------------------
// LogAxis, ticks

TEST(RenderPlotLogAxisTest, EndsGeometricMiddleAndOutside) {
  const LogAxis axis{10, 1000, 21};
  EXPECT_THAT(axis.Cell(10), Optional(0));
  EXPECT_THAT(axis.Cell(1000), Optional(20));
  EXPECT_THAT(axis.Cell(100), Optional(10));  // the geometric middle
  EXPECT_THAT(axis.Position(100), Optional(testing::DoubleNear(10, 1e-9)));
  EXPECT_NEAR(axis.ValueAt(10), 100, 1e-9);
  EXPECT_EQ(axis.Cell(0), std::nullopt);
  EXPECT_EQ(axis.Cell(-5), std::nullopt);
  EXPECT_EQ(axis.Cell(std::numeric_limits<double>::quiet_NaN()), std::nullopt);
  EXPECT_EQ(axis.Cell(std::numeric_limits<double>::infinity()), std::nullopt);
  EXPECT_EQ(axis.Cell(5), std::nullopt);     // below the range
  EXPECT_EQ(axis.Cell(2000), std::nullopt);  // above it
  // Half a cell of slack at each end, for rounding.
  EXPECT_THAT(axis.Cell(axis.ValueAt(-0.4)), Optional(0));
}

TEST(RenderPlotLogAxisTest, OneCellOrAnEmptyRangeDoesNotDivideByZero) {
  EXPECT_THAT(LogAxis({5, 5, 10}).Cell(5), Optional(0));
  EXPECT_THAT(LogAxis({1, 10, 1}).Cell(3), Optional(0));
}

TEST(RenderPlotTicksTest, PowersOfTenThenOneTwoFiveThenOneTwoThreeFive) {
  EXPECT_THAT(LogTicks(10, 1000, 2), ElementsAre(10, 100, 1000));
  EXPECT_THAT(LogTicks(0.08, 0.9, 2), ElementsAre(0.1, 0.2, 0.5));
  EXPECT_THAT(LogTicks(0.15, 0.9, 3), ElementsAre(0.2, 0.3, 0.5));
  EXPECT_THAT(LogTicks(0.21, 0.29, 1), ElementsAre());  // nothing nice inside
  EXPECT_THAT(LogTicks(0, 1, 1), ElementsAre());
  EXPECT_THAT(LogTicks(5, 2, 1), ElementsAre());
  EXPECT_THAT(LogTicks(1e-320, 1e300, 1), ElementsAre());  // absurd: no ticks, no throw
}

TEST(RenderPlotTicksTest, LabelsAreShort) {
  EXPECT_EQ(FormatTick(0.05), "0.05");
  EXPECT_EQ(FormatTick(0.3), "0.3");
  EXPECT_EQ(FormatTick(1), "1");
  EXPECT_EQ(FormatTick(50), "50");
  EXPECT_EQ(FormatTick(1000), "1000");
  EXPECT_EQ(FormatTick(25000), "25000");
  EXPECT_EQ(FormatTick(0.0297), "0.0297");
  EXPECT_EQ(FormatTick(0.51234), "0.512");
  EXPECT_EQ(FormatTick(-0.1), "-0.1");
}

// ---------------------------------------------------------------------------
// Layout

TEST(RenderPlotLayoutTest, PointsLandInTheirCells) {
  const PlotLayout layout = LayOutLogLogPlot(PerfectLaw(), 41, 21);
  ASSERT_TRUE(layout.drawn);
  ASSERT_EQ(layout.rows.size(), 21u);
  for (const std::string& row : layout.rows) ASSERT_EQ(row.size(), 41u);
  // Computed by hand: x spans [10 / 1.12, 1000 * 1.12] over 40 steps, so
  // N = 10 sits at log(1.12) / log(1.12^2 * 100) * 40 = 0.94 -> column 1,
  // 100 in the middle (20), 1000 at 39; S spans [0.0316 / 1.15, 0.316 *
  // 1.15] over 20 steps: 0.0316 -> cell 1 from the bottom (row 19), 0.1 ->
  // row 10, 0.316 -> row 1.
  EXPECT_EQ(layout.At(1, 19), kMarkTeleop);
  EXPECT_EQ(layout.At(20, 10), kMarkTeleop);
  EXPECT_EQ(layout.At(39, 1), kMarkTeleop);
  EXPECT_EQ(CountOf(layout, kMarkTeleop), 3);
  EXPECT_THAT(layout.x.Cell(100), Optional(20));
  EXPECT_THAT(layout.Row(0.1), Optional(10));
  EXPECT_EQ(layout.zero_points, 0);
}

TEST(RenderPlotLayoutTest, TheFitLinePassesThroughThePointsOfAPerfectPowerLaw) {
  for (const auto& [width, height] : std::vector<std::pair<int, int>>{{41, 21}, {72, 15}, {30, 6}}) {
    SCOPED_TRACE(testing::Message() << width << "x" << height);
    const PlotLayout layout = LayOutLogLogPlot(PerfectLaw(), width, height);
    ASSERT_TRUE(layout.drawn);
    for (double n : {10.0, 100.0, 1000.0}) {
      const std::optional<int> column = layout.x.Cell(n);
      const std::optional<int> row = layout.Row(Law(n));
      ASSERT_TRUE(column && row) << n;
      ASSERT_TRUE(layout.fit_rows[*column].has_value()) << n;
      EXPECT_LE(layout.fit_rows[*column]->first, *row) << n;
      EXPECT_GE(layout.fit_rows[*column]->second, *row) << n;
    }
    // A line without gaps: every column has it (the curve stays inside the
    // padded range here), and neighbouring columns touch.
    for (int c = 0; c < width; ++c) {
      ASSERT_TRUE(layout.fit_rows[c].has_value()) << c;
      EXPECT_EQ(layout.At(c, layout.fit_rows[c]->first) != ' ', true) << c;
      if (c > 0) {
        // Rising to the right: this column's bottom is at or just above the
        // previous column's top.
        EXPECT_LE(layout.fit_rows[c]->second, layout.fit_rows[c - 1]->first + 1) << c;
        EXPECT_GE(layout.fit_rows[c]->second, layout.fit_rows[c - 1]->first - 1) << c;
      }
    }
    EXPECT_GT(CountOf(layout, kMarkFit), width - 4);  // the points hide a few
  }
}

TEST(RenderPlotLayoutTest, PositiveEtaPointsRightToItsNeqOnTheCurve) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(100, 1000, 4));  // N_eq = 350 > N'_t = 100
  const PlotLayout layout = LayOutLogLogPlot(in, 61, 21);
  const int from = *layout.x.Cell(100);
  const int to = *layout.x.Cell(350);
  const int row = *layout.Row(in.mixed[0].s);
  ASSERT_GT(to, from + 1);
  EXPECT_EQ(layout.At(from, row), kMarkPositive);
  for (int c = from + 1; c < to; ++c) EXPECT_EQ(layout.At(c, row), kMarkShaft) << c;
  EXPECT_EQ(layout.At(to, row), kMarkHeadRight);
  EXPECT_EQ(CountOf(layout, kMarkHeadLeft), 0);
  // The head is on the fitted curve: S_mix = alpha N_eq^beta.
  ASSERT_TRUE(layout.fit_rows[to].has_value());
  EXPECT_LE(layout.fit_rows[to]->first, row);
  EXPECT_GE(layout.fit_rows[to]->second, row);
}

TEST(RenderPlotLayoutTest, NegativeEtaPointsLeftToItsNeq) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(1000, 500, -1));  // N_eq = 500 < N'_t = 1000
  const PlotLayout layout = LayOutLogLogPlot(in, 61, 21);
  const int from = *layout.x.Cell(1000);
  const int to = *layout.x.Cell(500);
  const int row = *layout.Row(in.mixed[0].s);
  ASSERT_LT(to, from - 1);
  EXPECT_EQ(layout.At(from, row), kMarkNegative);
  for (int c = to + 1; c < from; ++c) EXPECT_EQ(layout.At(c, row), kMarkShaft) << c;
  EXPECT_EQ(layout.At(to, row), kMarkHeadLeft);
  EXPECT_EQ(CountOf(layout, kMarkHeadRight), 0);
  EXPECT_EQ(CountOf(layout, kMarkPositive), 0);
}

TEST(RenderPlotLayoutTest, BothSignsInOnePlotAreToldApart) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(10, 1000, 16));   // N_eq 72.5
  in.mixed.push_back(Mixed(100, 1000, -20)); // N_eq 50
  const PlotLayout layout = LayOutLogLogPlot(in, 81, 21);
  EXPECT_EQ(CountOf(layout, kMarkPositive), 1);
  EXPECT_EQ(CountOf(layout, kMarkNegative), 1);
  EXPECT_EQ(CountOf(layout, kMarkHeadRight), 1);
  EXPECT_EQ(CountOf(layout, kMarkHeadLeft), 1);
  EXPECT_EQ(layout.At(*layout.x.Cell(10), *layout.Row(in.mixed[0].s)), kMarkPositive);
  EXPECT_EQ(layout.At(*layout.x.Cell(100), *layout.Row(in.mixed[1].s)), kMarkNegative);
}

TEST(RenderPlotLayoutTest, AnNeqFarBeyondTheDataIsCutAtTheEdgeWithANote) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(1000, 100000, 1));  // N_eq = 101000, beyond 8 x 1000
  const PlotLayout layout = LayOutLogLogPlot(in, 41, 21);
  ASSERT_TRUE(layout.drawn);
  EXPECT_LT(layout.x.hi, 10000);  // the range did not stretch to it
  // S_mix is above every other S: the arrow runs along the top row.
  const std::optional<int> row = layout.Row(in.mixed[0].s);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(layout.At(40, *row), kMarkHeadRight);
  EXPECT_THAT(layout.notes, testing::Contains(AllOf(HasSubstr("cut at the edge"),
                                                    HasSubstr("sim N=1000+100000: N_eq = 101000"))));
}

TEST(RenderPlotLayoutTest, ZeroSPointsAreCountedNotDrawn) {
  LogLogPlotInput in = PerfectLaw();
  in.teleop.push_back({5, 0});
  MixedPlotPoint zero;
  zero.n_tele = 10;
  zero.n_nt = 1000;
  zero.s = 0;
  zero.undefined_reason = "S_mix=0";
  in.mixed.push_back(zero);
  const PlotLayout layout = LayOutLogLogPlot(in, 41, 21);
  EXPECT_EQ(layout.zero_points, 2);
  EXPECT_EQ(CountOf(layout, kMarkTeleop), 3);
  EXPECT_EQ(CountOf(layout, kMarkUndefined), 0);
  // N = 5 was not drawn, so it does not stretch the axis either.
  EXPECT_GT(layout.x.lo, 5);
  EXPECT_THAT(layout.notes,
              testing::Contains(AllOf(HasSubstr("S = 0"), HasSubstr("2 points"),
                                      HasSubstr("teleop N=5"), HasSubstr("sim N=10+1000"))));
  const std::string text = RenderLogLogPlot(in, {.width = 80, .height = 12, .color = false});
  EXPECT_THAT(text, HasSubstr("not drawn, S = 0 has no place on a log axis: 2 points"));
}

TEST(RenderPlotLayoutTest, OnlyZeroPointsOrNothingSaysWhy) {
  LogLogPlotInput zeros;
  zeros.teleop.push_back({50, 0});
  zeros.teleop.push_back({100, 0});
  const PlotLayout layout = LayOutLogLogPlot(zeros, 40, 10);
  EXPECT_FALSE(layout.drawn);
  EXPECT_EQ(layout.zero_points, 2);
  EXPECT_THAT(layout.notes, testing::Contains(HasSubstr("no point with S > 0")));
  EXPECT_THAT(RenderLogLogPlot(zeros, {}), AllOf(HasSubstr("nothing to plot: no point with S > 0"),
                                                 HasSubstr("2 points (teleop N=50; teleop")));
  EXPECT_EQ(RenderLogLogPlot(LogLogPlotInput(), {}), "nothing to plot: no results yet\n");
}

TEST(RenderPlotLayoutTest, OnePointIsDrawnInTheMiddleWithoutALine) {
  LogLogPlotInput in;
  in.teleop.push_back({50, 0.3});
  in.fit.undefined_reason = "too few points";
  const PlotLayout layout = LayOutLogLogPlot(in, 41, 11);
  ASSERT_TRUE(layout.drawn);
  EXPECT_EQ(layout.At(20, 5), kMarkTeleop);
  EXPECT_EQ(CountOf(layout, kMarkFit), 0);
  EXPECT_THAT(layout.notes,
              testing::Contains(HasSubstr("no fitted line: too few points (the fit needs 2 "
                                          "distinct N with S > 0)")));
  const std::string text = RenderLogLogPlot(in, {});
  EXPECT_THAT(text, HasSubstr("no fitted line: too few points"));
  EXPECT_THAT(text, Not(HasSubstr("fit S =")));
}

TEST(RenderPlotLayoutTest, AllEqualNAndAllEqualSDoNotCrash) {
  LogLogPlotInput same_n;
  same_n.teleop = {{100, 0.2}, {100, 0.4}};
  same_n.fit.undefined_reason = "too few points";
  PlotLayout layout = LayOutLogLogPlot(same_n, 41, 11);
  ASSERT_TRUE(layout.drawn);
  EXPECT_THAT(layout.x.Cell(100), Optional(20));
  EXPECT_EQ(CountOf(layout, kMarkTeleop), 2);

  LogLogPlotInput same_s;
  same_s.teleop = {{50, 0.5}, {100, 0.5}, {200, 0.5}};
  same_s.fit = {.drawable = true, .alpha = 0.5, .beta = 0, .undefined_reason = ""};
  layout = LayOutLogLogPlot(same_s, 41, 11);
  ASSERT_TRUE(layout.drawn);
  // A flat fit: one row, through the points.
  const int row = *layout.Row(0.5);
  EXPECT_EQ(row, 5);
  for (int c = 0; c < 41; ++c) EXPECT_NE(layout.At(c, row), ' ') << c;
  EXPECT_EQ(CountOf(layout, kMarkTeleop), 3);
}

TEST(RenderPlotLayoutTest, UndefinedBetaMeansNoLineNoArrowsAndStarredMixedPoints) {
  LogLogPlotInput in;
  in.source = "sim";
  in.teleop = {{50, 0.2}};
  in.fit.undefined_reason = "too few points";
  MixedPlotPoint m;
  m.n_tele = 50;
  m.n_nt = 1000;
  m.s = 0.4;
  m.undefined_reason = "too few points";
  in.mixed.push_back(m);
  const PlotLayout layout = LayOutLogLogPlot(in, 41, 11);
  ASSERT_TRUE(layout.drawn);
  EXPECT_EQ(CountOf(layout, kMarkFit), 0);
  EXPECT_EQ(CountOf(layout, kMarkShaft), 0);
  EXPECT_EQ(CountOf(layout, kMarkUndefined), 1);
  EXPECT_EQ(CountOf(layout, kMarkTeleop), 1);
  EXPECT_THAT(RenderLogLogPlot(in, {}), HasSubstr("* eta undefined or infinite"));
}

TEST(RenderPlotLayoutTest, NonFiniteInputsAndTinySizesDoNotCrash) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  LogLogPlotInput in;
  in.teleop = {{nan, 0.3}, {50, nan}, {inf, 0.2}, {100, 0.3}, {200, 0.4}};
  in.fit = {.drawable = true, .alpha = nan, .beta = 0.5, .undefined_reason = ""};
  MixedPlotPoint m;
  m.n_tele = 100;
  m.s = 0.5;
  m.eta = 3;
  m.n_eq = inf;
  in.mixed.push_back(m);
  for (int w : {0, 1, 8, 30}) {
    for (int h : {0, 1, 4}) {
      const PlotLayout layout = LayOutLogLogPlot(in, w, h);
      EXPECT_TRUE(layout.drawn);
      EXPECT_EQ(layout.zero_points, 3);  // the three non-finite points
      EXPECT_EQ(CountOf(layout, kMarkFit), 0);
      EXPECT_FALSE(RenderLogLogPlot(in, {.width = w, .height = h, .color = false}).empty());
    }
  }
}

TEST(RenderPlotLayoutTest, ANonPositiveBetaIsDrawnButHasNoArrows) {
  LogLogPlotInput in;
  in.teleop = {{50, 0.4}, {100, 0.35}, {200, 0.3}};
  in.fit = {.drawable = true, .alpha = 0.9, .beta = -0.2, .undefined_reason = ""};
  MixedPlotPoint m;
  m.n_tele = 100;
  m.n_nt = 1000;
  m.s = 0.5;
  m.undefined_reason = "no scaling";
  in.mixed.push_back(m);
  const PlotLayout layout = LayOutLogLogPlot(in, 41, 11);
  EXPECT_GT(CountOf(layout, kMarkFit), 20);
  EXPECT_EQ(CountOf(layout, kMarkShaft) + CountOf(layout, kMarkHeadLeft) +
                CountOf(layout, kMarkHeadRight),
            0);
  // Falling to the right.
  EXPECT_LT(*layout.Row(0.4), *layout.Row(0.3));
}

// ---------------------------------------------------------------------------
// The whole plot

TEST(RenderPlotTest, AxesLabelsLegendAndWidth) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(100, 1000, 4));
  in.mixed.push_back(Mixed(1000, 500, -1));
  const std::string text = RenderLogLogPlot(in, {.width = 100, .height = 15, .color = false});
  const auto lines = Lines(text);
  ASSERT_GT(lines.size(), 19u);
  EXPECT_EQ(lines[0], "S (log)");
  for (const std::string& line : lines) {
    EXPECT_LE(VisibleWidth(line), 100u) << line;
    EXPECT_THAT(line, Not(EndsWith(" "))) << "'" << line << "'";
  }
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  // y ticks at 1-2-5 values, x ticks at the measured N.
  EXPECT_THAT(text, HasSubstr("0.1+"));
  EXPECT_THAT(text, HasSubstr("0.2+"));
  // The x axis and its labels: the line after the plot's rows.
  const std::string& axis = lines[16];
  const std::string& labels = lines[17];
  EXPECT_THAT(axis, testing::StartsWith("    +--"));
  for (const char* n : {"10", "100", "1000"}) {
    const size_t at = (labels + " ").find(std::string(" ") + n + " ");
    ASSERT_NE(at, std::string::npos) << n << " in '" << labels << "'";
    // The tick mark is under the label's first character or within it.
    bool tick = false;
    for (size_t i = at + 1; i <= at + strlen(n); ++i) tick |= i < axis.size() && axis[i] == '+';
    EXPECT_TRUE(tick) << n;
  }
  EXPECT_THAT(text, HasSubstr("N_tele (log)"));
  EXPECT_THAT(text, HasSubstr("o teleop only (seed mean)"));
  EXPECT_THAT(text, HasSubstr("... fit S = 0.01 N^0.5"));
  EXPECT_THAT(text, HasSubstr("+ sim mix, eta > 0"));
  EXPECT_THAT(text, HasSubstr("x eta < 0"));
  EXPECT_THAT(text, HasSubstr("right when eta > 0, left when eta < 0"));
  EXPECT_THAT(text, Not(HasSubstr("eta undefined")));  // none here
}

TEST(RenderPlotTest, ColourOnlyWhenAskedAndTheVisibleTextIsTheSame) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(100, 1000, 4));
  const std::string plain = RenderLogLogPlot(in, {.width = 80, .height = 12, .color = false});
  const std::string color = RenderLogLogPlot(in, {.width = 80, .height = 12, .color = true});
  EXPECT_THAT(color, HasSubstr("\x1b[1;36mo\x1b[0m"));
  EXPECT_THAT(color, HasSubstr("\x1b[1;32m+\x1b[0m"));
  std::string stripped;
  for (size_t i = 0; i < color.size(); ++i) {
    if (color[i] == '\x1b') {
      while (color[i] != 'm') ++i;
      continue;
    }
    stripped += color[i];
  }
  EXPECT_EQ(stripped, plain);
}

TEST(RenderPlotTest, NarrowWidthsStillFit) {
  LogLogPlotInput in = PerfectLaw();
  in.mixed.push_back(Mixed(100, 1000, 4));
  for (int width : {30, 45, 60}) {
    for (const std::string& line : Lines(RenderLogLogPlot(in, {.width = width, .height = 8}))) {
      EXPECT_LE(line.size(), static_cast<size_t>(width)) << width << ": " << line;
    }
  }
}

}  // namespace
}  // namespace mixsweep::cli
