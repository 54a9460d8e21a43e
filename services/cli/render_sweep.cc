#include "services/cli/render_sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/cli/render.h"

namespace mixsweep::cli {
namespace v1 = mixsweep::v1;

namespace {

int CountOf(const google::protobuf::Map<std::string, int32_t>& counts, const char* key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

int JobsEnded(const v1::SweepCounts& c) {
  return CountOf(c.jobs_by_state(), "JOB_STATE_SUCCEEDED") +
         CountOf(c.jobs_by_state(), "JOB_STATE_FAILED") +
         CountOf(c.jobs_by_state(), "JOB_STATE_CANCELLED");
}

bool Complete(const v1::ScenarioResult& r) {
  return r.state() == "complete" ||
         (r.trials_wanted() > 0 && r.trials_recorded() >= r.trials_wanted());
}

template <typename... Args>
std::string Printf(const char* format, Args... args) {
  char buffer[64];
  const int n = std::snprintf(buffer, sizeof buffer, format, args...);
  return n < 0 ? std::string() : std::string(buffer, std::min<size_t>(n, sizeof buffer - 1));
}

}  // namespace

EvaluationProgress CountEvaluations(const v1::Sweep& sweep,
                                    const std::vector<v1::ScenarioResult>& results) {
  EvaluationProgress p;
  for (const v1::ScenarioResult& r : results) {
    if (r.state() == "cancelled") continue;
    if (Complete(r)) {
      ++p.complete;
    } else {
      ++p.open;
    }
    p.trials_recorded += r.trials_recorded();
    p.trials_wanted += r.trials_wanted();
  }
  if (sweep.state() != v1::SWEEP_STATE_CANCELLED) {
    const auto& runs = sweep.counts().runs_by_state();
    const int training = CountOf(runs, "RUN_STATE_PENDING") + CountOf(runs, "RUN_STATE_TRAINING");
    p.waiting = training * sweep.scenarios_size();
    for (const v1::Scenario& s : sweep.scenarios()) p.trials_wanted += int64_t{training} * s.trials();
  }
  return p;
}

EvaluationProgress CompletedEvaluations(const v1::Sweep& sweep) {
  const auto& runs = sweep.counts().runs_by_state();
  EvaluationProgress p;
  p.complete = (CountOf(runs, "RUN_STATE_TRAINED") + CountOf(runs, "RUN_STATE_EVALUATED")) *
               sweep.scenarios_size();
  return p;
}

double OverallFraction(const v1::Sweep& sweep,
                       const std::optional<EvaluationProgress>& evaluations) {
  double done = JobsEnded(sweep.counts());
  double total = sweep.counts().jobs_total();
  if (evaluations) {
    done += evaluations->complete;
    total += evaluations->total();
  }
  return total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
}

std::string RenderBar(double fraction, int width) {
  if (!(fraction >= 0)) fraction = 0;  // NaN too
  fraction = std::min(fraction, 1.0);
  // Rounded down: full and 100% only when everything is done.
  const int filled = static_cast<int>(fraction * width);
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '-'), "] ",
                      Printf("%3d%%", static_cast<int>(fraction * 100)));
}

std::string RenderEvaluationLine(const EvaluationProgress& e, int width) {
  const int total = e.total();
  const double fraction = total > 0 ? static_cast<double>(e.complete) / total : 0.0;
  const int filled = static_cast<int>(fraction * width);
  std::vector<std::string> parts = {
      absl::StrCat("evaluations [", std::string(filled, '#'), std::string(width - filled, '-'),
                   "] ", e.complete, "/", total, " complete")};
  if (e.open > 0) parts.push_back(absl::StrCat(e.open, " open"));
  if (e.waiting > 0) parts.push_back(absl::StrCat(e.waiting, " waiting for training"));
  if (e.trials_wanted > 0) {
    parts.push_back(absl::StrCat(e.trials_recorded, "/", e.trials_wanted, " trials"));
  }
  return absl::StrJoin(parts, " · ");
}

std::string RenderSweepList(const std::vector<v1::Sweep>& sweeps,
                            const std::vector<std::optional<EvaluationProgress>>& evaluations) {
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < sweeps.size(); ++i) {
    const v1::Sweep& s = sweeps[i];
    const std::optional<EvaluationProgress> e =
        i < evaluations.size() ? evaluations[i] : std::nullopt;
    rows.push_back({absl::StrCat(s.id()), s.name(),
                    ShortEnumName(v1::SweepState_Name(s.state())),
                    RenderBar(OverallFraction(s, e), 12),
                    absl::StrCat(JobsEnded(s.counts()), "/", s.counts().jobs_total()),
                    e ? absl::StrCat(e->complete, "/", e->total()) : "-",
                    absl::StrCat(s.counts().runs_total()), s.owner()});
  }
  return RenderTable({"ID", "NAME", "STATE", "PROGRESS", "JOBS", "EVALS", "RUNS", "OWNER"}, rows);
}

// --- What the sweep is made of --------------------------------------------------------------

namespace {

// 4 significant digits, no exponent for ordinary values ("0.00741", "12.5").
std::string Number(double value) { return Printf("%.4g", value); }

std::string KindName(v1::SourceKind kind) {
  switch (kind) {
    case v1::SOURCE_KIND_SIMULATION: return "simulation";
    case v1::SOURCE_KIND_HUMAN_VIDEO: return "human video";
    case v1::SOURCE_KIND_TELEOP: return "teleop";
    default: return "non-teleop";
  }
}

std::string JoinN(const google::protobuf::RepeatedField<int64_t>& values) {
  return absl::StrJoin(values, ",");
}

std::string AggregationText(const std::string& aggregation) {
  if (aggregation == "max_over_checkpoints") {
    return "max_over_checkpoints (per seed, the best checkpoint's S; robot scenarios use the "
           "last)";
  }
  if (aggregation == "last") return "last (the last checkpoint's S)";
  return aggregation;
}

// Rows of (name, text), the texts aligned, each line indented by two.
std::string NamedLines(const std::vector<std::vector<std::string>>& rows) {
  const std::string table = RenderTable({"", ""}, rows);
  std::string out;
  for (absl::string_view line :
       absl::StrSplit(table.substr(table.find('\n') + 1), '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, "  ", line, "\n");
  }
  return out;
}

}  // namespace

std::string DescribeSource(const v1::SourceSummary& s) {
  std::vector<std::string> parts = {KindName(s.kind())};
  if (!s.generated()) {
    parts.push_back("collected");
  } else {
    std::string g = absl::StrCat("generated (", s.generate_demos(), " demos");
    if (!s.generate_from().uri().empty()) absl::StrAppend(&g, " from ", s.generate_from().uri());
    const v1::GenerationResult& r = s.generation();
    if (r.job_id() == 0) {
      absl::StrAppend(&g, "; no generate job yet");
    } else {
      std::vector<std::string> job = {
          ShortEnumName(v1::JobState_Name(r.state()))};
      if (r.num_attempts() > 0) {
        job.push_back(absl::StrCat(r.num_success(), "/", r.num_attempts(), " successes = ",
                                   Printf("%.1f", r.success_rate() * 100), "%"));
      }
      if (r.seconds() > 0) job.push_back(FormatDuration(r.seconds()));
      if (r.measured_cost_per_demo_hours() > 0) {
        job.push_back(absl::StrCat(Number(r.measured_cost_per_demo_hours()),
                                   " h per demo measured vs ", Number(s.cost_per_demo_hours()),
                                   " h in the spec"));
      }
      absl::StrAppend(&g, "; generate job #", r.job_id(), ": ", absl::StrJoin(job, ", "));
    }
    g += ")";
    parts.push_back(std::move(g));
  }
  if (s.n_nt_size() > 0) parts.push_back(absl::StrCat("N_nt ", JoinN(s.n_nt())));
  // The generated dataset once it exists, else the spec's dataset.
  const std::string dataset =
      s.generated() && !s.generation().dataset_uri().empty() ? s.generation().dataset_uri()
                                                              : s.dataset().uri();
  if (!dataset.empty()) parts.push_back(absl::StrCat("dataset ", dataset));
  if (!s.generated() || s.generation().measured_cost_per_demo_hours() <= 0) {
    if (s.cost_per_demo_hours() > 0) {
      parts.push_back(absl::StrCat(Number(s.cost_per_demo_hours()), " h per demo"));
    }
  }
  return absl::StrJoin(parts, " · ");
}

std::string DescribeScenario(const v1::Scenario& s) {
  std::string who;
  if (s.evaluator() == v1::Scenario::EVALUATOR_SIMULATION) {
    who = absl::StrCat("simulation (", s.result_format().empty() ? "mixsweep" : s.result_format(),
                       ", seed ", s.seed(), ")");
  } else {
    who = s.platform().empty() ? "robot" : absl::StrCat("robot (platform ", s.platform(), ")");
  }
  return absl::StrCat(who, " · ", s.trials(), s.trials() == 1 ? " trial" : " trials");
}

std::string RenderSweepDesign(const v1::Sweep& sweep) {
  const bool scaling = sweep.design() == "scaling";
  std::string out;
  std::vector<std::string> head;
  if (!sweep.design().empty()) {
    head.push_back(absl::StrCat(
        "design ", sweep.design(),
        scaling ? " (one source, S against its N, no teleop; seed 001 Fig. 5)"
        : sweep.design() == "mixture" ? " (teleop x sources; seed 000)"
                                      : ""));
  }
  if (!sweep.aggregation().empty()) {
    head.push_back(absl::StrCat("checkpoints: ", AggregationText(sweep.aggregation())));
  }
  if (!head.empty()) absl::StrAppend(&out, absl::StrJoin(head, " · "), "\n");
  if (sweep.n_tele_size() > 0) {
    absl::StrAppend(&out, "teleop: N_tele ", JoinN(sweep.n_tele()));
    if (sweep.teleop_cost_per_demo_hours() > 0) {
      absl::StrAppend(&out, " · ", Number(sweep.teleop_cost_per_demo_hours()), " h per demo");
    }
    if (!sweep.teleop_dataset().uri().empty()) {
      absl::StrAppend(&out, " · dataset ", sweep.teleop_dataset().uri());
    }
    out += "\n";
  } else if (scaling && sweep.baseline_from_sweep() != 0) {
    absl::StrAppend(&out, "teleop: none; exchange rates against the teleop curve of sweep ",
                    sweep.baseline_from_sweep(), "\n");
  }
  if (sweep.sources_size() > 0) {
    out += "sources:\n";
    std::vector<std::vector<std::string>> rows;
    for (const v1::SourceSummary& s : sweep.sources()) rows.push_back({s.name(), DescribeSource(s)});
    out += NamedLines(rows);
  }
  if (sweep.scenarios_size() > 0) {
    out += "scenarios:\n";
    std::vector<std::vector<std::string>> rows;
    for (const v1::Scenario& s : sweep.scenarios()) rows.push_back({s.name(), DescribeScenario(s)});
    out += NamedLines(rows);
  }
  return out;
}

// --- The grid -------------------------------------------------------------------------------

namespace {

// A cell of a coloured table: pieces of text, each with its colour (or
// none). Only ASCII, so the width is the byte count.
struct Piece {
  std::string text;
  const char* color = nullptr;
};
using Cell = std::vector<Piece>;

size_t WidthOf(const Cell& cell) {
  size_t n = 0;
  for (const Piece& p : cell) n += p.text.size();
  return n;
}

std::string Draw(const Cell& cell, bool color) {
  std::string out;
  for (const Piece& p : cell) {
    if (color && p.color != nullptr && !p.text.empty()) {
      absl::StrAppend(&out, p.color, p.text, "\x1b[0m");
    } else {
      out += p.text;
    }
  }
  return out;
}

constexpr const char* kDim = "\x1b[2m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kBlue = "\x1b[34m";
constexpr const char* kCyan = "\x1b[36m";

const char* StateColor(char c) {
  switch (c) {
    case '.': return kDim;
    case '>': return kYellow;
    case '#': return kBlue;
    case '~': return kCyan;
    case '*': return kGreen;
    case 'x': return kRed;
    case '-': return kDim;
    default: return nullptr;
  }
}

// Red below 1/3, yellow below 2/3, green above.
const char* ScoreColor(double s) { return s < 1.0 / 3 ? kRed : s < 2.0 / 3 ? kYellow : kGreen; }

// A table of coloured cells: the first column holds the row labels; the
// others may belong to groups (`groups[c]`, "" for none), named on a line
// above the header. Columns are split into blocks that fit `width`, each
// repeating the row labels; a group is kept in one block when it fits in
// one.
std::string DrawTable(const std::vector<std::string>& header, const std::vector<std::string>& groups,
                      const std::vector<std::vector<Cell>>& rows, int width, bool color,
                      const std::string& indent) {
  const size_t columns = header.size();
  auto group_of = [&](size_t c) { return c < groups.size() ? groups[c] : std::string(); };
  std::vector<size_t> widths(columns, 0);
  for (size_t c = 0; c < columns; ++c) widths[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < columns && c < row.size(); ++c) {
      widths[c] = std::max(widths[c], WidthOf(row[c]));
    }
  }
  const size_t room = static_cast<size_t>(std::max(width, 1));
  // Units: the columns of one group (or a lone column), packed greedily
  // into blocks; a unit wider than a whole block is packed column by column.
  std::vector<std::pair<size_t, size_t>> units;  // [first, last)
  for (size_t c = 1; c < columns;) {
    size_t end = c + 1;
    while (end < columns && !group_of(c).empty() && group_of(end) == group_of(c)) ++end;
    units.emplace_back(c, end);
    c = end;
  }
  const size_t base = indent.size() + widths[0];
  std::vector<std::vector<size_t>> blocks;
  std::vector<size_t> block;
  size_t used = base;
  auto add = [&](size_t c) {
    if (!block.empty() && used + 2 + widths[c] > room) {
      blocks.push_back(block);
      block.clear();
      used = base;
    }
    block.push_back(c);
    used += 2 + widths[c];
  };
  for (const auto& [first, last] : units) {
    size_t unit_width = 0;
    for (size_t c = first; c < last; ++c) unit_width += 2 + widths[c];
    if (!block.empty() && used + unit_width > room && base + unit_width <= room) {
      blocks.push_back(block);  // start the group on a fresh block
      block.clear();
      used = base;
    }
    for (size_t c = first; c < last; ++c) add(c);
  }
  if (!block.empty()) blocks.push_back(block);

  std::string out;
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (b > 0) out += "\n";
    const std::vector<size_t>& cols = blocks[b];
    auto line = [&](const std::vector<Cell>& cells) {
      std::string text = indent;
      size_t pending = 0;  // blanks owed before the next non-empty cell
      auto put = [&](size_t c) {
        const Cell cell = c < cells.size() ? cells[c] : Cell{};
        const size_t w = WidthOf(cell);
        if (w > 0) {
          text += std::string(pending, ' ');
          text += Draw(cell, color);
          pending = 0;
        }
        pending += widths[c] - w + 2;
      };
      put(0);
      for (size_t c : cols) put(c);
      text.erase(text.find_last_not_of(' ') + 1);
      return text + "\n";
    };
    // The group names, each over its first column in this block, cut to
    // the room before the next name.
    bool any_group = false;
    for (size_t c : cols) any_group |= !group_of(c).empty();
    if (any_group) {
      std::string names = indent + std::string(widths[0] + 2, ' ');
      for (size_t i = 0; i < cols.size(); ++i) {
        const std::string& group = group_of(cols[i]);
        if (i > 0 && group == group_of(cols[i - 1])) continue;
        size_t span = 0;  // the width of this group's columns in the block
        for (size_t k = i; k < cols.size() && group_of(cols[k]) == group; ++k) {
          span += widths[cols[k]] + 2;
        }
        // Cut to leave a blank before the next name.
        std::string name = group.substr(0, span > 1 ? span - 1 : 0);
        names += name + std::string(span - name.size(), ' ');
      }
      names.erase(names.find_last_not_of(' ') + 1);
      out += names + "\n";
    }
    std::vector<Cell> head;
    for (const std::string& h : header) head.push_back({{h}});
    out += line(head);
    for (const auto& row : rows) out += line(row);
  }
  return out;
}

// Entries "X meaning" joined by three blanks, wrapped at `width`.
std::string Legend(const std::vector<std::pair<std::string, std::string>>& entries, int width,
                   bool color, const std::string& indent) {
  std::string out;
  std::string line;
  size_t visible = 0;
  for (const auto& [mark, meaning] : entries) {
    const size_t w = mark.size() + 1 + meaning.size();
    if (visible > 0 && visible + 3 + w > static_cast<size_t>(width)) {
      absl::StrAppend(&out, line, "\n");
      visible = 0;
    }
    if (visible == 0) {
      line = indent;
      visible = indent.size();
    } else {
      line += "   ";
      visible += 3;
    }
    const char* c = mark.size() == 1 ? StateColor(mark[0]) : nullptr;
    absl::StrAppend(&line, Draw({{mark, c}}, color), " ", meaning);
    visible += w;
  }
  if (visible > 0) absl::StrAppend(&out, line, "\n");
  return out;
}

struct Column {
  std::string source;  // "" for the baseline
  int64_t n_nt = 0;
  std::string label;
};

using RunKey = std::tuple<int64_t, std::string, int64_t, int64_t>;  // n_tele, source, n_nt, seed

bool IsActive(v1::JobState s) { return s == v1::JOB_STATE_LEASED || s == v1::JOB_STATE_RUNNING; }

}  // namespace

std::string RenderSweepGrid(const v1::GetSweepResponse& response,
                            const std::vector<v1::ScenarioResult>& results,
                            const SweepGridOptions& options) {
  const v1::Sweep& sweep = response.sweep();
  if (response.runs_size() == 0) return "No runs.\n";

  // Columns: the baseline, then each source's N_nt in the spec's order,
  // then anything the runs have that the spec does not name.
  std::vector<Column> columns;
  std::set<std::pair<std::string, int64_t>> seen;
  auto add_column = [&](const std::string& source, int64_t n_nt) {
    const std::string key_source = n_nt == 0 ? "" : source;
    if (!seen.insert({key_source, n_nt}).second) return;
    columns.push_back({key_source, n_nt,
                       n_nt == 0 ? "baseline" : absl::StrCat(source.empty() ? "?" : source, " ", n_nt)});
  };
  bool has_baseline = false;
  for (const v1::Run& r : response.runs()) has_baseline |= r.n_nt() == 0;
  if (has_baseline) add_column("", 0);
  for (const v1::SourceSummary& s : sweep.sources()) {
    std::vector<int64_t> n_nt(s.n_nt().begin(), s.n_nt().end());
    std::sort(n_nt.begin(), n_nt.end());
    for (int64_t n : n_nt) {
      if (n > 0) add_column(s.name(), n);
    }
  }
  std::set<int64_t> n_tele_set(sweep.n_tele().begin(), sweep.n_tele().end());
  std::vector<int64_t> seeds(sweep.seeds().begin(), sweep.seeds().end());
  std::map<RunKey, const v1::Run*> runs;
  for (const v1::Run& r : response.runs()) {
    add_column(r.source(), r.n_nt());
    n_tele_set.insert(r.n_tele());
    if (std::find(seeds.begin(), seeds.end(), r.seed()) == seeds.end()) seeds.push_back(r.seed());
    runs[{r.n_tele(), r.n_nt() == 0 ? "" : r.source(), r.n_nt(), r.seed()}] = &r;
  }
  // Only the columns and rows that have runs (a spec's N values all do).
  std::vector<Column> used_columns;
  for (const Column& c : columns) {
    for (const v1::Run& r : response.runs()) {
      if (r.n_nt() == c.n_nt && (c.n_nt == 0 || r.source() == c.source)) {
        used_columns.push_back(c);
        break;
      }
    }
  }
  columns = used_columns;
  std::vector<int64_t> n_tele;
  for (int64_t n : n_tele_set) {
    for (const v1::Run& r : response.runs()) {
      if (r.n_tele() == n) {
        n_tele.push_back(n);
        break;
      }
    }
  }

  std::map<int64_t, const v1::Job*> jobs;
  for (const v1::Job& j : response.jobs()) jobs[j.id()] = &j;
  std::vector<std::string> scenarios;
  for (const v1::Scenario& s : sweep.scenarios()) scenarios.push_back(s.name());
  // Per (run, scenario): the result evaluated by default (the run's
  // checkpoint) where a run has several checkpoints, else the last.
  std::map<std::pair<int64_t, std::string>, const v1::ScenarioResult*> result_of;
  std::map<int64_t, const v1::Run*> run_by_id;
  for (const v1::Run& r : response.runs()) run_by_id[r.id()] = &r;
  for (const v1::ScenarioResult& r : results) {
    if (std::find(scenarios.begin(), scenarios.end(), r.scenario()) == scenarios.end()) {
      scenarios.push_back(r.scenario());
    }
    const v1::ScenarioResult*& slot = result_of[{r.run_id(), r.scenario()}];
    auto run = run_by_id.find(r.run_id());
    auto preferred = [&](const v1::ScenarioResult& x) {
      return run != run_by_id.end() && !run->second->checkpoint_uri().empty() &&
             x.checkpoint_uri() == run->second->checkpoint_uri();
    };
    if (slot == nullptr || (preferred(r) && !preferred(*slot)) ||
        (preferred(r) == preferred(*slot) && r.request_id() > slot->request_id())) {
      slot = &r;
    }
  }
  auto result = [&](const v1::Run& run, const std::string& scenario) -> const v1::ScenarioResult* {
    auto it = result_of.find({run.id(), scenario});
    return it == result_of.end() ? nullptr : it->second;
  };

  // The state of a run, one character.
  auto state_char = [&](const v1::Run& run) -> char {
    std::vector<int64_t> ids;
    for (int64_t id : {run.train_job_id(), run.pretrain_job_id(), run.finetune_job_id()}) {
      if (id != 0) ids.push_back(id);
    }
    bool known = !ids.empty(), any_failed = false, all_succeeded = true, any_cancelled = false,
         any_active = false;
    for (int64_t id : ids) {
      auto it = jobs.find(id);
      if (it == jobs.end()) {
        known = false;
        break;
      }
      const v1::JobState s = it->second->state();
      any_failed |= s == v1::JOB_STATE_FAILED;
      all_succeeded &= s == v1::JOB_STATE_SUCCEEDED;
      any_cancelled |= s == v1::JOB_STATE_CANCELLED;
      any_active |= IsActive(s);
    }
    if (!known) {  // no jobs in the response: the run's own state
      any_failed = run.state() == v1::RUN_STATE_FAILED;
      all_succeeded = run.state() == v1::RUN_STATE_TRAINED || run.state() == v1::RUN_STATE_EVALUATED;
      any_cancelled = run.state() == v1::RUN_STATE_CANCELLED;
      any_active = run.state() == v1::RUN_STATE_TRAINING;
    }
    if (any_failed) return 'x';
    if (all_succeeded) {
      int complete = 0;
      bool any_trials = false;
      for (const std::string& s : scenarios) {
        const v1::ScenarioResult* r = result(run, s);
        if (r == nullptr) continue;
        complete += Complete(*r) ? 1 : 0;
        any_trials |= r->trials_recorded() > 0;
      }
      if (!scenarios.empty() && complete == static_cast<int>(scenarios.size())) return '*';
      return any_trials ? '~' : '#';
    }
    if (any_cancelled) return '-';
    return any_active ? '>' : '.';
  };

  const std::string indent = "  ";
  std::vector<std::string> header = {"N_TELE"};
  for (const Column& c : columns) header.push_back(c.label);
  std::vector<std::string> seed_names;
  for (int64_t s : seeds) seed_names.push_back(absl::StrCat(s));
  const std::string seeds_text =
      seeds.size() <= 12 ? absl::StrJoin(seed_names, " ")
                         : absl::StrCat(seed_names.front(), " ... ", seed_names.back(), " (",
                                        seeds.size(), " seeds)");

  std::string out = absl::StrCat("runs (a character per seed: ", seeds_text, ")\n");
  {
    std::vector<std::vector<Cell>> rows;
    for (int64_t n : n_tele) {
      std::vector<Cell> row = {{{absl::StrCat(n)}}};
      for (const Column& c : columns) {
        Cell cell;
        for (int64_t seed : seeds) {
          auto it = runs.find({n, c.source, c.n_nt, seed});
          const char ch = it == runs.end() ? ' ' : state_char(*it->second);
          cell.push_back({std::string(1, ch), StateColor(ch)});
        }
        row.push_back(std::move(cell));
      }
      rows.push_back(std::move(row));
    }
    out += DrawTable(header, {}, rows, options.width, options.color, indent);
    out += Legend({{".", "waiting"},
                   {">", "training"},
                   {"#", "trained"},
                   {"~", "evaluating"},
                   {"*", "evaluated"},
                   {"x", "failed"},
                   {"-", "cancelled"}},
                  options.width, options.color, indent);
  }
  if (sweep.baseline_from_sweep() != 0) {
    absl::StrAppend(&out, indent, "the teleop-only baseline comes from sweep ",
                    sweep.baseline_from_sweep(), "\n");
  }

  if (scenarios.empty()) return out;
  // The scores: one group of columns per scenario, side by side while they
  // fit the width.
  std::map<std::string, int> trials_of;
  for (const v1::Scenario& s : sweep.scenarios()) trials_of[s.name()] = s.trials();
  std::vector<std::string> score_header = {"N_TELE"};
  std::vector<std::string> groups = {""};
  for (const std::string& scenario : scenarios) {
    for (const Column& c : columns) {
      score_header.push_back(c.label);
      groups.push_back(scenario);
    }
  }
  std::vector<std::vector<Cell>> rows;
  for (int64_t n : n_tele) {
    std::vector<Cell> row = {{{absl::StrCat(n)}}};
    for (const std::string& scenario : scenarios) {
      for (const Column& c : columns) {
        Cell cell;
        double sum = 0;
        int with_trials = 0;
        for (int64_t seed : seeds) {
          auto it = runs.find({n, c.source, c.n_nt, seed});
          char ch = ' ';
          const char* color = nullptr;
          if (it != runs.end()) {
            const v1::Run& run = *it->second;
            const v1::ScenarioResult* r = result(run, scenario);
            if (r != nullptr && r->trials_recorded() > 0) {
              sum += r->s();
              ++with_trials;
              if (Complete(*r)) {
                ch = static_cast<char>(
                    '0' + std::clamp(static_cast<int>(std::floor(r->s() * 10)), 0, 9));
                color = ScoreColor(r->s());
              } else {
                ch = '~';
                color = kCyan;
              }
            } else {
              // Not scored: failed, cancelled, or not yet.
              const char state = state_char(run);
              ch = state == 'x' || state == '-'                   ? state
                   : r != nullptr && r->state() == "cancelled" ? '-'
                                                               : '.';
              color = StateColor(ch);
            }
          }
          cell.push_back({std::string(1, ch), color});
        }
        if (with_trials > 0) {
          const double mean = sum / with_trials;
          cell.push_back({" "});
          cell.push_back({Printf("%.2f", mean), ScoreColor(mean)});
        }
        row.push_back(std::move(cell));
      }
    }
    rows.push_back(std::move(row));
  }
  // "10 trials per run" when every scenario wants the same number.
  std::set<int> trials;
  for (const std::string& scenario : scenarios) trials.insert(trials_of[scenario]);
  const std::string per_run =
      trials.size() == 1 && *trials.begin() > 0 ? absl::StrCat(", ", *trials.begin(), " trials per run")
                                                : "";
  absl::StrAppend(&out, "\nS per scenario", per_run,
                  ": a digit per seed (tenths of S: 7 is 0.70-0.79), then the mean\n");
  out += DrawTable(score_header, groups, rows, options.width, options.color, indent);
  out += Legend({{"~", "partly evaluated (in the mean)"},
                 {".", "no trial yet"},
                 {"x", "failed"},
                 {"-", "cancelled"}},
                options.width, options.color, indent);
  return out;
}

}  // namespace mixsweep::cli
