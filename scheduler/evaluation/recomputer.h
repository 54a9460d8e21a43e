// EstimateRecomputer: brings the stored estimates up to date with the trials.
//
// Each pass takes the stale (sweep, scenario) marks, reads the scenario's
// trials in one query, computes one estimate per source with the engine and
// saves them with the mark. Trials that arrive during a pass mark the
// scenario again, so a burst costs one or two computations, not one per
// trial, and a crash anywhere leaves the mark for the next pass.
//
// Example (mixsweepd runs this on its own thread):
//   EstimateRecomputer recomputer(store, {.resamples = 2000}, on_saved);
//   while (running) { wakeup.Wait(absl::Seconds(1)); (void)recomputer.RunOnce(); }
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/utilization/estimate.h"

namespace mixsweep::evaluation {

// The estimates of one scenario, computed from its inputs (pure).
std::vector<StoredEstimate> ComputeScenarioEstimates(const ScenarioInputs& inputs,
                                                     const utilization::EstimateParams& params);

class EstimateRecomputer {
 public:
  using SavedCallback = std::function<void(const std::vector<StoredEstimate>&)>;

  EstimateRecomputer(EstimateStore& store, utilization::EstimateParams params,
                     SavedCallback on_saved = nullptr)
      : store_(store), params_(params), on_saved_(std::move(on_saved)) {}

  // One pass over the stale marks (at most `limit`); how many estimates it
  // stored. A scenario whose computation fails is logged in the status and
  // stays stale.
  absl::StatusOr<int> RunOnce(int limit = 64);

 private:
  EstimateStore& store_;
  const utilization::EstimateParams params_;
  SavedCallback on_saved_;
};

}  // namespace mixsweep::evaluation
