// How the CLI shows evaluation and utilization: robots, the operator's
// batch, the evaluation plan, results, eta estimates and the recommended
// mix, as text tables or as CSV for spreadsheets. Pure functions from protos
// to strings, unit-tested.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mixsweep/v1/evaluation.pb.h"
#include "mixsweep/v1/utilization.pb.h"
#include "services/cli/render_plot.h"

namespace mixsweep::cli {

// --- Numbers and eta -----------------------------------------------------------

// A value for people: 4 significant digits ("12.5", "0.6333", "1234"),
// integers up to 1e9 in full; "inf", "-inf", "nan" as such.
std::string FormatValue(double value);

// A value for export: the shortest text that reads back as the same double
// ("12.500000000000004" stays so; "0.5").
std::string ExactValue(double value);

// Why an eta is undefined, in a few words: "no effect", "S_mix=0",
// "N_eq=N_t", "no scaling", "too few points", "S_t=0", "no data",
// "N_eq overflow"; "unknown" for UNSPECIFIED or a status this CLI does not
// know (a newer server).
std::string EtaStatusShortName(mixsweep::v1::Eta::Status status);

// eta's value when defined, else EtaStatusShortName.
std::string FormatEta(const mixsweep::v1::Eta& eta);

// The shape of eta's interval (EtaInterval.shape; from sign_established and
// split for a server that does not set the shape):
//   bounded "[a, b]", split "<= a or >= b", at-or-above ">= b",
//   at-or-below "<= a", infinite only "inf only"; "-" without an interval
//   (no resamples).
std::string FormatEtaInterval(const mixsweep::v1::EtaInterval& interval);

// "bounded", "split", "at_or_above", "at_or_below", "infinite_only", "" (for
// CSV).
std::string EtaIntervalShapeName(const mixsweep::v1::EtaInterval& interval);

// "yes" when the interval establishes eta's sign, "no" when not, "-" without
// an interval.
std::string FormatSign(const mixsweep::v1::EtaInterval& interval);

// --- Robots ----------------------------------------------------------------------

std::string RenderRobots(const mixsweep::v1::ListRobotsResponse& robots);
std::string RenderRobotsCsv(const mixsweep::v1::ListRobotsResponse& robots);

// --- The operator's batch and the plan ---------------------------------------------

// The rubric as the operator reads it: how the score follows, then the
// stages (numbered, with their scores) or the items (with their weights).
std::string RenderRubric(const mixsweep::v1::Rubric& rubric);

// What the operator needs to set up and run a batch: scenario, task, the
// rubric, the policies in order (blind label, checkpoint, trials
// recorded/wanted) and the reason. It shows no mixture (the batch carries
// none). An empty batch says there is nothing to evaluate now.
std::string RenderBatch(const mixsweep::v1::EvaluationBatch& batch);

// The ranked open work with the reason for each, best first.
std::string RenderPlan(const mixsweep::v1::PlanEvaluationsResponse& plan);
std::string RenderPlanCsv(const mixsweep::v1::PlanEvaluationsResponse& plan);

// --- Results ---------------------------------------------------------------------------

// One row per (run, scenario, checkpoint): RUN, N_TELE, SOURCE, N_NT, SEED,
// SCENARIO, EVALUATOR ("robot", or "sim" for a simulation job's), CHECKPOINT
// (only when some result is of an intermediate checkpoint: "step 20000", or
// "last"), LABEL, TRIALS (recorded/wanted), S ("-" without trials), STATE;
// with `trials`, then a table of the trials (EVALUATOR too; a simulated
// trial's note gives its episode seed and rewards).
std::string RenderResults(const std::vector<mixsweep::v1::ScenarioResult>& results, bool trials);
// Without `trials` one CSV row per result; with, one row per trial (with
// its result's columns). Columns added later come last, so that the older
// ones keep their positions: per result checkpoint_step and simulated; per
// trial checkpoint_step, episode_seed, sum_reward, max_reward (empty where
// the result file gave none).
std::string RenderResultsCsv(const std::vector<mixsweep::v1::ScenarioResult>& results, bool trials);

// --- Estimates -------------------------------------------------------------------------

// The synthetic lab's ground truth beside the estimates (--truth FILE): the
// true global eta of (scenario, source), and the local eta expected at
// (N_t*, N_nt). A function returns nullopt where the truth does not say.
struct EstimateTruth {
  std::function<std::optional<double>(const std::string& scenario, const std::string& source)>
      global_eta;
  std::function<std::optional<double>(const std::string& scenario, const std::string& source,
                                      int64_t n_t_star, int64_t n_nt)>
      expected_local_eta;
};

// Per estimate (task, scenario, source): version, trials, N_t*, the power
// law fit (alpha, beta, R^2, points left out), the curve (cost columns only
// where some point has a cost), each local eta (N_NT, S_T, S_MIX, ETA,
// INTERVAL, SIGN) and each global eta per mixed point (N_TELE, N_NT, S_MIX,
// N_EQ, ETA, INTERVAL, SIGN). With `truth`, "TRUE ETA" (global) and
// "EXPECTED LOCAL" (local) columns. With `plot`, each estimate ends with its
// log-log plot (RenderEstimatePlot; `plot->width` is the whole line's, the
// indentation included). The header says how checkpoints were aggregated
// ("checkpoints: last" or "max_over_checkpoints") and "evaluated in
// simulation" for a simulation scenario's estimate.
//
// A scaling estimate (Estimate.scaling, seed 001 Fig. 5) shows instead: the
// source fit (alpha, beta, R^2 of S against N source demos), the source's
// curve (N, S, std, seeds and each seed's S, trials), the marginal gain per
// demo between consecutive N (and per 100 demos), and, when the sweep has a
// teleop baseline, the teleop fit and each point's exchange rate eta = N /
// N_eq with its interval.
std::string RenderEstimates(const std::vector<mixsweep::v1::Estimate>& estimates,
                            const EstimateTruth* truth = nullptr,
                            const PlotOptions* plot = nullptr);

// The estimate's numbers for the log-log plot: the teleop curve (seed
// means), the fit (drawn also when beta <= 0, as the fit the server
// reports), and each mixed point with its global eta and N_eq (the arrow's
// end where eta is defined or N_eq == N'_t). A scaling estimate's: the
// source's curve against N with the source fit, and no mixed points.
LogLogPlotInput PlotInputOf(const mixsweep::v1::Estimate& estimate);

// "plot: S against N_tele, log-log (seed 000, Figures 4-7)" and the plot.
std::string RenderEstimatePlot(const mixsweep::v1::Estimate& estimate, const PlotOptions& options);
// One CSV row per eta (kind local or global), with its estimate's columns;
// then, last, aggregation, simulated, scaling, the source fit and, for rows
// of kind marginal_gain (scaling estimates), n_from and gain_per_demo.
std::string RenderEstimatesCsv(const std::vector<mixsweep::v1::Estimate>& estimates,
                               const EstimateTruth* truth = nullptr);

// One line per update of a watched estimate: "in_domain/sim v7 · 120
// trials (last #812) · eta 50+1000: 12.5 [8.1, 20.3] · 100+1000: no effect".
std::string RenderEstimateUpdateLine(const mixsweep::v1::EstimateUpdate& update);

// --- Recommendation -----------------------------------------------------------------------

// The recommended mix for the request: N_tele and N_nt, predicted S with its
// interval, hours spent of the budget, the rule of thumb (C_tele / C_nt >
// eta > 0) and whether to buy non-teleop data, warnings and the explanation.
std::string RenderRecommendation(const mixsweep::v1::RecommendMixRequest& request,
                                 const mixsweep::v1::Recommendation& recommendation);

}  // namespace mixsweep::cli
