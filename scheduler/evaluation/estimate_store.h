// EstimateStore: what the recomputation of estimates reads and writes.
//
// The PostgreSQL implementation is db::PgEstimateStore.
//
// Staleness: every trial write marks its (sweep, scenario) stale in the same
// transaction, with a new mark number. The recomputer reads the mark, reads
// the scenario's trials, computes, and saves the estimates together with the
// mark: the save clears the mark only if no newer trial re-marked it, so a
// burst of trials is coalesced and none is ever left out, even across a
// crash (the marks are in the database).
//
// Which trials an estimate came from: trials of one scenario are committed in
// id order (the store serializes them), so an estimate's set is "the trials
// of (sweep, scenario) with id <= last_trial_id, less those superseded by one
// of them", checked by `trials_digest`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/spec/sweep_spec.h"
#include "scheduler/utilization/cost.h"
#include "scheduler/utilization/estimate.h"

namespace mixsweep::evaluation {

struct StaleMark {
  int64_t sweep_id = 0;
  std::string scenario;
  int64_t mark = 0;              // grows with every trial write
  int64_t trigger_trial_id = 0;  // the newest trial that marked it
};

// A run of the sweep (or of its baseline sweep), as the estimates see it.
struct RunPoint {
  int64_t run_id = 0;
  int64_t n_tele = 0;
  std::string source;  // empty: teleop-only
  int64_t n_nt = 0;
  int64_t seed = 0;
};

// A current (not superseded) trial of the scenario.
struct ScoredTrialRef {
  int64_t trial_id = 0;
  int64_t run_id = 0;
  int64_t request_id = 0;
  double score = 0.0;
};

// An evaluation request of the scenario: one checkpoint of one run.
struct RequestRef {
  int64_t request_id = 0;
  int64_t run_id = 0;
  int64_t checkpoint_step = 0;  // the training step; the highest is the last
  bool complete = false;        // every trial recorded
};

// Everything one scenario's estimates are computed from, read at once.
struct ScenarioInputs {
  int64_t sweep_id = 0;
  std::string scenario;
  std::string task;
  std::vector<std::string> sources;  // the sweep's non-teleop sources
  std::vector<RunPoint> runs;        // including the baseline sweep's teleop-only runs
  std::vector<ScoredTrialRef> trials;
  // The requests behind the trials (not cancelled ones). Empty: each run's
  // requests are taken from its trials, all at step 0.
  std::vector<RequestRef> requests;
  spec::Aggregation aggregation = spec::Aggregation::kLast;
  bool simulated = false;  // the scenario is evaluated by simulation jobs
  int64_t last_trial_id = 0;  // the largest trial id of the scenario, current or not
};

struct StoredEstimate {
  int64_t row_id = 0;  // the stored row: grows with every save of the sweep
  utilization::Estimate estimate;
  std::string task;
  int64_t version = 0;
  absl::Time computed_at;
  int64_t trigger_trial_id = 0;
  std::string trials_digest;
  utilization::EstimateParams params;
  // Cost of each point of its curve (teleop-only points under source ""),
  // computed when read (UtilizationService::GetEstimates), never stored:
  // GPU-hours keep arriving as jobs run.
  std::vector<utilization::PointCost> point_costs;
  // The source's kind from the spec, set when read like the costs.
  std::optional<spec::SourceKind> source_kind;
};

struct EstimateFilter {
  int64_t sweep_id = 0;
  std::string scenario;  // empty: all
  std::string source;    // empty: all
};

class EstimateStore {
 public:
  virtual ~EstimateStore() = default;

  // Stale (sweep, scenario) pairs, oldest mark first.
  virtual absl::StatusOr<std::vector<StaleMark>> ListStale(int limit) = 0;

  virtual absl::StatusOr<ScenarioInputs> LoadScenarioInputs(int64_t sweep_id,
                                                            const std::string& scenario) = 0;

  // Stores a new version of each estimate (one per source) unless the stored
  // one was computed from the same or a later trial set, and clears `mark`
  // if it is still the latest. Returns the estimates stored.
  virtual absl::StatusOr<std::vector<StoredEstimate>> SaveEstimates(
      const StaleMark& mark, const std::vector<StoredEstimate>& estimates) = 0;

  // The latest version of each estimate.
  virtual absl::StatusOr<std::vector<StoredEstimate>> LatestEstimates(
      const EstimateFilter& filter) = 0;

  // Every version of the sweep's estimates stored after the one with row id
  // `after_row_id`, in the order they were stored (saves of one sweep are
  // serialized, so row ids commit in order); for the watch stream.
  virtual absl::StatusOr<std::vector<StoredEstimate>> EstimatesAfter(int64_t sweep_id,
                                                                      int64_t after_row_id) = 0;
};

}  // namespace mixsweep::evaluation
