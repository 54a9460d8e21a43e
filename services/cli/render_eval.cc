#include "services/cli/render_eval.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/cli/csv.h"
#include "services/cli/render.h"

namespace mixsweep::cli {
namespace v1 = mixsweep::v1;

namespace {

template <typename... Args>
std::string Printf(const char* format, Args... args) {
  char buffer[128];
  const int n = std::snprintf(buffer, sizeof buffer, format, args...);
  return n < 0 ? std::string() : std::string(buffer, std::min<size_t>(n, sizeof buffer - 1));
}

// Every line of `text` indented by `spaces` (empty lines stay empty).
std::string Indent(const std::string& text, int spaces) {
  std::string out;
  const std::string pad(spaces, ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out += pad;
    out.append(text, start, end - start);
    out += '\n';
    start = end + 1;
  }
  return out;
}

// Free text as one table cell: line breaks (and tabs) would break the
// table's lines, so each run of them becomes " / ".
std::string OneLine(const std::string& text) {
  std::string out;
  bool in_break = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!in_break) out += " / ";
      in_break = true;
      continue;
    }
    in_break = false;
    out += c;
  }
  return out;
}

std::string Bool(bool value) { return value ? "true" : "false"; }

std::string SourceCell(const std::string& source) { return source.empty() ? "-" : source; }

double Seconds(const google::protobuf::Duration& d) {
  return static_cast<double>(d.seconds()) + d.nanos() * 1e-9;
}

bool HasInterval(const v1::EtaInterval& interval) {
  return interval.resamples() > 0 || interval.shape() != v1::EtaInterval::SHAPE_UNSPECIFIED ||
         interval.sign_established() || interval.split();
}

// The shape, known values only; from the booleans for an older server.
v1::EtaInterval::Shape ShapeOf(const v1::EtaInterval& interval) {
  if (v1::EtaInterval::Shape_IsValid(interval.shape()) &&
      interval.shape() != v1::EtaInterval::SHAPE_UNSPECIFIED) {
    return interval.shape();
  }
  if (!HasInterval(interval)) return v1::EtaInterval::SHAPE_UNSPECIFIED;
  if (interval.sign_established()) return v1::EtaInterval::SHAPE_BOUNDED;
  if (interval.split()) return v1::EtaInterval::SHAPE_SPLIT;
  return v1::EtaInterval::SHAPE_UNSPECIFIED;
}

std::string Percent(double level) { return absl::StrCat(FormatValue(level * 100), "%"); }

}  // namespace

// --- Numbers and eta -----------------------------------------------------------

std::string FormatValue(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::fabs(value) < 1e9) return Printf("%.0f", value);
  if (std::fabs(value) >= 1e4 && std::fabs(value) < 1e9) return Printf("%.0f", value);
  return Printf("%.4g", value);
}

std::string ExactValue(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string EtaStatusShortName(v1::Eta::Status status) {
  switch (status) {
    case v1::Eta::STATUS_DEFINED: return "defined";
    case v1::Eta::STATUS_NO_MEASURABLE_EFFECT: return "no effect";
    case v1::Eta::STATUS_S_MIX_ZERO: return "S_mix=0";
    case v1::Eta::STATUS_N_EQ_EQUALS_N_TELE: return "N_eq=N_t";
    case v1::Eta::STATUS_NO_POSITIVE_SCALING: return "no scaling";
    case v1::Eta::STATUS_TOO_FEW_POINTS: return "too few points";
    case v1::Eta::STATUS_ZERO_BASELINE: return "S_t=0";
    case v1::Eta::STATUS_NO_DATA: return "no data";
    case v1::Eta::STATUS_N_EQ_OUT_OF_RANGE: return "N_eq overflow";
    default: return "unknown";
  }
}

std::string FormatEta(const v1::Eta& eta) {
  if (eta.status() == v1::Eta::STATUS_DEFINED) return FormatValue(eta.value());
  return EtaStatusShortName(eta.status());
}

std::string FormatEtaInterval(const v1::EtaInterval& interval) {
  switch (ShapeOf(interval)) {
    case v1::EtaInterval::SHAPE_BOUNDED:
      return absl::StrCat("[", FormatValue(interval.eta().lower()), ", ",
                          FormatValue(interval.eta().upper()), "]");
    case v1::EtaInterval::SHAPE_SPLIT:
      return absl::StrCat("<= ", FormatValue(interval.split_at_or_below()),
                          " or >= ", FormatValue(interval.split_at_or_above()));
    case v1::EtaInterval::SHAPE_AT_OR_ABOVE:
      return absl::StrCat(">= ", FormatValue(interval.split_at_or_above()));
    case v1::EtaInterval::SHAPE_AT_OR_BELOW:
      return absl::StrCat("<= ", FormatValue(interval.split_at_or_below()));
    case v1::EtaInterval::SHAPE_INFINITE_ONLY: return "inf only";
    default: return "-";
  }
}

std::string EtaIntervalShapeName(const v1::EtaInterval& interval) {
  switch (ShapeOf(interval)) {
    case v1::EtaInterval::SHAPE_BOUNDED: return "bounded";
    case v1::EtaInterval::SHAPE_SPLIT: return "split";
    case v1::EtaInterval::SHAPE_AT_OR_ABOVE: return "at_or_above";
    case v1::EtaInterval::SHAPE_AT_OR_BELOW: return "at_or_below";
    case v1::EtaInterval::SHAPE_INFINITE_ONLY: return "infinite_only";
    default: return "";
  }
}

std::string FormatSign(const v1::EtaInterval& interval) {
  if (!HasInterval(interval)) return "-";
  return interval.sign_established() ? "yes" : "no";
}

// --- Robots ----------------------------------------------------------------------

std::string RenderRobots(const v1::ListRobotsResponse& robots) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Robot& r : robots.robots()) {
    rows.push_back({r.id(), r.platform(), r.location().empty() ? "-" : r.location(),
                    FormatTimestamp(r.registered_at())});
  }
  std::string out = RenderTable({"ID", "PLATFORM", "LOCATION", "REGISTERED"}, rows);
  absl::StrAppend(&out, robots.robots_size(), robots.robots_size() == 1 ? " robot\n" : " robots\n");
  return out;
}

std::string RenderRobotsCsv(const v1::ListRobotsResponse& robots) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Robot& r : robots.robots()) {
    rows.push_back({r.id(), r.platform(), r.location(), FormatTimestamp(r.registered_at())});
  }
  return RenderCsv({"id", "platform", "location", "registered_at"}, rows);
}

// --- The operator's batch and the plan ---------------------------------------------

std::string RenderRubric(const v1::Rubric& rubric) {
  std::string out;
  std::vector<std::vector<std::string>> rows;
  if (rubric.kind() == v1::RUBRIC_KIND_MILESTONES) {
    out = "rubric: milestones (the score is the value of the last stage reached)\n";
    rows.push_back({"0)", "none", "0"});
    for (int i = 0; i < rubric.entries_size(); ++i) {
      rows.push_back({absl::StrCat(i + 1, ")"), rubric.entries(i).name(),
                      FormatValue(rubric.entries(i).value())});
    }
    const std::string table = RenderTable({"", "STAGE", "SCORE"}, rows);
    return out + Indent(table, 2);
  }
  if (rubric.kind() == v1::RUBRIC_KIND_ITEMS) {
    out = "rubric: items (the score is the sum of the weights achieved)\n";
    for (const v1::RubricEntry& e : rubric.entries()) {
      rows.push_back({"-", e.name(), FormatValue(e.value())});
    }
    return out + Indent(RenderTable({"", "ITEM", "WEIGHT"}, rows), 2);
  }
  return "rubric: none given\n";
}

std::string RenderBatch(const v1::EvaluationBatch& batch) {
  if (batch.batch_id().empty()) {
    std::string out =
        absl::StrCat("Nothing to evaluate now", batch.robot_id().empty() ? "" : " on robot ",
                     batch.robot_id(), ".\n");
    if (!batch.reason().empty()) absl::StrAppend(&out, "why: ", batch.reason(), "\n");
    return out;
  }
  std::string out =
      absl::StrCat("Batch ", batch.batch_id(), " · robot ", batch.robot_id(),
                   batch.sweep_id() != 0 ? absl::StrCat(" · sweep ", batch.sweep_id()) : "", "\n",
                   "scenario ", batch.scenario(), " · task ", batch.task(), "\n");
  out += RenderRubric(batch.rubric());
  int trials_left = 0;
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < batch.policies_size(); ++i) {
    const v1::BlindPolicy& p = batch.policies(i);
    trials_left += std::max(0, p.trials_wanted() - p.trials_recorded());
    rows.push_back({absl::StrCat(i + 1), p.label(),
                    absl::StrCat(p.trials_recorded(), "/", p.trials_wanted(),
                                 p.trials_recorded() >= p.trials_wanted() ? " done" : ""),
                    p.checkpoint_uri()});
  }
  absl::StrAppend(&out, "policies, in this order (", batch.policies_size(), ", ", trials_left,
                  trials_left == 1 ? " trial" : " trials", " to go):\n");
  out += Indent(RenderTable({"#", "LABEL", "TRIALS", "CHECKPOINT"}, rows), 2);
  if (!batch.reason().empty()) absl::StrAppend(&out, "why this scenario: ", batch.reason(), "\n");
  for (const v1::BlindPolicy& p : batch.policies()) {
    if (p.trials_recorded() < p.trials_wanted()) {
      absl::StrAppend(&out, "next: mixsweep eval record ", p.label(), " --robot ", batch.robot_id(),
                      "\n");
      break;
    }
  }
  return out;
}

namespace {

std::string WidthCell(double width) {
  if (std::isinf(width)) return "no interval yet";
  return FormatValue(width);
}

}  // namespace

std::string RenderPlan(const v1::PlanEvaluationsResponse& plan) {
  if (plan.batches_size() == 0) return "Nothing to evaluate: no open requests outside a batch.\n";
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < plan.batches_size(); ++i) {
    const v1::PlannedBatch& b = plan.batches(i);
    rows.push_back({absl::StrCat(i + 1), absl::StrCat(b.sweep_id()), b.scenario(),
                    absl::StrCat(b.open_requests()), b.platform().empty() ? "any" : b.platform(),
                    WidthCell(b.widest_inverse_width()),
                    b.widest_estimate().empty() ? "-" : OneLine(b.widest_estimate()),
                    OneLine(b.reason())});
  }
  return RenderTable(
      {"#", "SWEEP", "SCENARIO", "OPEN", "PLATFORM", "WIDEST 1/ETA", "ESTIMATE", "REASON"}, rows);
}

std::string RenderPlanCsv(const v1::PlanEvaluationsResponse& plan) {
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < plan.batches_size(); ++i) {
    const v1::PlannedBatch& b = plan.batches(i);
    rows.push_back({absl::StrCat(i + 1), absl::StrCat(b.sweep_id()), b.scenario(),
                    absl::StrCat(b.open_requests()), b.platform(),
                    ExactValue(b.widest_inverse_width()), b.widest_estimate(), b.reason()});
  }
  return RenderCsv({"rank", "sweep_id", "scenario", "open_requests", "platform",
                    "widest_inverse_width", "widest_estimate", "reason"},
                   rows);
}

// --- Results ---------------------------------------------------------------------------

namespace {

std::string SCell(const v1::ScenarioResult& r) {
  return r.trials_recorded() == 0 ? "-" : FormatValue(r.s());
}

std::string TrialNote(const v1::Trial& t) {
  std::vector<std::string> parts;
  if (t.superseded_by_trial_id() != 0) {
    parts.push_back(absl::StrCat("superseded by #", t.superseded_by_trial_id()));
  }
  if (t.supersedes_trial_id() != 0) {
    parts.push_back(absl::StrCat("corrects #", t.supersedes_trial_id(),
                                 t.correction_reason().empty() ? "" : ": ",
                                 OneLine(t.correction_reason())));
  }
  if (t.simulated()) {
    std::string episode = "simulated";
    if (t.has_episode()) {
      absl::StrAppend(&episode, " episode seed ", t.episode().seed());
      if (t.episode().has_rewards()) {
        absl::StrAppend(&episode, ", reward sum ", FormatValue(t.episode().sum_reward()), " max ",
                        FormatValue(t.episode().max_reward()));
      }
    }
    parts.push_back(std::move(episode));
  }
  if (!t.input().notes().empty()) parts.push_back(OneLine(t.input().notes()));
  return absl::StrJoin(parts, " · ");
}

// Who evaluated: a robot operator or a simulation job.
std::string EvaluatorCell(bool simulated) { return simulated ? "sim" : "robot"; }

// The training step of the evaluated checkpoint; 0 is the run's last.
std::string CheckpointCell(int64_t step) {
  return step == 0 ? "last" : absl::StrCat("step ", step);
}

std::vector<std::string> ResultCsvCells(const v1::ScenarioResult& r) {
  return {absl::StrCat(r.run_id()),
          absl::StrCat(r.request_id()),
          absl::StrCat(r.n_tele()),
          r.source(),
          absl::StrCat(r.n_nt()),
          absl::StrCat(r.seed()),
          r.scenario(),
          r.blind_label(),
          r.state(),
          absl::StrCat(r.trials_recorded()),
          absl::StrCat(r.trials_wanted()),
          r.trials_recorded() == 0 ? "" : ExactValue(r.s()),
          r.checkpoint_uri()};
}

const std::vector<std::string>& ResultCsvHeader() {
  static const std::vector<std::string> kHeader = {
      "run_id",        "request_id", "n_tele",        "source", "n_nt",
      "seed",          "scenario",   "blind_label",   "state",  "trials_recorded",
      "trials_wanted", "s",          "checkpoint_uri"};
  return kHeader;
}

}  // namespace

std::string RenderResults(const std::vector<v1::ScenarioResult>& results, bool trials) {
  if (results.empty()) return "No results.\n";
  // The checkpoint column only where some result is of an intermediate
  // checkpoint (simulation scenarios with checkpoints to evaluate).
  bool steps = false;
  for (const v1::ScenarioResult& r : results) steps |= r.checkpoint_step() != 0;
  std::vector<std::vector<std::string>> rows;
  for (const v1::ScenarioResult& r : results) {
    std::vector<std::string> row = {
        absl::StrCat(r.run_id()), absl::StrCat(r.n_tele()), SourceCell(r.source()),
        absl::StrCat(r.n_nt()),   absl::StrCat(r.seed()),   r.scenario(),
        EvaluatorCell(r.simulated())};
    if (steps) row.push_back(CheckpointCell(r.checkpoint_step()));
    for (std::string cell : {r.blind_label().empty() ? "-" : r.blind_label(),
                             absl::StrCat(r.trials_recorded(), "/", r.trials_wanted()), SCell(r),
                             r.state().empty() ? "-" : r.state()}) {
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header = {"RUN", "N_TELE", "SOURCE", "N_NT", "SEED", "SCENARIO", "EVALUATOR"};
  if (steps) header.push_back("CHECKPOINT");
  for (const char* h : {"LABEL", "TRIALS", "S", "STATE"}) header.push_back(h);
  std::string out = RenderTable(header, rows);
  if (!trials) return out;
  std::vector<std::vector<std::string>> trial_rows;
  for (const v1::ScenarioResult& r : results) {
    for (const v1::Trial& t : r.trials()) {
      const v1::TrialInput& in = t.input();
      std::vector<std::string> flags;
      if (in.intervention()) flags.push_back("intervention");
      if (in.safety_stop()) flags.push_back("safety stop");
      trial_rows.push_back(
          {absl::StrCat("#", t.id()), absl::StrCat(t.run_id()), t.scenario(),
           EvaluatorCell(t.simulated()), absl::StrCat(in.trial_index()),
           in.achieved().empty() ? "-" : absl::StrJoin(in.achieved(), ";"), FormatValue(t.score()),
           in.success() ? "yes" : "no",
           in.has_duration() ? absl::StrCat(FormatValue(Seconds(in.duration())), "s") : "-",
           flags.empty() ? "-" : absl::StrJoin(flags, ","),
           in.operator_().empty() ? "-" : in.operator_(),
           in.robot_id().empty() ? "-" : in.robot_id(), FormatTimestamp(t.recorded_at()),
           TrialNote(t)});
    }
  }
  absl::StrAppend(&out, "\n");
  out += RenderTable({"TRIAL", "RUN", "SCENARIO", "EVALUATOR", "INDEX", "ACHIEVED", "SCORE", "SUCCESS",
                      "DURATION", "FLAGS", "OPERATOR", "ROBOT", "RECORDED", "NOTE"},
                     trial_rows);
  return out;
}

std::string RenderResultsCsv(const std::vector<v1::ScenarioResult>& results, bool trials) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = ResultCsvHeader();
  // Columns added later go at the end, so that existing positions stay.
  if (!trials) {
    header.push_back("checkpoint_step");
    header.push_back("simulated");
    for (const v1::ScenarioResult& r : results) {
      std::vector<std::string> row = ResultCsvCells(r);
      row.push_back(absl::StrCat(r.checkpoint_step()));
      row.push_back(Bool(r.simulated()));
      rows.push_back(std::move(row));
    }
    return RenderCsv(header, rows);
  }
  for (const char* column :
       {"trial_id", "trial_index", "achieved", "score", "success", "duration_s", "intervention",
        "safety_stop", "operator", "robot_id", "notes", "video_uris", "recorded_at",
        "supersedes_trial_id", "superseded_by_trial_id", "correction_reason", "simulated",
        // Added with simulation scenarios (seed 001), at the end.
        "checkpoint_step", "episode_seed", "sum_reward", "max_reward"}) {
    header.push_back(column);
  }
  for (const v1::ScenarioResult& r : results) {
    for (const v1::Trial& t : r.trials()) {
      std::vector<std::string> row = ResultCsvCells(r);
      const v1::TrialInput& in = t.input();
      for (std::string cell :
           {absl::StrCat(t.id()), absl::StrCat(in.trial_index()), absl::StrJoin(in.achieved(), ";"),
            ExactValue(t.score()), Bool(in.success()),
            in.has_duration() ? ExactValue(Seconds(in.duration())) : "", Bool(in.intervention()),
            Bool(in.safety_stop()), in.operator_(), in.robot_id(), in.notes(),
            absl::StrJoin(in.video_uris(), ";"), FormatTimestamp(t.recorded_at()),
            t.supersedes_trial_id() == 0 ? "" : absl::StrCat(t.supersedes_trial_id()),
            t.superseded_by_trial_id() == 0 ? "" : absl::StrCat(t.superseded_by_trial_id()),
            t.correction_reason(), Bool(t.simulated()), absl::StrCat(r.checkpoint_step()),
            t.simulated() && t.has_episode() ? absl::StrCat(t.episode().seed()) : "",
            t.episode().has_rewards() ? ExactValue(t.episode().sum_reward()) : "",
            t.episode().has_rewards() ? ExactValue(t.episode().max_reward()) : ""}) {
        row.push_back(std::move(cell));
      }
      rows.push_back(std::move(row));
    }
  }
  return RenderCsv(header, rows);
}

// --- Estimates -------------------------------------------------------------------------

namespace {

std::string SourceKindName(v1::SourceKind kind) {
  switch (kind) {
    case v1::SOURCE_KIND_SIMULATION: return "simulation";
    case v1::SOURCE_KIND_HUMAN_VIDEO: return "human video";
    case v1::SOURCE_KIND_TELEOP: return "teleop";
    default: return "";
  }
}

std::string TruthCell(std::optional<double> value) {
  return value.has_value() ? FormatValue(*value) : "-";
}

// N_eq where it means something.
std::string NeqCell(const v1::GlobalEta& g) {
  switch (g.eta().status()) {
    case v1::Eta::STATUS_DEFINED:
    case v1::Eta::STATUS_N_EQ_EQUALS_N_TELE:
    case v1::Eta::STATUS_NO_MEASURABLE_EFFECT: return FormatValue(g.n_eq());
    default: return "-";
  }
}

// `label` names the fit ("fit", "source fit", "teleop fit"); the second
// line is indented under its text.
std::string FitLine(const v1::PowerLawFit& fit, const std::string& label = "fit") {
  if (!fit.defined()) {
    std::string why = fit.undefined_reason() == v1::Eta::STATUS_UNSPECIFIED
                          ? std::string("no fit")
                          : EtaStatusShortName(fit.undefined_reason());
    std::string out = absl::StrCat(label, ": undefined (", why, ")");
    if (fit.alpha() != 0 || fit.beta() != 0) {  // fitted, but no positive scaling
      absl::StrAppend(&out, " · alpha ", FormatValue(fit.alpha()), " · beta ",
                      FormatValue(fit.beta()));
    }
    if (fit.n_used_size() > 0) {
      std::vector<std::string> used;
      for (int64_t n : fit.n_used()) used.push_back(absl::StrCat(n));
      absl::StrAppend(&out, " · N used ", absl::StrJoin(used, ","));
    }
    if (fit.points_excluded_zero() > 0) {
      absl::StrAppend(&out, " · ", fit.points_excluded_zero(),
                      fit.points_excluded_zero() == 1 ? " point" : " points",
                      " with S = 0 left out");
    }
    return out + "\n";
  }
  std::vector<std::string> used;
  for (int64_t n : fit.n_used()) used.push_back(absl::StrCat(n));
  // Two lines, so that each fits 100 columns.
  std::string out = absl::StrCat(label, ": S = alpha N^beta · alpha ", FormatValue(fit.alpha()),
                                 " · beta ", FormatValue(fit.beta()), " · R^2 ",
                                 Printf("%.3f", fit.r_squared()), " (log space)\n",
                                 std::string(label.size() + 2, ' '));
  if (!used.empty()) absl::StrAppend(&out, "N used ", absl::StrJoin(used, ","), " · ");
  absl::StrAppend(&out, fit.points_excluded_zero(),
                  fit.points_excluded_zero() == 1 ? " point" : " points", " with S = 0 left out\n");
  return out;
}

std::string CurveTable(const v1::Estimate& e) {
  std::vector<const v1::CurvePoint*> points;
  for (const auto& p : e.teleop_curve()) points.push_back(&p);
  for (const auto& p : e.mixed_curve()) points.push_back(&p);
  if (points.empty()) return "";
  bool collection = false, gpu = false, money = false;
  for (const v1::CurvePoint* p : points) {
    collection |= p->cost_collection_hours() != 0;
    gpu |= p->cost_gpu_hours() != 0;
    money |= p->cost_money() != 0;
  }
  std::vector<std::string> header = {"N_TELE", "N_NT", "S", "STD", "SEEDS", "TRIALS"};
  if (collection) header.push_back("COLLECT H");
  if (gpu) header.push_back("GPU H");
  if (money) header.push_back("COST");
  std::vector<std::vector<std::string>> rows;
  for (const v1::CurvePoint* p : points) {
    std::vector<std::string> row = {absl::StrCat(p->n_tele()),  absl::StrCat(p->n_nt()),
                                    FormatValue(p->mean_s()),   FormatValue(p->std_s()),
                                    absl::StrCat(p->n_seeds()), absl::StrCat(p->trials())};
    if (collection) row.push_back(FormatValue(p->cost_collection_hours()));
    if (gpu) row.push_back(FormatValue(p->cost_gpu_hours()));
    if (money) row.push_back(FormatValue(p->cost_money()));
    rows.push_back(std::move(row));
  }
  return "curve (seed means; N_NT 0: teleop only):\n" + Indent(RenderTable(header, rows), 2);
}

std::string IntervalCell(const v1::EtaInterval& interval) {
  std::string out = FormatEtaInterval(interval);
  if (interval.resamples_undefined() > 0) {
    absl::StrAppend(&out, " (", interval.resamples_undefined(), " undefined)");
  }
  return out;
}

// The level and resamples of the first interval, for the block's header.
std::string IntervalsLine(const v1::Estimate& e) {
  const v1::EtaInterval* any = nullptr;
  for (const auto& l : e.local()) {
    if (HasInterval(l.interval())) any = &l.interval();
  }
  for (const auto& g : e.global()) {
    if (HasInterval(g.interval())) any = &g.interval();
  }
  if (any == nullptr) return "";
  return absl::StrCat("intervals: ", Percent(any->level()), " bootstrap percentile of 1/eta, ",
                      any->resamples(), " resamples\n");
}

// A scaling estimate's curve: S against N source demos (n_tele = 0), with
// each seed's S.
std::string ScalingCurveTable(const v1::Estimate& e) {
  if (e.mixed_curve_size() == 0) return "curve: no results yet\n";
  bool collection = false, gpu = false, money = false;
  for (const v1::CurvePoint& p : e.mixed_curve()) {
    collection |= p.cost_collection_hours() != 0;
    gpu |= p.cost_gpu_hours() != 0;
    money |= p.cost_money() != 0;
  }
  std::vector<std::string> header = {"N", "S", "± STD", "SEEDS", "PER SEED", "TRIALS"};
  if (collection) header.push_back("COLLECT H");
  if (gpu) header.push_back("GPU H");
  if (money) header.push_back("COST");
  std::vector<std::vector<std::string>> rows;
  for (const v1::CurvePoint& p : e.mixed_curve()) {
    std::vector<std::string> seeds;
    for (double v : p.seed_s()) seeds.push_back(FormatValue(v));
    std::vector<std::string> row = {absl::StrCat(p.n_nt()),    FormatValue(p.mean_s()),
                                    FormatValue(p.std_s()),    absl::StrCat(p.n_seeds()),
                                    seeds.empty() ? "-" : absl::StrJoin(seeds, ","),
                                    absl::StrCat(p.trials())};
    if (collection) row.push_back(FormatValue(p.cost_collection_hours()));
    if (gpu) row.push_back(FormatValue(p.cost_gpu_hours()));
    if (money) row.push_back(FormatValue(p.cost_money()));
    rows.push_back(std::move(row));
  }
  return absl::StrCat("curve of ", e.source(), " alone (seed means ± population std over seeds):\n",
                      Indent(RenderTable(header, rows), 2));
}

std::string MarginalGainsTable(const v1::Estimate& e) {
  if (e.marginal_gains_size() == 0) {
    return "marginal gain per demo: none yet (needs two N with results)\n";
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::MarginalGain& g : e.marginal_gains()) {
    rows.push_back({absl::StrCat(g.n_from(), " -> ", g.n_to()),
                    absl::StrCat(FormatValue(g.s_from()), " -> ", FormatValue(g.s_to())),
                    FormatValue(g.gain_per_demo()), FormatValue(g.gain_per_demo() * 100)});
  }
  return absl::StrCat(
      "marginal gain per demo ((S_to - S_from) / (N_to - N_from), seed means):\n",
      Indent(RenderTable({"N", "S", "GAIN PER DEMO", "PER 100 DEMOS"}, rows), 2));
}

// Each point's exchange rate against the teleop curve: eta = N / N_eq.
std::string ScalingExchangeTable(const v1::Estimate& e) {
  if (e.global_size() == 0) {
    return e.teleop_curve_size() == 0 && !e.fit().defined()
               ? "exchange rate: none (no teleop curve to compare with: the sweep names no "
                 "baseline sweep)\n"
               : "exchange rate against the teleop curve: none yet\n";
  }
  std::string out = FitLine(e.fit(), "teleop fit");
  std::vector<std::vector<std::string>> rows;
  for (const v1::GlobalEta& g : e.global()) {
    rows.push_back({absl::StrCat(g.n_nt()), FormatValue(g.s_mix()), NeqCell(g), FormatEta(g.eta()),
                    IntervalCell(g.interval()), FormatSign(g.interval())});
  }
  absl::StrAppend(&out, "exchange rate against the teleop curve (eta = N / N_eq; N_eq: the teleop "
                        "demos the fit needs for S):\n",
                  Indent(RenderTable({"N", "S", "N_EQ", "ETA", "INTERVAL", "SIGN"}, rows), 2));
  return out;
}

}  // namespace

namespace {

// A fit as the plot draws it: only with a finite alpha > 0 and a finite beta.
PlotFit PlotFitOf(const v1::PowerLawFit& fit) {
  PlotFit out;
  out.alpha = fit.alpha();
  out.beta = fit.beta();
  out.drawable = (fit.defined() || fit.alpha() != 0 || fit.beta() != 0) &&
                 std::isfinite(fit.alpha()) && fit.alpha() > 0 && std::isfinite(fit.beta());
  if (!out.drawable) {
    out.undefined_reason = fit.undefined_reason() == v1::Eta::STATUS_UNSPECIFIED
                               ? std::string("no fit")
                               : EtaStatusShortName(fit.undefined_reason());
  }
  return out;
}

}  // namespace

LogLogPlotInput PlotInputOf(const v1::Estimate& e) {
  if (e.scaling()) {
    // The source's own curve against N, with the power law fitted on it.
    LogLogPlotInput in;
    in.source = e.source();
    in.points_name = e.source().empty() ? "source" : e.source();
    in.x_title = absl::StrCat("N ", in.points_name, " demos (log)");
    for (const v1::CurvePoint& p : e.mixed_curve()) {
      in.teleop.push_back({static_cast<double>(p.n_nt()), p.mean_s()});
    }
    in.fit = PlotFitOf(e.source_fit());
    return in;
  }
  LogLogPlotInput in;
  in.source = e.source();
  for (const v1::CurvePoint& p : e.teleop_curve()) {
    in.teleop.push_back({static_cast<double>(p.n_tele()), p.mean_s()});
  }
  auto mixed_of = [](const v1::GlobalEta& g, double s) {
    MixedPlotPoint m;
    m.n_tele = static_cast<double>(g.n_tele());
    m.n_nt = g.n_nt();
    m.s = s;
    const v1::Eta::Status status = g.eta().status();
    if (status == v1::Eta::STATUS_DEFINED && std::isfinite(g.eta().value()) &&
        g.eta().value() != 0) {
      m.eta = g.eta().value();
    } else {
      m.undefined_reason = EtaStatusShortName(status);
    }
    if ((status == v1::Eta::STATUS_DEFINED || status == v1::Eta::STATUS_N_EQ_EQUALS_N_TELE) &&
        std::isfinite(g.n_eq()) && g.n_eq() > 0) {
      m.n_eq = g.n_eq();
    }
    return m;
  };
  std::vector<bool> used(e.global_size(), false);
  for (const v1::CurvePoint& p : e.mixed_curve()) {
    bool found = false;
    for (int i = 0; i < e.global_size(); ++i) {
      const v1::GlobalEta& g = e.global(i);
      if (!used[i] && g.n_tele() == p.n_tele() && g.n_nt() == p.n_nt()) {
        in.mixed.push_back(mixed_of(g, p.mean_s()));
        used[i] = true;
        found = true;
        break;
      }
    }
    if (!found) {
      MixedPlotPoint m;
      m.n_tele = static_cast<double>(p.n_tele());
      m.n_nt = p.n_nt();
      m.s = p.mean_s();
      m.undefined_reason = "no global eta";
      in.mixed.push_back(m);
    }
  }
  for (int i = 0; i < e.global_size(); ++i) {  // a global eta without its curve point
    if (!used[i]) in.mixed.push_back(mixed_of(e.global(i), e.global(i).s_mix()));
  }
  in.fit = PlotFitOf(e.fit());
  return in;
}

std::string RenderEstimatePlot(const v1::Estimate& e, const PlotOptions& options) {
  if (e.scaling()) {
    return absl::StrCat("plot: S against N ", e.source(), " demos, log-log (seed 001, Fig. 5)\n",
                        RenderLogLogPlot(PlotInputOf(e), options));
  }
  return absl::StrCat("plot: S against N_tele, log-log (seed 000, Figures 4-7)\n",
                      RenderLogLogPlot(PlotInputOf(e), options));
}

std::string RenderEstimates(const std::vector<v1::Estimate>& estimates,
                            const EstimateTruth* truth, const PlotOptions* plot) {
  if (estimates.empty()) return "No estimates yet.\n";
  std::string out;
  for (size_t i = 0; i < estimates.size(); ++i) {
    const v1::Estimate& e = estimates[i];
    if (i > 0) out += "\n";
    const std::string kind = SourceKindName(e.source_kind());
    absl::StrAppend(&out, e.scenario(), " · ", e.source(), kind.empty() ? "" : " (", kind,
                    kind.empty() ? "" : ")", " · task ", e.task(), " · sweep ", e.sweep_id(), "\n");
    absl::StrAppend(
        &out, "  version ", e.version(), " · ", e.trial_count(), " trials",
        e.last_trial_id() != 0 ? absl::StrCat(" (last #", e.last_trial_id(), ")") : "",
        e.from_given_s() ? " · S given directly" : "",
        e.simulated() ? " · evaluated in simulation" : "",
        e.aggregation().empty() ? "" : absl::StrCat(" · checkpoints: ", e.aggregation()),
        e.has_computed_at() ? absl::StrCat(" · computed ", FormatTimestamp(e.computed_at())) : "",
        "\n");
    if (e.scaling()) {
      std::string body = absl::StrCat("scaling: S against the number of ", e.source(),
                                      " demos N, no teleop (seed 001, Fig. 5)\n");
      body += FitLine(e.source_fit(), "source fit");
      absl::StrAppend(&body, IntervalsLine(e));
      body += ScalingCurveTable(e);
      body += MarginalGainsTable(e);
      body += ScalingExchangeTable(e);
      if (plot != nullptr) {
        PlotOptions inner = *plot;
        inner.width -= 2;
        body += RenderEstimatePlot(e, inner);
      }
      out += Indent(body, 2);
      continue;
    }
    std::string body = FitLine(e.fit());
    absl::StrAppend(&body, IntervalsLine(e));
    body += CurveTable(e);

    // Local eta at N_t*.
    std::optional<double> true_global;
    if (truth != nullptr && truth->global_eta)
      true_global = truth->global_eta(e.scenario(), e.source());
    if (e.local_size() > 0) {
      std::vector<std::string> header = {"N_NT", "S_T", "S_MIX", "ETA", "INTERVAL", "SIGN"};
      const bool expected = truth != nullptr && static_cast<bool>(truth->expected_local_eta);
      if (expected) header.push_back("EXPECTED LOCAL");
      std::vector<std::vector<std::string>> rows;
      for (const v1::LocalEta& l : e.local()) {
        std::vector<std::string> row = {absl::StrCat(l.n_nt()),     FormatValue(l.s_t()),
                                        FormatValue(l.s_mix()),     FormatEta(l.eta()),
                                        IntervalCell(l.interval()), FormatSign(l.interval())};
        if (expected) {
          row.push_back(TruthCell(
              truth->expected_local_eta(e.scenario(), e.source(), l.n_t_star(), l.n_nt())));
        }
        rows.push_back(std::move(row));
      }
      absl::StrAppend(&body, "local eta at N_t* = ", e.n_t_star(), ":\n");
      body += Indent(RenderTable(header, rows), 2);
    } else if (e.n_t_star() > 0) {
      absl::StrAppend(&body, "local eta at N_t* = ", e.n_t_star(), ": none yet\n");
    } else {
      body += "local eta: none yet (no operating point N_t* with a baseline and a mixed result)\n";
    }

    // Global eta per mixed point.
    if (e.global_size() > 0) {
      std::vector<std::string> header = {"N_TELE", "N_NT",     "S_MIX", "N_EQ",
                                         "ETA",    "INTERVAL", "SIGN"};
      const bool show_truth = truth != nullptr && static_cast<bool>(truth->global_eta);
      if (show_truth) header.push_back("TRUE ETA");
      std::vector<std::vector<std::string>> rows;
      for (const v1::GlobalEta& g : e.global()) {
        std::vector<std::string> row = {absl::StrCat(g.n_tele()), absl::StrCat(g.n_nt()),
                                        FormatValue(g.s_mix()),   NeqCell(g),
                                        FormatEta(g.eta()),       IntervalCell(g.interval()),
                                        FormatSign(g.interval())};
        if (show_truth) row.push_back(TruthCell(true_global));
        rows.push_back(std::move(row));
      }
      body += "global eta per mixed point:\n";
      body += Indent(RenderTable(header, rows), 2);
    } else {
      body += "global eta: none yet\n";
    }
    if (plot != nullptr) {
      PlotOptions inner = *plot;
      inner.width -= 2;  // the block's indentation
      body += RenderEstimatePlot(e, inner);
    }
    out += Indent(body, 2);
  }
  return out;
}

std::string RenderEstimatesCsv(const std::vector<v1::Estimate>& estimates,
                               const EstimateTruth* truth) {
  std::vector<std::string> header = {"sweep_id",
                                     "task",
                                     "scenario",
                                     "source",
                                     "version",
                                     "trial_count",
                                     "last_trial_id",
                                     "n_t_star",
                                     "fit_defined",
                                     "alpha",
                                     "beta",
                                     "r_squared",
                                     "points_excluded_zero",
                                     "kind",
                                     "n_tele",
                                     "n_nt",
                                     "s_t",
                                     "s_mix",
                                     "n_eq",
                                     "eta_status",
                                     "eta",
                                     "interval_shape",
                                     "eta_lower",
                                     "eta_upper",
                                     "split_at_or_below",
                                     "split_at_or_above",
                                     "inverse_lower",
                                     "inverse_upper",
                                     "sign_established",
                                     "level",
                                     "resamples",
                                     "resamples_undefined"};
  const bool with_truth = truth != nullptr;
  if (with_truth) header.push_back("truth");
  // Added with seed 001's protocol, at the end so that existing columns
  // keep their positions. A scaling estimate's rows also include one of
  // kind "marginal_gain" per pair of consecutive N (n_nt = N_to, s_t =
  // S_from, s_mix = S_to).
  for (const char* column : {"aggregation", "simulated", "scaling", "source_fit_defined",
                             "source_alpha", "source_beta", "source_r_squared", "n_from",
                             "gain_per_demo"}) {
    header.push_back(column);
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::Estimate& e : estimates) {
    const v1::PowerLawFit& sf = e.source_fit();
    auto tail = [&](std::vector<std::string>& row, const std::string& n_from,
                    const std::string& gain) {
      for (std::string cell :
           {e.aggregation(), Bool(e.simulated()), Bool(e.scaling()),
            e.scaling() ? Bool(sf.defined()) : std::string(),
            e.scaling() && sf.defined() ? ExactValue(sf.alpha()) : std::string(),
            e.scaling() && sf.defined() ? ExactValue(sf.beta()) : std::string(),
            e.scaling() && sf.defined() ? ExactValue(sf.r_squared()) : std::string(), n_from,
            gain}) {
        row.push_back(std::move(cell));
      }
    };
    const std::vector<std::string> common = {
        absl::StrCat(e.sweep_id()),
        e.task(),
        e.scenario(),
        e.source(),
        absl::StrCat(e.version()),
        absl::StrCat(e.trial_count()),
        absl::StrCat(e.last_trial_id()),
        absl::StrCat(e.n_t_star()),
        Bool(e.fit().defined()),
        e.fit().defined() ? ExactValue(e.fit().alpha()) : "",
        e.fit().defined() ? ExactValue(e.fit().beta()) : "",
        e.fit().defined() ? ExactValue(e.fit().r_squared()) : "",
        absl::StrCat(e.fit().points_excluded_zero())};
    auto eta_cells = [](const v1::Eta& eta, const v1::EtaInterval& in) {
      const bool has = HasInterval(in);
      const v1::EtaInterval::Shape shape = ShapeOf(in);
      const bool bounded = shape == v1::EtaInterval::SHAPE_BOUNDED;
      const bool below =
          shape == v1::EtaInterval::SHAPE_SPLIT || shape == v1::EtaInterval::SHAPE_AT_OR_BELOW;
      const bool above =
          shape == v1::EtaInterval::SHAPE_SPLIT || shape == v1::EtaInterval::SHAPE_AT_OR_ABOVE;
      std::string status = v1::Eta::Status_IsValid(eta.status())
                               ? v1::Eta::Status_Name(eta.status())
                               : "STATUS_UNSPECIFIED";
      if (status.rfind("STATUS_", 0) == 0) status = status.substr(7);
      return std::vector<std::string>{
          absl::AsciiStrToLower(status),
          eta.status() == v1::Eta::STATUS_DEFINED ? ExactValue(eta.value()) : "",
          EtaIntervalShapeName(in),
          bounded ? ExactValue(in.eta().lower()) : "",
          bounded ? ExactValue(in.eta().upper()) : "",
          below ? ExactValue(in.split_at_or_below()) : "",
          above ? ExactValue(in.split_at_or_above()) : "",
          has ? ExactValue(in.inverse().lower()) : "",
          has ? ExactValue(in.inverse().upper()) : "",
          has ? Bool(in.sign_established()) : "",
          has ? ExactValue(in.level()) : "",
          has ? absl::StrCat(in.resamples()) : "",
          has ? absl::StrCat(in.resamples_undefined()) : ""};
    };
    auto truth_cell = [](std::optional<double> v) { return v ? ExactValue(*v) : std::string(); };
    for (const v1::LocalEta& l : e.local()) {
      std::vector<std::string> row = common;
      for (std::string cell :
           {std::string("local"), absl::StrCat(l.n_t_star()), absl::StrCat(l.n_nt()),
            ExactValue(l.s_t()), ExactValue(l.s_mix()), std::string()}) {
        row.push_back(std::move(cell));
      }
      for (std::string& cell : eta_cells(l.eta(), l.interval())) row.push_back(std::move(cell));
      if (with_truth) {
        row.push_back(truth->expected_local_eta
                          ? truth_cell(truth->expected_local_eta(e.scenario(), e.source(),
                                                                 l.n_t_star(), l.n_nt()))
                          : "");
      }
      tail(row, "", "");
      rows.push_back(std::move(row));
    }
    for (const v1::GlobalEta& g : e.global()) {
      std::vector<std::string> row = common;
      const std::string neq = NeqCell(g) == "-" ? "" : ExactValue(g.n_eq());
      for (std::string cell : {std::string("global"), absl::StrCat(g.n_tele()),
                               absl::StrCat(g.n_nt()), std::string(), ExactValue(g.s_mix()), neq}) {
        row.push_back(std::move(cell));
      }
      for (std::string& cell : eta_cells(g.eta(), g.interval())) row.push_back(std::move(cell));
      if (with_truth) {
        row.push_back(truth->global_eta ? truth_cell(truth->global_eta(e.scenario(), e.source()))
                                        : "");
      }
      tail(row, "", "");
      rows.push_back(std::move(row));
    }
    for (const v1::MarginalGain& g : e.marginal_gains()) {
      std::vector<std::string> row = common;
      for (std::string cell : {std::string("marginal_gain"), std::string("0"),
                               absl::StrCat(g.n_to()), ExactValue(g.s_from()),
                               ExactValue(g.s_to()), std::string()}) {
        row.push_back(std::move(cell));
      }
      row.resize(header.size() - 9);  // the eta (and truth) columns stay empty
      tail(row, absl::StrCat(g.n_from()), ExactValue(g.gain_per_demo()));
      rows.push_back(std::move(row));
    }
  }
  return RenderCsv(header, rows);
}

std::string RenderEstimateUpdateLine(const v1::EstimateUpdate& update) {
  const v1::Estimate& e = update.estimate();
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat(e.scenario(), "/", e.source(), " v", e.version()));
  std::string trials = absl::StrCat(e.trial_count(), e.trial_count() == 1 ? " trial" : " trials");
  if (update.trigger_trial_id() != 0) {
    absl::StrAppend(&trials, " (after #", update.trigger_trial_id(), ")");
  }
  parts.push_back(trials);
  if (e.simulated()) parts.push_back("simulation");
  if (e.scaling()) {
    // The source's own fit, then the gain per demo between consecutive N.
    const v1::PowerLawFit& fit = e.source_fit();
    parts.push_back(fit.defined()
                        ? absl::StrCat("source fit beta ", FormatValue(fit.beta()))
                        : "no source fit yet");
    for (const v1::MarginalGain& g : e.marginal_gains()) {
      parts.push_back(absl::StrCat(g.n_from(), "->", g.n_to(), ": ",
                                   FormatValue(g.gain_per_demo() * 100), " per 100 demos"));
    }
    for (const v1::GlobalEta& g : e.global()) {
      parts.push_back(absl::StrCat("eta N=", g.n_nt(), ": ", FormatEta(g.eta())));
    }
    return absl::StrJoin(parts, " · ");
  }
  if (e.global_size() == 0) {
    parts.push_back(
        e.fit().defined() || e.fit().undefined_reason() == v1::Eta::STATUS_UNSPECIFIED
            ? "no global eta yet"
            : absl::StrCat("global eta: ", EtaStatusShortName(e.fit().undefined_reason())));
  }
  for (const v1::GlobalEta& g : e.global()) {
    std::string part = absl::StrCat(g.n_tele(), "+", g.n_nt(), ": ", FormatEta(g.eta()));
    const std::string interval = FormatEtaInterval(g.interval());
    if (interval != "-") absl::StrAppend(&part, " ", interval);
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, " · ");
}

// --- Recommendation -----------------------------------------------------------------------

std::string RenderRecommendation(const v1::RecommendMixRequest& request,
                                 const v1::Recommendation& r) {
  std::string out = absl::StrCat("Recommended mix for sweep ", request.sweep_id(), " · ",
                                 request.scenario(), " · ", request.source(), "\n");
  absl::StrAppend(&out, "  N_tele ", r.n_tele(), " · N_nt ", r.n_nt(), "\n");
  std::string predicted = absl::StrCat("  predicted S ", FormatValue(r.predicted_s()));
  if (r.has_predicted_s_interval()) {
    absl::StrAppend(&predicted, " [", FormatValue(r.predicted_s_interval().lower()), ", ",
                    FormatValue(r.predicted_s_interval().upper()), "]");
  }
  out += predicted + "\n";
  const double cost_tele =
      r.cost_tele_hours() > 0 ? r.cost_tele_hours() : request.cost_tele_hours();
  const double cost_nt = r.cost_nt_hours() > 0 ? r.cost_nt_hours() : request.cost_nt_hours();
  absl::StrAppend(&out, "  spent ", FormatValue(r.spent_hours()), " h of ",
                  FormatValue(r.budget_hours() > 0 ? r.budget_hours() : request.budget_hours()),
                  " h");
  if (cost_tele > 0 || cost_nt > 0) {
    absl::StrAppend(&out, " (teleop ", r.n_tele(), " × ", FormatValue(cost_tele),
                    " h = ", FormatValue(r.n_tele() * cost_tele), " h, ", request.source(), " ",
                    r.n_nt(), " × ", FormatValue(cost_nt), " h = ", FormatValue(r.n_nt() * cost_nt),
                    " h)");
  }
  out += "\n";
  const int64_t core = r.teleop_core() > 0 ? r.teleop_core() : request.teleop_core();
  if (core > 0) absl::StrAppend(&out, "  teleop core ", core, " demos at least\n");

  // The rule of thumb: buy non-teleop data when C_tele / C_nt > eta > 0.
  std::string rule = "  rule of thumb (buy when C_tele/C_nt > eta > 0): ";
  const std::string eta = FormatValue(r.eta_used());
  if (cost_nt > 0) {
    const double ratio = cost_tele / cost_nt;
    const bool holds = ratio > r.eta_used() && r.eta_used() > 0;
    absl::StrAppend(&rule, "C_tele/C_nt = ", FormatValue(ratio), ", eta = ", eta, ": ",
                    holds               ? absl::StrCat(FormatValue(ratio), " > ", eta, " > 0")
                    : r.eta_used() <= 0 ? absl::StrCat("eta ", eta, " <= 0")
                                        : absl::StrCat(FormatValue(ratio), " <= ", eta));
  } else {
    absl::StrAppend(&rule, "eta = ", eta, ", non-teleop collection cost 0");
  }
  out += rule + "\n";
  absl::StrAppend(&out, "  buy non-teleop data: ", r.buy_non_teleop() ? "YES" : "no", "\n");
  for (const std::string& w : r.warnings()) absl::StrAppend(&out, "  warning: ", w, "\n");
  if (!r.explanation().empty()) absl::StrAppend(&out, "\n", r.explanation(), "\n");
  return out;
}

}  // namespace mixsweep::cli
