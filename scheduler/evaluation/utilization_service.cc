#include "scheduler/evaluation/utilization_service.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "scheduler/evaluation/estimate_inputs.h"
#include "scheduler/evaluation/recomputer.h"
#include "scheduler/evaluation/run_costs.h"

namespace mixsweep::evaluation {

absl::StatusOr<utilization::EstimateParams> UtilizationService::Resolve(
    utilization::EstimateParams params) const {
  if (params.n_t_star < 0) return absl::InvalidArgumentError("parameters.n_t_star: must be >= 0");
  if (params.resamples < 0 || params.resamples > 100000) {
    return absl::InvalidArgumentError("parameters.resamples: must be 0 (default) to 100000");
  }
  if (!std::isfinite(params.level) || params.level < 0 || params.level >= 1) {
    return absl::InvalidArgumentError(
        "parameters.level: must be 0 (default) or strictly between 0 and 1");
  }
  if (params.resamples == 0) params.resamples = defaults_.resamples;
  if (params.level == 0) params.level = defaults_.level;
  return params;
}

absl::Status UtilizationService::AttachCosts(int64_t sweep_id, const spec::SweepSpec& spec,
                                            std::vector<StoredEstimate>& estimates) {
  if (estimates.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<scheduler::RunRecord>> runs = sweeps_.ListRuns(sweep_id);
  if (!runs.ok()) return runs.status();
  absl::StatusOr<std::vector<scheduler::JobRecord>> jobs = sweeps_.ListJobs(sweep_id);
  if (!jobs.ok()) return jobs.status();

  absl::StatusOr<std::vector<scheduler::GenerationRecord>> generations =
      sweeps_.ListGenerations(sweep_id);
  if (!generations.ok()) return generations.status();
  absl::StatusOr<std::vector<utilization::RunCost>> costs =
      ComputeSweepRunCosts(WithMeasuredCollectionCosts(spec, *generations), *runs, *jobs);
  if (!costs.ok()) return costs.status();
  const std::vector<utilization::PointCost> points = utilization::ComputePointCosts(*costs);
  for (StoredEstimate& e : estimates) {
    for (const spec::Source& source : spec.sources) {
      if (source.name == e.estimate.key.source) e.source_kind = source.kind;
    }
    e.point_costs.clear();
    for (const utilization::PointCost& p : points) {
      if (p.source.empty() || p.source == e.estimate.key.source) e.point_costs.push_back(p);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredEstimate>> UtilizationService::GetEstimates(
    const EstimateFilter& filter, std::optional<utilization::EstimateParams> params) {
  if (filter.sweep_id <= 0) return absl::InvalidArgumentError("sweep_id: required");
  absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> spec = specs_.Get(filter.sweep_id);
  if (!spec.ok()) return spec.status();
  if (!params) {
    absl::StatusOr<std::vector<StoredEstimate>> stored = estimates_.LatestEstimates(filter);
    if (!stored.ok()) return stored.status();
    if (absl::Status s = AttachCosts(filter.sweep_id, **spec, *stored); !s.ok()) return s;
    return stored;
  }

  absl::StatusOr<utilization::EstimateParams> resolved = Resolve(*params);
  if (!resolved.ok()) return resolved.status();
  std::vector<StoredEstimate> out;
  for (const spec::Scenario& scenario : (*spec)->evaluation.scenarios) {
    if (!filter.scenario.empty() && filter.scenario != scenario.name) continue;
    absl::StatusOr<ScenarioInputs> inputs =
        estimates_.LoadScenarioInputs(filter.sweep_id, scenario.name);
    if (!inputs.ok()) return inputs.status();
    for (StoredEstimate& e : ComputeScenarioEstimates(*inputs, *resolved)) {
      if (!filter.source.empty() && filter.source != e.estimate.key.source) continue;
      out.push_back(std::move(e));
    }
  }
  if (absl::Status s = AttachCosts(filter.sweep_id, **spec, out); !s.ok()) return s;
  return out;
}

absl::StatusOr<RecommendAnswer> UtilizationService::Recommend(const RecommendCall& call) {
  if (call.sweep_id <= 0) return absl::InvalidArgumentError("sweep_id: required");
  if (call.scenario.empty()) return absl::InvalidArgumentError("scenario: required");
  if (call.source.empty()) return absl::InvalidArgumentError("source: required");
  if (!std::isfinite(call.budget_hours) || call.budget_hours <= 0) {
    return absl::InvalidArgumentError("budget_hours: must be a finite number > 0");
  }
  for (auto [value, field] : {std::pair{call.cost_tele_hours, "cost_tele_hours"},
                              std::pair{call.cost_nt_hours, "cost_nt_hours"}}) {
    if (!std::isfinite(value) || value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be 0 (the spec's) or a finite number > 0"));
    }
  }
  if (call.teleop_core < 0) return absl::InvalidArgumentError("teleop_core: must be >= 0");
  absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> spec = specs_.Get(call.sweep_id);
  if (!spec.ok()) return spec.status();
  const auto& scenarios = (*spec)->evaluation.scenarios;
  if (std::none_of(scenarios.begin(), scenarios.end(),
                   [&](const spec::Scenario& s) { return s.name == call.scenario; })) {
    return absl::NotFoundError(absl::StrCat("scenario: sweep ", call.sweep_id, " has no scenario '",
                                            call.scenario, "'"));
  }
  const spec::Source* source = nullptr;
  for (const spec::Source& s : (*spec)->sources) {
    if (s.name == call.source) source = &s;
  }
  if (source == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("source: sweep ", call.sweep_id, " has no source '", call.source, "'"));
  }

  absl::StatusOr<ScenarioInputs> inputs =
      estimates_.LoadScenarioInputs(call.sweep_id, call.scenario);
  if (!inputs.ok()) return inputs.status();
  inputs->sources = {call.source};
  std::vector<SourceMeasurements> measured = MeasurementsBySource(*inputs);
  utilization::EstimateParams params = defaults_;
  params.keep_model_resamples = true;
  absl::StatusOr<utilization::Estimate> estimate = utilization::ComputeEstimate(
      {.sweep_id = call.sweep_id, .scenario = call.scenario, .source = call.source},
      measured.front().measurements, params);
  if (!estimate.ok()) return estimate.status();

  // A generated source's default cost is the one its generate job measured.
  absl::StatusOr<std::vector<scheduler::GenerationRecord>> generations =
      sweeps_.ListGenerations(call.sweep_id);
  if (!generations.ok()) return generations.status();
  const spec::SweepSpec with_measured = WithMeasuredCollectionCosts(**spec, *generations);
  double spec_cost_nt = 0;
  for (const spec::Source& s : with_measured.sources) {
    if (s.name == call.source) spec_cost_nt = s.cost_per_demo_hours;
  }
  RecommendAnswer answer{
      .cost_tele_hours =
          call.cost_tele_hours > 0 ? call.cost_tele_hours : (*spec)->teleop.cost_per_demo_hours,
      .cost_nt_hours = call.cost_nt_hours > 0 ? call.cost_nt_hours : spec_cost_nt,
      .teleop_core = call.teleop_core};
  if (answer.cost_tele_hours <= 0) {
    return absl::InvalidArgumentError(
        "cost_tele_hours: the spec gives no teleop cost per demo; pass one");
  }
  absl::StatusOr<utilization::Recommendation> recommendation =
      utilization::RecommendFromEstimate(*estimate, {.budget_hours = call.budget_hours,
                                                     .cost_tele_hours = answer.cost_tele_hours,
                                                     .cost_nt_hours = answer.cost_nt_hours,
                                                     .teleop_core = call.teleop_core,
                                                     .level = params.level});
  if (!recommendation.ok()) return recommendation.status();
  answer.recommendation = *std::move(recommendation);
  if (answer.teleop_core == 0 && !estimate->teleop_curve.empty()) {
    answer.teleop_core = estimate->teleop_curve.front().n_tele;
  }
  return answer;
}

}  // namespace mixsweep::evaluation
