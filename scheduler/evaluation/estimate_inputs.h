// From stored results to the engine's input: one Measurements per source of
// a scenario, with the sweep's checkpoint aggregation applied.
//
// A run may be evaluated on several checkpoints (simulation scenarios;
// robots evaluate only the last). Its S in the scenario is then:
//   last                  the trials of its last checkpoint (the highest
//                         step, then the newest request), as trials;
//   max_over_checkpoints  the highest per-checkpoint mean score, counted
//                         only once every checkpoint is fully evaluated (a
//                         maximum over a partial set would be biased low),
//                         as a given S: the bootstrap resamples seeds, not
//                         the episodes behind a maximum.
// Then, as always, mean and population standard deviation over seeds
// (utilization/aggregate.h). Seed 001: "take the maximum policy success
// rate for each seed".
//
// Pure; db::PgEstimateStore reads the ScenarioInputs in one query.
//
// Example:
//   for (const SourceMeasurements& m : MeasurementsBySource(inputs)) {
//     ComputeEstimate({sweep, scenario, m.source}, m.measurements, params);
//   }
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::evaluation {

struct SourceMeasurements {
  std::string source;
  utilization::Measurements measurements;
  std::vector<int64_t> trial_ids;  // ascending: the trials used
};

// One evaluated checkpoint of a run: its step and mean trial score.
struct CheckpointScore {
  int64_t step = 0;
  double s = 0.0;
};

// A run's S from its checkpoints (any order): the last step's S, or the
// maximum. nullopt without checkpoints.
std::optional<double> AggregateCheckpoints(std::span<const CheckpointScore> checkpoints,
                                           spec::Aggregation aggregation);

// What the scenario's runs use: the sweep's aggregation for a simulation
// scenario, always kLast for a robot one.
spec::Aggregation EffectiveAggregation(const ScenarioInputs& inputs);

// One entry per source in `inputs.sources` (in that order): the teleop-only
// runs' results plus that source's mixed (or scaling) runs' results. Trials
// of runs not in `inputs.runs` are ignored.
std::vector<SourceMeasurements> MeasurementsBySource(const ScenarioInputs& inputs);

// FNV-1a 64 over the ids (ascending, as 8 little-endian bytes each), as 16
// lowercase hex digits: names the exact trial set of an estimate.
std::string TrialsDigest(const std::vector<int64_t>& ascending_trial_ids);

}  // namespace mixsweep::evaluation
