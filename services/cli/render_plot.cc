#include "services/cli/render_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::cli {

namespace {

bool Positive(double v) { return std::isfinite(v) && v > 0; }

template <typename... Args>
std::string Printf(const char* format, Args... args) {
  char buffer[64];
  const int n = std::snprintf(buffer, sizeof buffer, format, args...);
  return n < 0 ? std::string() : std::string(buffer, std::min<size_t>(n, sizeof buffer - 1));
}

// A count with its noun: "1 point", "3 points".
std::string Count(size_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// An N for a note: integers in full, else 4 significant digits.
std::string FormatN(double n) {
  if (std::isfinite(n) && n == std::floor(n) && std::fabs(n) < 1e15) return Printf("%.0f", n);
  return Printf("%.4g", n);
}

// The range [lo, hi] of positive values, padded by `pad` (a factor) on each
// side; one distinct value gets `single` (a factor) each side instead.
std::pair<double, double> PaddedRange(double lo, double hi, double pad, double single) {
  if (hi / lo < 1.0001) return {lo / single, hi * single};
  return {lo / pad, hi * pad};
}

}  // namespace

// --- LogAxis -------------------------------------------------------------------------------

std::optional<double> LogAxis::Position(double value) const {
  if (!Positive(value)) return std::nullopt;
  if (cells <= 1 || !(hi > lo)) return 0.0;
  return (std::log(value) - std::log(lo)) / (std::log(hi) - std::log(lo)) * (cells - 1);
}

std::optional<int> LogAxis::Cell(double value) const {
  const std::optional<double> p = Position(value);
  if (!p || *p < -0.5 || *p > cells - 0.5) return std::nullopt;
  return std::clamp(static_cast<int>(std::lround(*p)), 0, std::max(0, cells - 1));
}

double LogAxis::ValueAt(double position) const {
  if (cells <= 1 || !(hi > lo)) return std::sqrt(lo * hi);
  return std::exp(std::log(lo) + position / (cells - 1) * (std::log(hi) - std::log(lo)));
}

std::vector<double> LogTicks(double lo, double hi, int min_ticks) {
  std::vector<double> ticks;
  if (!Positive(lo) || !Positive(hi) || !(hi > lo)) return ticks;
  const int first = static_cast<int>(std::floor(std::log10(lo))) - 1;
  const int last = static_cast<int>(std::ceil(std::log10(hi))) + 1;
  if (last - first > 40 || first < -300 || last > 300) return ticks;  // absurd: no ticks
  for (const std::vector<double>& mantissas :
       {std::vector<double>{1}, std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 5}}) {
    ticks.clear();
    for (int e = first; e <= last; ++e) {
      for (double m : mantissas) {
        // m * 10^e computed from the decimal text, so 0.3 is the double 0.3.
        const double v = std::stod(absl::StrCat(m, "e", e));
        // A hair of slack: a range that ends on a tick keeps it.
        if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) ticks.push_back(v);
      }
    }
    if (static_cast<int>(ticks.size()) >= min_ticks) break;
  }
  return ticks;
}

std::string FormatTick(double value) {
  if (!std::isfinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
  const double a = std::fabs(value);
  if (a != 0 && (a < 1e-4 || a >= 1e9)) return Printf("%.2g", value);
  std::string text = Printf("%.3g", value);
  if (text.find('e') != std::string::npos) {  // %.3g writes 12345 as 1.23e+04
    text = Printf("%.0f", value);
  }
  return text;
}

// --- Layout ---------------------------------------------------------------------------------

char PlotLayout::At(int column, int row) const {
  if (row < 0 || row >= static_cast<int>(rows.size()) || column < 0 ||
      column >= static_cast<int>(rows[row].size())) {
    return ' ';
  }
  return rows[row][column];
}

std::optional<int> PlotLayout::Row(double s) const {
  const std::optional<int> cell = y.Cell(s);
  if (!cell) return std::nullopt;
  return height - 1 - *cell;
}

namespace {

// Marks drawn later win only over marks of lower priority: a point hides a
// line, never the other way round.
int Priority(char mark) {
  switch (mark) {
    case kMarkFit: return 1;
    case kMarkShaft: return 2;
    case kMarkHeadLeft:
    case kMarkHeadRight: return 3;
    case kMarkTeleop:
    case kMarkPositive:
    case kMarkNegative:
    case kMarkUndefined: return 4;
    default: return 0;
  }
}

void Put(PlotLayout& layout, int column, int row, char mark) {
  if (row < 0 || row >= layout.height || column < 0 || column >= layout.width) return;
  char& cell = layout.rows[row][column];
  if (Priority(mark) >= Priority(cell)) cell = mark;
}

char MixedMark(const MixedPlotPoint& m) {
  if (m.eta && *m.eta > 0) return kMarkPositive;
  if (m.eta && *m.eta < 0) return kMarkNegative;
  return kMarkUndefined;
}

std::string MixedName(const std::string& source, const MixedPlotPoint& m) {
  return absl::StrCat(source.empty() ? "mixed" : source, " N=", FormatN(m.n_tele), "+",
                      m.n_nt);
}

}  // namespace

PlotLayout LayOutLogLogPlot(const LogLogPlotInput& input, int width, int height) {
  PlotLayout layout;
  width = std::max(width, 8);
  height = std::max(height, 4);

  // What can be drawn: N > 0 and S > 0, both finite.
  std::vector<const PlotPoint*> teleop;
  std::vector<const MixedPlotPoint*> mixed;
  std::vector<std::string> zero_names;
  for (const PlotPoint& p : input.teleop) {
    if (Positive(p.n) && Positive(p.s)) {
      teleop.push_back(&p);
    } else {
      zero_names.push_back(absl::StrCat(input.points_name, " N=", FormatN(p.n)));
    }
  }
  for (const MixedPlotPoint& m : input.mixed) {
    if (Positive(m.n_tele) && Positive(m.s)) {
      mixed.push_back(&m);
    } else {
      zero_names.push_back(MixedName(input.source, m));
    }
  }
  layout.zero_points = static_cast<int>(zero_names.size());
  std::vector<std::string> notes;
  if (!zero_names.empty()) {
    notes.push_back(absl::StrCat("not drawn, S = 0 has no place on a log axis: ",
                                 Count(zero_names.size(), "point", "points"), " (",
                                 absl::StrJoin(zero_names, "; "), ")"));
  }
  if (teleop.empty() && mixed.empty()) {
    layout.notes.push_back(input.teleop.empty() && input.mixed.empty()
                               ? "nothing to plot: no results yet"
                               : "nothing to plot: no point with S > 0");
    for (std::string& note : notes) layout.notes.push_back(std::move(note));
    return layout;
  }

  // The x range: the measured N, and the N_eq of the arrows unless far out.
  double n_lo = INFINITY, n_hi = 0;
  for (const PlotPoint* p : teleop) n_lo = std::min(n_lo, p->n), n_hi = std::max(n_hi, p->n);
  for (const MixedPlotPoint* m : mixed) {
    n_lo = std::min(n_lo, m->n_tele);
    n_hi = std::max(n_hi, m->n_tele);
  }
  const double measured_lo = n_lo, measured_hi = n_hi;
  for (const MixedPlotPoint* m : mixed) {
    if (m->n_eq && Positive(*m->n_eq) && *m->n_eq >= measured_lo / 8 &&
        *m->n_eq <= measured_hi * 8) {
      n_lo = std::min(n_lo, *m->n_eq);
      n_hi = std::max(n_hi, *m->n_eq);
    }
  }
  const auto [x_lo, x_hi] = PaddedRange(n_lo, n_hi, 1.12, std::sqrt(10.0));

  // The y range: the S drawn, capped at 1 when every S is at most 1.
  double s_lo = INFINITY, s_hi = 0;
  for (const PlotPoint* p : teleop) s_lo = std::min(s_lo, p->s), s_hi = std::max(s_hi, p->s);
  for (const MixedPlotPoint* m : mixed) s_lo = std::min(s_lo, m->s), s_hi = std::max(s_hi, m->s);
  auto [y_lo, y_hi] = PaddedRange(s_lo, s_hi, 1.15, 2.0);
  if (s_hi <= 1) y_hi = std::min(y_hi, std::max(s_hi, 1.0));

  layout.drawn = true;
  layout.width = width;
  layout.height = height;
  layout.x = LogAxis{x_lo, x_hi, width};
  layout.y = LogAxis{y_lo, y_hi, height};
  layout.rows.assign(height, std::string(width, ' '));
  layout.fit_rows.assign(width, std::nullopt);

  // The fitted line: in each column, every row the curve crosses between
  // the column's left and right edges, so the line has no gaps and passes
  // through the cell of any point on the curve.
  const PlotFit& fit = input.fit;
  const bool fit_drawn = fit.drawable && Positive(fit.alpha) && std::isfinite(fit.beta);
  if (fit_drawn) {
    const double log_alpha = std::log(fit.alpha);
    for (int c = 0; c < width; ++c) {
      auto position = [&](double at) {
        const double log_s = log_alpha + fit.beta * std::log(layout.x.ValueAt(at));
        return (log_s - std::log(y_lo)) / (std::log(y_hi) - std::log(y_lo)) * (height - 1);
      };
      const double a = position(c - 0.5), b = position(c + 0.5);
      const double lo = std::min(a, b), hi = std::max(a, b);
      if (!std::isfinite(lo) || !std::isfinite(hi) || hi < -0.5 || lo > height - 0.5) continue;
      const int cell_lo = std::max(0, static_cast<int>(std::lround(std::max(lo, -0.5))));
      const int cell_hi =
          std::min(height - 1, static_cast<int>(std::lround(std::min(hi, height - 0.5))));
      if (cell_lo > cell_hi) continue;
      layout.fit_rows[c] = std::make_pair(height - 1 - cell_hi, height - 1 - cell_lo);
      for (int cell = cell_lo; cell <= cell_hi; ++cell) Put(layout, c, height - 1 - cell, kMarkFit);
    }
  } else {
    notes.push_back(absl::StrCat(
        "no fitted line: ", fit.undefined_reason.empty() ? "no fit" : fit.undefined_reason,
        fit.undefined_reason == "too few points" ? " (the fit needs 2 distinct N with S > 0)" : ""));
  }

  // The arrows, from each mixed point along S_mix to N_eq.
  std::vector<std::string> cut;
  for (const MixedPlotPoint* m : mixed) {
    if (!m->n_eq || !Positive(*m->n_eq) || *m->n_eq == m->n_tele) continue;
    const std::optional<int> from = layout.x.Cell(m->n_tele);
    const std::optional<int> row = layout.Row(m->s);
    if (!from || !row) continue;
    const bool right = *m->n_eq > m->n_tele;
    std::optional<int> to = layout.x.Cell(*m->n_eq);
    if (!to) {
      to = right ? width - 1 : 0;
      cut.push_back(absl::StrCat(MixedName(input.source, *m), ": N_eq = ", FormatN(*m->n_eq)));
    }
    if (*to == *from) continue;  // shorter than a character
    const int step = right ? 1 : -1;
    for (int c = *from + step; c != *to; c += step) Put(layout, c, *row, kMarkShaft);
    Put(layout, *to, *row, right ? kMarkHeadRight : kMarkHeadLeft);
  }
  if (!cut.empty()) {
    notes.push_back(absl::StrCat("arrows cut at the edge (N_eq beyond the plot): ",
                                 absl::StrJoin(cut, "; ")));
  }

  // The points last: they hide lines. Two points in one cell show one mark.
  std::set<std::pair<int, int>> taken;
  int hidden = 0;
  auto point = [&](double n, double s, char mark) {
    const std::optional<int> c = layout.x.Cell(n);
    const std::optional<int> r = layout.Row(s);
    if (!c || !r) return;
    if (!taken.insert({*c, *r}).second) ++hidden;
    Put(layout, *c, *r, mark);
  };
  for (const PlotPoint* p : teleop) point(p->n, p->s, kMarkTeleop);
  for (const MixedPlotPoint* m : mixed) point(m->n_tele, m->s, MixedMark(*m));
  if (hidden > 0) {
    notes.push_back(absl::StrCat(Count(hidden, "point shares", "points share"),
                                 " a character with another point (one mark shown)"));
  }
  layout.notes = std::move(notes);
  return layout;
}

// --- Rendering ------------------------------------------------------------------------------

namespace {

const char* ColorOf(char mark) {
  switch (mark) {
    case kMarkTeleop: return "\x1b[1;36m";     // bold cyan
    case kMarkPositive: return "\x1b[1;32m";   // bold green
    case kMarkNegative: return "\x1b[1;31m";   // bold red
    case kMarkUndefined: return "\x1b[1;33m";  // bold yellow
    case kMarkFit: return "\x1b[2m";           // dim
    case kMarkShaft:
    case kMarkHeadLeft:
    case kMarkHeadRight: return "\x1b[33m";  // yellow
    default: return nullptr;
  }
}

// `text` with runs of marks coloured; the visible text is unchanged.
std::string Paint(const std::string& text, bool color) {
  if (!color) return text;
  std::string out;
  const char* current = nullptr;
  for (char c : text) {
    const char* want = ColorOf(c);
    if (want != current) {
      if (current != nullptr) out += "\x1b[0m";
      if (want != nullptr) out += want;
      current = want;
    }
    out += c;
  }
  if (current != nullptr) out += "\x1b[0m";
  return out;
}

std::string RightTrim(std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

// Words joined by `separator`, wrapped at `width`, each line after the
// first indented by `indent`.
std::vector<std::string> Wrap(const std::vector<std::string>& entries, const std::string& separator,
                              size_t width, const std::string& indent) {
  std::vector<std::string> lines;
  std::string line;
  for (const std::string& e : entries) {
    if (line.empty()) {
      line = lines.empty() ? e : indent + e;
    } else if (line.size() + separator.size() + e.size() <= width) {
      line += separator + e;
    } else {
      lines.push_back(line);
      line = indent + e;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

// A note split into lines of at most `width` at spaces (continuation lines
// indented by two).
std::vector<std::string> WrapText(const std::string& text, size_t width) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return Wrap(words, " ", width, "  ");
}

}  // namespace

std::string RenderLogLogPlot(const LogLogPlotInput& input, const PlotOptions& options) {
  const int total = std::max(options.width, 30);
  const int height = std::max(options.height, 4);

  // The y labels set the left margin; the y range does not depend on the
  // width, so a first, narrow layout gives them.
  const PlotLayout probe = LayOutLogLogPlot(input, 8, height);
  if (!probe.drawn) {
    std::string out;
    for (const std::string& note : probe.notes) {
      for (const std::string& line : WrapText(note, total)) absl::StrAppend(&out, line, "\n");
    }
    return out;
  }
  std::vector<std::pair<int, std::string>> y_labels;  // row, label
  {
    std::vector<double> ticks = LogTicks(probe.y.lo, probe.y.hi, 3);
    // No more labels than every other row.
    if (static_cast<int>(ticks.size()) > (height + 1) / 2) ticks = LogTicks(probe.y.lo, probe.y.hi, 1);
    std::set<int> rows;
    for (double t : ticks) {
      const std::optional<int> row = probe.Row(t);
      if (row && rows.insert(*row).second) y_labels.emplace_back(*row, FormatTick(t));
    }
    if (y_labels.size() < 2) {  // a narrow range: label the top and bottom rows
      y_labels.clear();
      y_labels.emplace_back(0, FormatTick(probe.y.ValueAt(height - 1)));
      y_labels.emplace_back(height - 1, FormatTick(probe.y.ValueAt(0)));
    }
  }
  size_t margin = 1;
  for (const auto& [row, label] : y_labels) margin = std::max(margin, label.size());
  const int width = total - static_cast<int>(margin) - 1;
  const PlotLayout layout = LayOutLogLogPlot(input, width, height);

  std::string out = "S (log)\n";
  for (int r = 0; r < height; ++r) {
    std::string label;
    for (const auto& [row, text] : y_labels) {
      if (row == r) label = text;
    }
    const std::string line = RightTrim(layout.rows[r]);
    absl::StrAppend(&out, std::string(margin - label.size(), ' '), label, label.empty() ? "|" : "+",
                    Paint(line, options.color), "\n");
  }

  // The x axis: the measured N first, then the powers of ten where there is
  // room; each label centred on its column, at least one blank between two.
  std::vector<double> x_ticks;
  {
    std::set<double> measured;
    for (const PlotPoint& p : input.teleop) {
      if (Positive(p.n) && Positive(p.s)) measured.insert(p.n);
    }
    for (const MixedPlotPoint& m : input.mixed) {
      if (Positive(m.n_tele) && Positive(m.s)) measured.insert(m.n_tele);
    }
    x_ticks.assign(measured.begin(), measured.end());
    // Powers of ten, then 2 and 5 times them, where the labels fit.
    std::vector<double> nice = LogTicks(layout.x.lo, layout.x.hi, 1000);  // every 1-2-3-5 tick
    for (bool power : {true, false}) {
      for (double t : nice) {
        const double mantissa = t / std::pow(10.0, std::floor(std::log10(t) + 1e-9));
        const bool is_power = std::fabs(mantissa - 1) < 1e-6;
        const bool is_two_five = std::fabs(mantissa - 2) < 1e-6 || std::fabs(mantissa - 5) < 1e-6;
        if ((power ? is_power : is_two_five) && !measured.count(t)) x_ticks.push_back(t);
      }
    }
  }
  std::string axis(width, '-');
  std::string labels(width, ' ');
  std::vector<bool> used(width, false);
  for (double t : x_ticks) {
    const std::optional<int> c = layout.x.Cell(t);
    if (!c) continue;
    const std::string text = FormatTick(t);
    const int len = static_cast<int>(text.size());
    if (len > width) continue;
    const int start = std::clamp(*c - (len - 1) / 2, 0, width - len);
    bool free = true;
    for (int i = std::max(0, start - 1); i < std::min(width, start + len + 1); ++i) {
      free &= !used[i];
    }
    if (!free) continue;
    for (int i = 0; i < len; ++i) {
      labels[start + i] = text[i];
      used[start + i] = true;
    }
    axis[*c] = '+';
  }
  absl::StrAppend(&out, std::string(margin, ' '), "+", axis, "\n");
  std::string label_line = RightTrim(std::string(margin + 1, ' ') + labels);
  const std::string& x_title = input.x_title;
  if (label_line.size() + 3 + x_title.size() <= static_cast<size_t>(total)) {
    absl::StrAppend(&out, label_line, "   ", x_title, "\n");
  } else {
    absl::StrAppend(&out, label_line, "\n",
                    std::string(std::max<int>(0, total - static_cast<int>(x_title.size())), ' '),
                    x_title, "\n");
  }

  // The legend: the marks, then the notes.
  std::vector<std::pair<std::string, std::string>> legend = {
      {"o", absl::StrCat(input.points_name, " only (seed mean)")}};
  if (layout.fit_rows.end() !=
      std::find_if(layout.fit_rows.begin(), layout.fit_rows.end(),
                   [](const auto& rows) { return rows.has_value(); })) {
    legend.emplace_back("...", absl::StrCat("fit S = ", FormatTick(input.fit.alpha), " N^",
                                            FormatTick(input.fit.beta)));
  }
  // Without mixed points (a scaling estimate), no marks nor arrows for them.
  const bool any_mixed = !input.mixed.empty();
  if (any_mixed) {
    legend.emplace_back(
        "+", absl::StrCat(input.source.empty() ? "mixed" : absl::StrCat(input.source, " mix"),
                          ", eta > 0"));
    legend.emplace_back("x", "eta < 0");
  }
  bool any_undefined = false;
  for (const MixedPlotPoint& m : input.mixed) any_undefined |= MixedMark(m) == kMarkUndefined;
  if (any_undefined) legend.emplace_back("*", "eta undefined or infinite");
  std::string line;
  size_t visible = 0;
  for (const auto& [mark, text] : legend) {
    const size_t entry = mark.size() + 1 + text.size();
    if (visible > 0 && visible + 3 + entry > static_cast<size_t>(total)) {
      absl::StrAppend(&out, line, "\n");
      visible = 0;
    }
    if (visible == 0) {
      line = "  ";
      visible = 2;
    } else {
      line += "   ";
      visible += 3;
    }
    absl::StrAppend(&line, Paint(mark, options.color), " ", text);
    visible += entry;
  }
  absl::StrAppend(&out, line, "\n");
  std::vector<std::string> notes;
  if (any_mixed) {
    notes.push_back(
        "+--> arrows go from a mixed point (N'_t, S_mix) along S_mix to N_eq, where the fit "
        "reaches S_mix: right when eta > 0, left when eta < 0");
  }
  notes.insert(notes.end(), layout.notes.begin(), layout.notes.end());
  for (const std::string& note : notes) {
    for (const std::string& text : WrapText(note, static_cast<size_t>(total) - 2)) {
      absl::StrAppend(&out, "  ", text, "\n");
    }
  }
  return out;
}

}  // namespace mixsweep::cli
