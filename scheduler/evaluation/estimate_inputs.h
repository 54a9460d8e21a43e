// From stored results to the engine's input: one Measurements per source of
// a scenario, with the sweep's checkpoint aggregation applied.
//
// Aggregation "last" (the default, and the only sensible one for robots): a
// run evaluated on several checkpoints counts only the trials of its latest
// evaluation request (the highest request id, which is the latest checkpoint
// since requests are created as checkpoints arrive).
//
// Pure; db::PgEstimateStore reads the ScenarioInputs in one query.
//
// Example:
//   for (const SourceMeasurements& m : MeasurementsBySource(inputs)) {
//     ComputeEstimate({sweep, scenario, m.source}, m.measurements, params);
//   }
#pragma once

#include <cstdint>
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

// One entry per source in `inputs.sources` (in that order): the teleop-only
// runs' trials plus that source's mixed runs' trials. Trials of runs not in
// `inputs.runs` are ignored.
std::vector<SourceMeasurements> MeasurementsBySource(const ScenarioInputs& inputs);

// FNV-1a 64 over the ids (ascending, as 8 little-endian bytes each), as 16
// lowercase hex digits: names the exact trial set of an estimate.
std::string TrialsDigest(const std::vector<int64_t>& ascending_trial_ids);

}  // namespace mixsweep::evaluation
