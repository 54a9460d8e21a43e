#include "scheduler/evaluation/recomputer.h"

#include "absl/strings/str_cat.h"
#include "scheduler/evaluation/estimate_inputs.h"

namespace mixsweep::evaluation {

std::vector<StoredEstimate> ComputeScenarioEstimates(const ScenarioInputs& inputs,
                                                     const utilization::EstimateParams& params) {
  std::vector<StoredEstimate> out;
  for (SourceMeasurements& m : MeasurementsBySource(inputs)) {
    const utilization::EstimateKey key{
        .sweep_id = inputs.sweep_id, .scenario = inputs.scenario, .source = m.source};
    absl::StatusOr<utilization::Estimate> estimate =
        utilization::ComputeEstimate(key, m.measurements, params);
    // Stored trials are checked on the way in (scores in [0, 1], ids
    // unique), so the engine cannot refuse them; if it ever does, the
    // scenario keeps an estimate with no data rather than a wrong one.
    StoredEstimate stored{.estimate = estimate.ok() ? *std::move(estimate)
                                                    : utilization::Estimate{.key = key},
                          .task = inputs.task,
                          .trials_digest = TrialsDigest(m.trial_ids),
                          .params = params};
    stored.estimate.last_trial_id = inputs.last_trial_id;
    stored.estimate.aggregation = spec::AggregationName(EffectiveAggregation(inputs));
    stored.estimate.simulated = inputs.simulated;
    // Under max_over_checkpoints a run's S is given, so the engine counts
    // no trials; the trials behind those maxima are the count that matters.
    stored.estimate.trial_count = static_cast<int>(m.trial_ids.size());
    out.push_back(std::move(stored));
  }
  return out;
}

absl::StatusOr<int> EstimateRecomputer::RunOnce(int limit) {
  absl::StatusOr<std::vector<StaleMark>> marks = store_.ListStale(limit);
  if (!marks.ok()) return marks.status();
  int stored = 0;
  absl::Status first_error;
  for (const StaleMark& mark : *marks) {
    absl::StatusOr<ScenarioInputs> inputs = store_.LoadScenarioInputs(mark.sweep_id, mark.scenario);
    absl::StatusOr<std::vector<StoredEstimate>> saved =
        inputs.ok() ? store_.SaveEstimates(mark, ComputeScenarioEstimates(*inputs, params_))
                    : absl::StatusOr<std::vector<StoredEstimate>>(inputs.status());
    if (!saved.ok()) {
      if (first_error.ok()) {
        first_error = absl::Status(saved.status().code(),
                                   absl::StrCat("sweep ", mark.sweep_id, " scenario ",
                                                mark.scenario, ": ", saved.status().message()));
      }
      continue;
    }
    stored += static_cast<int>(saved->size());
    if (on_saved_ && !saved->empty()) on_saved_(*saved);
  }
  if (!first_error.ok()) return first_error;
  return stored;
}

}  // namespace mixsweep::evaluation
