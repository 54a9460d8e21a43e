// What the scheduler stores and reads back: sweeps, runs and jobs as plain
// values. The database layer (db/) fills them; the API layer (services/api)
// turns them into protos. Neither gRPC nor libpqxx types appear here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "scheduler/expansion/sweep_plan.h"

namespace mixsweep::scheduler {

enum class SweepState {
  kActive,     // jobs queued, running or waiting for evaluation
  kCompleted,  // every run finished training and evaluation
  kCancelled,  // cancelled; queued jobs will not run
};

enum class JobState {
  kBlocked,    // waiting for a dependency (a finetune for its pretrain)
  kQueued,     // ready to be leased
  kLeased,     // granted to a worker that has not started it yet
  kRunning,    // running under a heartbeated lease
  kSucceeded,  // exit 0 and the checkpoint exists
  kFailed,     // failed for good
  kCancelled,  // stopped because its sweep was cancelled
};

enum class RunState {
  kPending,    // no job of the run has started
  kTraining,   // a job of the run is leased or running (or done, with more to go)
  kTrained,    // the final checkpoint exists
  kEvaluated,  // every scenario has all its trials
  kFailed,     // a job of the run failed for good
  kCancelled,  // the sweep was cancelled before the run finished
};

// Names as stored in the database ("queued", "succeeded", ...).
const char* SweepStateName(SweepState state);
const char* JobStateName(JobState state);
const char* RunStateName(RunState state);
std::optional<SweepState> ParseSweepState(const std::string& name);
std::optional<JobState> ParseJobState(const std::string& name);
std::optional<plan::JobKind> ParseJobKind(const std::string& name);

// A run's state from the states of its jobs (train, or pretrain + finetune).
// A run's evaluation requests (one per scenario, queued when it trained).
struct RunEvaluations {
  int64_t open = 0;
  int64_t complete = 0;  // every trial recorded
};
RunState DeriveRunState(const std::vector<JobState>& job_states,
                        const RunEvaluations& evaluations = {});

struct SweepCounts {
  int runs_total = 0;
  std::map<RunState, int> runs_by_state;
  int jobs_total = 0;
  std::map<JobState, int> jobs_by_state;
  std::map<plan::JobKind, int> jobs_by_kind;
};

// A generated source's generate job and, once it succeeded, what the
// generator reported (the `generations` table).
struct GenerationRecord {
  int64_t job_id = 0;
  std::string source;
  JobState state = JobState::kQueued;
  bool recorded = false;  // the job succeeded and its summary is stored
  std::string dataset_uri;
  int64_t num_success = 0;
  int64_t num_attempts = 0;
  double seconds = 0;  // the generator's wall-clock time

  double success_rate() const {
    return num_attempts > 0 ? static_cast<double>(num_success) / num_attempts : 0.0;
  }
  // The measured collection cost of one generated demo: the generator's
  // hours over the demos it produced; 0 until recorded.
  double measured_cost_per_demo_hours() const {
    return recorded && num_success > 0 ? seconds / 3600.0 / num_success : 0.0;
  }
};

struct SweepRecord {
  int64_t id = 0;
  std::string name;
  std::string owner;
  SweepState state = SweepState::kActive;
  int revision = 1;
  std::string spec_yaml;  // the latest revision's
  std::string cancel_reason;
  absl::Time created_at;
  absl::Time updated_at;
  SweepCounts counts;
  std::vector<GenerationRecord> generations;  // filled by GetSweep only
};

struct RunRecord {
  int64_t id = 0;
  int64_t sweep_id = 0;
  std::string key;
  plan::RunKey run;
  std::string source_kind;  // "teleop", "simulation", "human_video"
  RunState state = RunState::kPending;
  int64_t train_job_id = 0;
  int64_t pretrain_job_id = 0;
  int64_t finetune_job_id = 0;
  std::string checkpoint_uri;
  int revision_added = 1;
};

struct JobRecord {
  int64_t id = 0;
  int64_t sweep_id = 0;
  std::string key;
  plan::JobKind kind = plan::JobKind::kTrain;
  JobState state = JobState::kQueued;
  std::string source;
  spec::Dataset dataset;
  int64_t n_demos = 0;
  int64_t seed = 0;
  int64_t steps = 0;
  int64_t depends_on_job_id = 0;
  std::vector<int64_t> run_ids;
  int attempts = 0;
  int max_attempts = 0;
  int priority = 0;
  int64_t lease_worker_id = 0;
  int64_t fencing_token = 0;
  std::optional<absl::Time> lease_expires_at;
  bool cancel_requested = false;
  std::string output_uri;
  std::string checkpoint_uri;
  // Why the last attempt failed (empty kind: it did not).
  std::string failure_kind;  // exit_code, signal, checkpoint_missing, lease_expired, ...
  std::string failure_message;
  int failure_exit_code = 0;
  int failure_signal = 0;
  std::optional<absl::Time> not_before;  // retry backoff
  // As the worker reported them (mixsweep.v1.JobProgress / Provenance JSON).
  std::string progress_json;
  std::string provenance_json;
  double gpu_seconds = 0;
  absl::Time created_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;
  std::vector<int64_t> subset_episodes;  // filled by GetJob only
};

}  // namespace mixsweep::scheduler
