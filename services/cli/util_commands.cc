// mixsweep util ...: the data utilization ratios (eta) of a sweep with their
// intervals, their updates as trials arrive, and the mix to buy for a budget.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "services/cli/client.h"
#include "services/cli/render_eval.h"
#include "services/cli/terminal.h"
#include "services/lab/ground_truth.h"

namespace mixsweep::cli {
namespace {
namespace v1 = mixsweep::v1;
using UtilStub = v1::UtilizationService::Stub;

struct UtilOptions {
  int64_t sweep_id = 0;
  std::string scenario;
  std::string source;
  bool csv = false;
  std::string truth_file;
  double budget_hours = 0;
  double cost_tele_hours = 0;
  double cost_nt_hours = 0;
  int64_t teleop_core = 0;
  bool skip_initial = false;
  bool plot = false;
  bool no_plot = false;
};

// `util show` draws its plots by default on a terminal at least this wide.
constexpr int kPlotMinColumns = 60;
// Plots are at most this wide, whatever the terminal.
constexpr int kPlotMaxColumns = 100;

UtilOptions& Options() {
  static UtilOptions options;
  return options;
}

// The synthetic lab's ground truth as columns beside the estimates. The
// truth outlives the returned functions through the shared pointer.
std::optional<EstimateTruth> LoadTruth(const std::string& path, std::string* error) {
  std::string text;
  if (!ReadFile(path, &text)) {
    *error = absl::StrCat("cannot read ", path);
    return std::nullopt;
  }
  absl::StatusOr<lab::GroundTruth> parsed = lab::ParseGroundTruth(text);
  if (!parsed.ok()) {
    *error = absl::StrCat(path, ": ", parsed.status().message());
    return std::nullopt;
  }
  auto truth = std::make_shared<lab::GroundTruth>(*std::move(parsed));
  EstimateTruth columns;
  columns.global_eta = [truth](const std::string& scenario,
                               const std::string& source) -> std::optional<double> {
    const lab::TruthScenario* s = truth->Find(scenario);
    if (s == nullptr) return std::nullopt;
    return lab::TrueGlobalEta(*s, source);
  };
  columns.expected_local_eta = [truth](const std::string& scenario, const std::string& source,
                                       int64_t n_t_star, int64_t n_nt) -> std::optional<double> {
    const lab::TruthScenario* s = truth->Find(scenario);
    if (s == nullptr) return std::nullopt;
    return lab::ExpectedLocalEta(*s, source, n_t_star, n_nt);
  };
  return columns;
}

// The recommendation for each estimate shown (--budget): one RecommendMix
// per (scenario, source); one that fails says why and the others go on.
std::string Recommendations(Client& client, const UtilOptions& o,
                            const std::vector<v1::Estimate>& estimates) {
  std::string out;
  for (const v1::Estimate& e : estimates) {
    v1::RecommendMixRequest request;
    request.set_sweep_id(o.sweep_id);
    request.set_scenario(e.scenario());
    request.set_source(e.source());
    request.set_budget_hours(o.budget_hours);
    v1::Recommendation recommendation;
    out += "\n";
    grpc::Status status = client.Call(&UtilStub::RecommendMix, request, &recommendation);
    if (status.ok()) {
      out += RenderRecommendation(request, recommendation);
    } else {
      absl::StrAppend(&out, "No recommendation for ", e.scenario(), " · ", e.source(), " (",
                      o.budget_hours, " h): ", status.error_message(), "\n");
    }
  }
  return out;
}

int Show(const Globals& g, const UtilOptions& o) {
  if (g.json && o.csv) {
    std::cerr << "error: --json and --csv exclude each other\n";
    return kUsage;
  }
  std::optional<EstimateTruth> truth;
  if (!o.truth_file.empty()) {
    std::string error;
    truth = LoadTruth(o.truth_file, &error);
    if (!truth) {
      std::cerr << "error: --truth: " << error << "\n";
      return kUsage;
    }
    if (g.json) std::cerr << "note: --truth adds columns to tables and CSV, not to JSON\n";
  }
  if (o.budget_hours > 0 && (g.json || o.csv)) {
    std::cerr << "note: --budget adds the recommendation to the tables only; for JSON: "
                 "mixsweep --json util recommend\n";
  }
  // The plots: asked for, refused, or by default on a terminal that is wide
  // enough; never in JSON or CSV.
  const int columns = TerminalColumns();
  const bool plot = !g.json && !o.csv && !o.no_plot &&
                    (o.plot || (StdoutIsTerminal() && columns >= kPlotMinColumns));
  PlotOptions plot_options;
  plot_options.width = std::min(columns > 0 ? columns : kPlotMaxColumns, kPlotMaxColumns);
  plot_options.color = ColorWanted();

  v1::GetEstimatesRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_scenario(o.scenario);
  request.set_source(o.source);
  Client client(g);
  v1::GetEstimatesResponse response;
  if (grpc::Status status = client.Call(&UtilStub::GetEstimates, request, &response);
      !status.ok()) {
    return Fail(status);
  }
  if (g.json) {
    PrintJson(response);
    return kOk;
  }
  const std::vector<v1::Estimate> estimates(response.estimates().begin(),
                                            response.estimates().end());
  const EstimateTruth* t = truth ? &*truth : nullptr;
  if (o.csv) {
    std::cout << RenderEstimatesCsv(estimates, t) << std::flush;
    return kOk;
  }
  std::string out = RenderEstimates(estimates, t, plot ? &plot_options : nullptr);
  if (o.budget_hours > 0) out += Recommendations(client, o, estimates);
  std::cout << out << std::flush;
  return kOk;
}

int Recommend(const Globals& g, const UtilOptions& o) {
  v1::RecommendMixRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_scenario(o.scenario);
  request.set_source(o.source);
  request.set_budget_hours(o.budget_hours);
  request.set_cost_tele_hours(o.cost_tele_hours);
  request.set_cost_nt_hours(o.cost_nt_hours);
  request.set_teleop_core(o.teleop_core);
  return CallAndPrint(g, &UtilStub::RecommendMix, request,
                      [&](const v1::Recommendation& recommendation) {
                        return RenderRecommendation(request, recommendation);
                      });
}

// One line per update until the stream ends or Ctrl-C.
int Watch(const Globals& g, const UtilOptions& o) {
  Client client(g);
  v1::WatchEstimatesRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_skip_initial(o.skip_initial);
  grpc::ClientContext context;
  client.Prepare(&context, /*deadline=*/false);
  CancelOnInterrupt cancel_on_interrupt(&context);
  auto reader = client.StubOf<UtilStub>().WatchEstimates(&context, request);
  v1::EstimateUpdate update;
  while (reader->Read(&update)) {
    if (g.json) {
      PrintJson(update);
      std::cout << std::flush;
      continue;
    }
    std::cout << LocalClock() << "  " << RenderEstimateUpdateLine(update) << "\n" << std::flush;
  }
  grpc::Status status = reader->Finish();
  if (CancelOnInterrupt::Interrupted()) return kOk;
  return status.ok() ? kOk : Fail(status);
}

// Hours: a finite number, > 0 (or >= 0 with `zero_ok`); CLI11's own
// range checks print the largest double.
CLI::Validator Hours(bool zero_ok) {
  return CLI::Validator(
      [zero_ok](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(value)) {
          return absl::StrCat("\"", text, "\" is not a number of hours");
        }
        if (value < 0 || (!zero_ok && value == 0)) {
          return zero_ok ? "must be >= 0" : "must be > 0";
        }
        return "";
      },
      zero_ok ? "HOURS >= 0" : "HOURS > 0");
}

}  // namespace

void AddUtilCommands(CLI::App& app, Globals& globals, Action& action) {
  UtilOptions& o = Options();
  CLI::App* util = app.add_subcommand(
      "util", "data utilization (eta) of a sweep: estimates, updates, the mix to buy");
  util->require_subcommand(1);

  CLI::App* show = util->add_subcommand(
      "show",
      "local and global eta per (scenario, source), with intervals, the fit, and the log-log "
      "plot on a terminal; the checkpoint aggregation and simulation-evaluated estimates are "
      "marked; a scaling estimate shows the source's curve and fit, the marginal gain per demo "
      "and each point's exchange rate against the teleop curve");
  show->add_option("SWEEP", o.sweep_id, "sweep id")->required();
  show->add_option("--scenario", o.scenario, "only this scenario");
  show->add_option("--source", o.source, "only this non-teleop source");
  show->add_flag("--csv", o.csv, "CSV for a spreadsheet: one row per eta");
  show->add_option("--truth", o.truth_file,
                   "the synthetic lab's ground truth (YAML): adds TRUE ETA and EXPECTED LOCAL")
      ->check(CLI::ExistingFile);
  CLI::Option* plot = show->add_flag(
      "--plot", o.plot,
      "draw each estimate's log-log plot (S against N_tele: teleop points o, the fitted power "
      "law ..., mixed points + for eta > 0 and x for eta < 0 with an arrow to their N_eq; "
      "points with S = 0 counted below it; a scaling estimate plots S against N source demos "
      "with the source's fit); the default on a terminal at least 60 columns "
      "wide; coloured on a terminal unless NO_COLOR is set");
  show->add_flag("--no-plot", o.no_plot, "no plots, even on a terminal")->excludes(plot);
  show->add_option("--budget", o.budget_hours,
                   "also the recommended mix for this collection budget in hours, per "
                   "(scenario, source) shown, at the spec's or measured costs (as util recommend)")
      ->check(Hours(/*zero_ok=*/false));
  OnRun(show, globals, action, [](const Globals& g) { return Show(g, Options()); });

  CLI::App* recommend = util->add_subcommand(
      "recommend", "the (N_tele, N_nt) that maximises predicted success within a budget");
  recommend->add_option("SWEEP", o.sweep_id, "sweep id")->required();
  recommend->add_option("--scenario", o.scenario, "the evaluation scenario")->required();
  recommend->add_option("--source", o.source, "the non-teleop source")->required();
  recommend->add_option("--budget", o.budget_hours, "collection budget in hours")
      ->required()
      ->check(Hours(/*zero_ok=*/false));
  recommend
      ->add_option("--cost-tele", o.cost_tele_hours,
                   "hours per teleop demo (default: the spec's or measured)")
      ->check(Hours(/*zero_ok=*/true));
  recommend
      ->add_option("--cost-nt", o.cost_nt_hours,
                   "hours per non-teleop demo (default: the spec's or measured)")
      ->check(Hours(/*zero_ok=*/true));
  recommend
      ->add_option("--core", o.teleop_core,
                   "teleop demos to keep at least (default: the sweep's smallest N_tele)")
      ->check(CLI::NonNegativeNumber);
  OnRun(recommend, globals, action, [](const Globals& g) { return Recommend(g, Options()); });

  CLI::App* watch =
      util->add_subcommand("watch", "one line per new estimate as trials arrive (Ctrl-C ends it)");
  watch->add_option("SWEEP", o.sweep_id, "sweep id")->required();
  watch->add_flag("--skip-initial", o.skip_initial, "only updates after now, not the current ones");
  OnRun(watch, globals, action, [](const Globals& g) { return Watch(g, Options()); });
}

}  // namespace mixsweep::cli
