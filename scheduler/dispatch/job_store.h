// JobStore: leases and job reports, as the dispatcher sees storage.
//
// The PostgreSQL implementation is db::PgJobStore. Every method is one
// transaction; times are passed in (`now`) from an injectable Clock, so tests
// move time instead of sleeping.
//
// Fencing: every lease grant takes a new token from one sequence. Reports
// name (job_id, fencing_token); a token that is not the job's current one,
// or a job no longer leased or running, is FAILED_PRECONDITION and changes
// nothing. The same report repeated after it succeeded (a lost answer) is
// answered as the first time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/dispatch/retry_policy.h"
#include "scheduler/records.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::scheduler {

struct GpuRecord {
  int index = 0;
  std::string name;
  int64_t memory_total_mib = 0;
  int64_t memory_used_mib = 0;
  int utilization_percent = 0;
  std::string uuid;
};

enum class WorkerState {
  kAlive,     // heartbeating
  kDraining,  // stopped leasing (SIGTERM), finishing or handing back
  kLost,      // no heartbeat within the lease TTL
  kGone,      // said goodbye
};

struct WorkerRecord {
  int64_t id = 0;
  std::string name;
  std::string host;
  std::vector<GpuRecord> gpus;
  std::map<std::string, std::string> labels;
  std::string version;
  bool synthetic = false;
  // The principal whose token registered it; only they act for it.
  std::string owner;
  WorkerState state = WorkerState::kAlive;
  absl::Time registered_at;
  absl::Time last_heartbeat_at;
  std::vector<int64_t> running_job_ids;
};

struct LeaseRef {
  int64_t job_id = 0;
  int64_t fencing_token = 0;
};

// What a worker asks for: a job needing at most as many GPUs as it has free,
// whose memory minimum the smallest free GPU (as registered) meets, and
// whose labels the worker carries.
struct LeaseRequest {
  int64_t worker_id = 0;
  std::vector<int> free_gpu_indices;
  std::string idempotency_key;
  absl::Duration ttl = absl::Seconds(60);
  std::string artifact_root;  // output dirs go under it
};

// What an evaluate job evaluates: one (run, scenario, checkpoint) request.
struct EvaluationTask {
  int64_t request_id = 0;
  std::string scenario;
  std::string checkpoint_uri;
  int n_episodes = 0;
  int64_t checkpoint_step = 0;
};

// A granted lease with everything the worker needs to run the job.
struct LeasedJob {
  JobRecord job;
  LeaseRef lease;
  absl::Time expires_at;
  spec::CommandTemplate command;  // unrendered
  std::string init_checkpoint_uri;    // finetune: its pretrain's checkpoint
  std::string resume_checkpoint_uri;  // from a handed-back attempt
  // A job of a generated source: the dataset its generate job made, in
  // place of job.dataset.uri.
  std::string generated_dataset_uri;
  std::optional<EvaluationTask> evaluation;  // evaluate jobs
  std::vector<int64_t> checkpoint_steps;     // intermediate checkpoints to keep
  std::string code_version;
  std::string policy;
  std::string task;
  int gpus = 1;
  double min_gpu_memory_gib = 0;
  std::optional<absl::Duration> deadline;
};

struct ProgressReport {
  LeaseRef lease;
  bool started = false;       // the process started: LEASED -> RUNNING
  std::string progress_json;  // {"step":..,"total_steps":..,"metrics":{..}}; empty: none
  std::string provenance_json;  // empty: unchanged
};

struct LeaseState {
  bool valid = false;  // false: the lease is not this worker's any more
  bool cancel_requested = false;
  absl::Time expires_at;
};

// One episode of an evaluate job's result file (mixsweep.v1.SimulatedEpisode).
struct SimulatedEpisode {
  int index = 0;
  bool success = false;
  double score = 0;  // in [0, 1]
  int64_t seed = 0;
  double sum_reward = 0;
  double max_reward = 0;
  bool has_rewards = false;
};

// A generate job's summary, as its generator wrote it.
struct GenerationReport {
  int64_t num_success = 0;
  int64_t num_attempts = 0;
  double seconds = 0;
};

struct StepCheckpoint {
  int64_t step = 0;
  std::string uri;
};

// What a job's success reports. Which of the optional parts a job needs
// depends on its kind, checked by the store against the locked job:
// generate -> generation; evaluate -> exactly its request's episodes;
// a job with checkpoint steps -> one step checkpoint per step.
struct Completion {
  LeaseRef lease;
  std::string checkpoint_uri;
  double gpu_seconds = 0;
  std::string provenance_json;
  std::string final_metrics_json;
  std::vector<SimulatedEpisode> episodes;
  std::optional<GenerationReport> generation;
  std::vector<StepCheckpoint> step_checkpoints;
  std::string principal;  // who reports: recorded with the trials
};

struct CompletionResult {
  std::vector<int64_t> unblocked_job_ids;
  bool replayed = false;
};

struct Failure {
  LeaseRef lease;
  std::string kind;  // exit_code, signal, checkpoint_missing, start_failed, ...
  int exit_code = 0;
  int signal = 0;
  std::string message;
  bool retryable = true;
  double gpu_seconds = 0;
};

struct FailureResult {
  bool will_retry = false;
  absl::Time retry_at;
  bool replayed = false;
};

enum class HandBackReason { kShutdown, kPreempted, kCancelled };

struct HandBack {
  LeaseRef lease;
  HandBackReason reason = HandBackReason::kShutdown;
  std::string resume_checkpoint_uri;
  double gpu_seconds = 0;
};

// What one pass of the expiry loop did.
struct ExpiryResult {
  int requeued = 0;          // lease expired, attempts left
  int failed = 0;            // lease expired with no attempts left, or past deadline
  int cancelled = 0;         // lease expired on a cancelled sweep
  int workers_lost = 0;
};

struct LogChunk {
  int64_t offset = 0;
  std::string data;
  int attempt = 0;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual absl::StatusOr<int64_t> RegisterWorker(const WorkerRecord& worker,
                                                 const std::string& idempotency_key,
                                                 absl::Time now) = 0;

  // Grants the best ready job the worker can run, or nullopt. Highest
  // priority first; among sweeps of equal priority, the one served longest
  // ago (round-robin). Safe with many replicas (SKIP LOCKED). A retried call
  // with the same idempotency key returns the same lease while it is held.
  virtual absl::StatusOr<std::optional<LeasedJob>> Lease(const LeaseRequest& request,
                                                         absl::Time now) = 0;

  // Extends each named lease held by the worker to now + ttl.
  virtual absl::StatusOr<std::vector<LeaseState>> Heartbeat(
      int64_t worker_id, const std::vector<LeaseRef>& leases, bool draining,
      absl::Duration ttl, absl::Time now) = 0;

  virtual absl::StatusOr<LeaseState> ReportProgress(const ProgressReport& report,
                                                    absl::Duration ttl, absl::Time now) = 0;

  // Stores a log chunk of the lease's attempt; keeps about the last
  // `keep_bytes` of the job's log. Returns the offset after the last byte stored.
  virtual absl::StatusOr<int64_t> AppendLog(const LeaseRef& lease, int64_t offset,
                                            const std::string& data, int64_t keep_bytes,
                                            absl::Time now) = 0;

  virtual absl::StatusOr<CompletionResult> Complete(const Completion& completion,
                                                    absl::Time now) = 0;

  // Retries (after the policy's backoff) or fails the job for good; a job
  // failed for good fails the jobs that depend on it.
  virtual absl::StatusOr<FailureResult> Fail(const Failure& failure, const RetryPolicy& policy,
                                             absl::Time now) = 0;

  virtual absl::Status HandBackJob(const HandBack& hand_back, absl::Time now) = 0;

  // Re-queues (or fails, or cancels) jobs whose lease expired by `now`, fails
  // jobs past their deadline, and marks silent workers lost.
  virtual absl::StatusOr<ExpiryResult> ExpireLeases(absl::Time now,
                                                    absl::Duration worker_ttl,
                                                    const RetryPolicy& policy) = 0;

  virtual absl::StatusOr<std::vector<WorkerRecord>> ListWorkers(bool include_gone) = 0;

  // The principal that registered the worker ("" for a worker registered
  // before authentication); NOT_FOUND for an unknown worker.
  virtual absl::StatusOr<std::string> WorkerOwner(int64_t worker_id) = 0;

  struct LeaseHolder {
    int64_t worker_id = 0;
    std::string owner;
  };
  // The worker holding the job's current lease, nullopt when none does.
  virtual absl::StatusOr<std::optional<LeaseHolder>> LeaseHolderOf(int64_t job_id) = 0;

  // The stored log of a job from `offset` (negative: the last -offset bytes).
  virtual absl::StatusOr<std::vector<LogChunk>> ReadLog(int64_t job_id, int64_t offset) = 0;
};

}  // namespace mixsweep::scheduler
