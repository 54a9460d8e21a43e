// EvaluationStore: robots, evaluation requests, blind batches and trials, as
// the evaluation service sees storage.
//
// The PostgreSQL implementation is db::PgEvaluationStore. Every write is one
// transaction; trials are append-only (a correction is a new record that
// supersedes one) and every trial write marks the estimates it touches as
// stale in the same transaction, so a crash between a trial's commit and its
// recomputation is repaired on restart (EstimateStore::ListStale).
//
// Requests are created by the job store when a run's checkpoint is ready
// (one per scenario of the sweep), not through this interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/evaluation/next_evaluation.h"
#include "scheduler/evaluation/trial_scoring.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::evaluation {

struct RobotRecord {
  std::string id;
  std::string platform;
  std::string location;
  absl::Time registered_at;
};

enum class RequestState {
  kOpen,       // waiting for trials (in a batch or not)
  kComplete,   // every trial recorded
  kCancelled,  // its sweep was cancelled
};

struct RequestRecord {
  int64_t id = 0;
  int64_t sweep_id = 0;
  int64_t run_id = 0;
  std::string scenario;
  std::string checkpoint_uri;
  int trials_wanted = 0;
  int trials_recorded = 0;  // original trials (corrections do not add)
  RequestState state = RequestState::kOpen;
  std::string blind_label;
  std::string batch_id;  // empty: not in a batch
  std::string robot_id;
  int batch_position = 0;
  std::string platform;
  // The run's mixture: for the lab lead and the estimates, never the operator.
  int64_t n_tele = 0;
  std::string source;  // empty: teleop-only
  int64_t n_nt = 0;
  int64_t seed = 0;
  int64_t checkpoint_step = 0;  // the training step of the checkpoint
  bool simulated = false;       // evaluated by an evaluate job, not an operator
};

// A simulated trial's episode as its result file gave it.
struct EpisodeInfo {
  int64_t seed = 0;
  double sum_reward = 0;
  double max_reward = 0;
  bool has_rewards = false;
};

// A batch as stored: one (sweep, scenario), its requests in blind order.
struct BatchRecord {
  std::string batch_id;
  std::string robot_id;
  int64_t sweep_id = 0;
  std::string scenario;
  std::string reason;
  std::vector<RequestRecord> requests;  // by batch_position
};

struct TrialRecord {
  int64_t id = 0;
  int64_t request_id = 0;
  int64_t sweep_id = 0;
  int64_t run_id = 0;
  std::string scenario;
  std::string checkpoint_uri;
  TrialValues values;
  double score = 0.0;
  absl::Time recorded_at;
  int64_t supersedes_trial_id = 0;
  int64_t superseded_by_trial_id = 0;
  std::string correction_reason;
  bool simulated = false;
  std::optional<EpisodeInfo> episode;  // simulated trials
};

struct ScoredTrial {
  TrialValues values;
  double score = 0.0;
  std::optional<EpisodeInfo> episode;  // simulated trials
};

struct RecordTrialsResult {
  std::vector<TrialRecord> trials;
  bool replayed = false;
  bool request_complete = false;
};

struct ResultFilter {
  int64_t sweep_id = 0;
  std::string scenario;  // empty: all
  bool include_trials = false;
  bool include_superseded = false;
};

// One (run, scenario, checkpoint) with its trials.
struct ResultRecord {
  RequestRecord request;
  double s = 0.0;  // mean score of the current trials; 0 without trials
  std::vector<TrialRecord> trials;
};

class EvaluationStore {
 public:
  virtual ~EvaluationStore() = default;

  // A retried call (same key) returns the same robot; registering an
  // existing id with other values is ALREADY_EXISTS.
  virtual absl::StatusOr<RobotRecord> RegisterRobot(const RobotRecord& robot,
                                                    const scheduler::WriteContext& ctx) = 0;
  virtual absl::StatusOr<std::vector<RobotRecord>> ListRobots() = 0;
  virtual absl::StatusOr<RobotRecord> GetRobot(const std::string& robot_id) = 0;

  // The open batch assigned to the robot (requests still open), if any.
  virtual absl::StatusOr<std::optional<BatchRecord>> OpenBatchOf(const std::string& robot_id) = 0;

  // Open requests in no batch, of active sweeps (`sweep_id` 0: all) whose
  // platform is empty or `platform` (empty: any).
  virtual absl::StatusOr<std::vector<OpenRequest>> ListUnbatched(int64_t sweep_id,
                                                                 const std::string& platform) = 0;

  // Assigns the requests to a new batch for the robot, in the given order.
  // ABORTED when another station took one of them meanwhile (ask again).
  virtual absl::StatusOr<BatchRecord> AssignBatch(const std::string& robot_id,
                                                  const std::string& operator_name,
                                                  const BatchCandidate& batch,
                                                  const std::vector<int64_t>& blind_order) = 0;

  virtual absl::StatusOr<RequestRecord> GetRequest(int64_t request_id) = 0;
  virtual absl::StatusOr<RequestRecord> FindRequestByLabel(const std::string& label) = 0;

  // Stores new trials of an open request, scored by the caller. Checked
  // again inside the transaction: the request is open (FAILED_PRECONDITION),
  // each index is new (FAILED_PRECONDITION: send a correction instead) and
  // below trials_wanted. The same key and trials again: the stored answer,
  // replayed. The request completes with its last trial.
  virtual absl::StatusOr<RecordTrialsResult> RecordTrials(int64_t request_id,
                                                          const std::vector<ScoredTrial>& trials,
                                                          bool simulated,
                                                          const scheduler::WriteContext& ctx) = 0;

  // A new trial that supersedes `trial_id` (which must be current:
  // FAILED_PRECONDITION otherwise, naming the trial that replaced it).
  virtual absl::StatusOr<TrialRecord> CorrectTrial(int64_t trial_id, const ScoredTrial& corrected,
                                                   const std::string& reason,
                                                   const scheduler::WriteContext& ctx) = 0;

  virtual absl::StatusOr<TrialRecord> GetTrial(int64_t trial_id) = 0;

  virtual absl::StatusOr<std::vector<ResultRecord>> ListResults(const ResultFilter& filter) = 0;
};

}  // namespace mixsweep::evaluation
