#include "db/pg_job_store.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "db/auth_sql.h"
#include "db/command_json.h"
#include "db/dispatch_sql.h"
#include "db/sql.h"
#include "db/pg_sweep_store.h"
#include "db/prepared.h"
#include "db/trial_rows.h"

namespace mixsweep::db {
namespace {

using nlohmann::json;
using scheduler::LeaseRef;

// Times go to PostgreSQL as RFC 3339 text with microseconds, in UTC.
std::string Timestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6S+00:00", t, absl::UTCTimeZone());
}

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

absl::Time FromMicros(const pqxx::field& f) {
  return f.is_null() ? absl::InfinitePast() : absl::FromUnixMicros(f.as<int64_t>());
}

// libpqxx 6 binds a null `const char*` as SQL NULL.
const char* NullIfEmpty(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

const char* HandBackReasonName(scheduler::HandBackReason reason) {
  switch (reason) {
    case scheduler::HandBackReason::kShutdown: return "shutdown";
    case scheduler::HandBackReason::kPreempted: return "preempted";
    case scheduler::HandBackReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::string BigintArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

std::vector<int64_t> ParseIds(const std::string& text) {
  std::vector<int64_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t id = 0;
    if (absl::SimpleAtoi(part, &id)) ids.push_back(id);
  }
  return ids;
}

absl::Status StaleLease(const LeaseRef& lease) {
  return absl::FailedPreconditionError(absl::StrCat(
      "lease of job ", lease.job_id, " with fencing token ", lease.fencing_token,
      " is no longer held (it expired or the job was leased again); stop the job and "
      "report nothing more for it"));
}

// The locked row of a reported job.
struct LockedJob {
  std::string state;
  int64_t fencing_token = 0;
  int attempts = 0;
  int max_attempts = 0;
  bool cancel_requested = false;
  int64_t sweep_id = 0;
  std::string failure_token;  // the token of the attempt whose failure is recorded
  std::string failure_by;     // which report recorded it: fail, hand_back, expiry, deadline
  absl::Time not_before;
  std::string kind;  // train, pretrain, finetune, generate, evaluate
  std::string source;
  int64_t n_demos = 0;
  int64_t steps = 0;
  std::vector<int64_t> checkpoint_steps;
  int64_t evaluation_request_id = 0;
};

std::optional<LockedJob> LockJob(pqxx::work& tx, int64_t job_id) {
  const pqxx::result rows = ExecPrepared(tx, sql::kLockJob, job_id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return LockedJob{.state = r[0].as<std::string>(),
                   .fencing_token = r[1].as<int64_t>(),
                   .attempts = r[2].as<int>(),
                   .max_attempts = r[3].as<int>(),
                   .cancel_requested = r[4].as<bool>(),
                   .sweep_id = r[5].as<int64_t>(),
                   .failure_token = r[6].as<std::string>(),
                   .failure_by = r[7].as<std::string>(),
                   .not_before = FromMicros(r[8]),
                   .kind = r[9].as<std::string>(),
                   .source = r[10].as<std::string>(),
                   .n_demos = r[11].as<int64_t>(),
                   .steps = r[12].as<int64_t>(),
                   .checkpoint_steps = ParseIds(r[13].as<std::string>()),
                   .evaluation_request_id = r[14].as<int64_t>()};
}

bool HoldsLease(const LockedJob& job, const LeaseRef& lease) {
  return job.fencing_token == lease.fencing_token &&
         (job.state == "leased" || job.state == "running");
}

void RecordJobEvent(pqxx::work& tx, const char* kind, int64_t job_id, const json& detail) {
  ExecPrepared(tx, sql::kInsertJobEvent, kind, job_id, detail.dump());
}

// After a job ended: the sweep completes if nothing is left to do.
void CompleteSweepIfDone(pqxx::work& tx, int64_t ended_job_id) {
  for (const auto& row : ExecPrepared(tx, sql::kCompleteSweepOfJobIfDone, ended_job_id)) {
    ExecPrepared(tx, sql::kInsertSweepEvent, "sweep.completed", row[0].as<int64_t>(), "",
                   json{{"after_job", ended_job_id}}.dump());
  }
}

// A job failed for good takes the jobs that need it down with it; an
// evaluate job's request is cancelled (it will get no trials).
void FailDependents(pqxx::work& tx, int64_t job_id, absl::Time now) {
  ExecPrepared(tx, sql::kCancelRequestOfJob, job_id);
  for (const auto& row : ExecPrepared(tx, sql::kFailDependents, job_id, Timestamp(now))) {
    RecordJobEvent(tx, "job.failed", row[0].as<int64_t>(),
                   {{"kind", "dependency_failed"}, {"dependency", job_id}});
  }
}

// `by` names the report that recorded the failure, so that only a repeat of
// that same report counts as a replay.
using scheduler::GenerationReport;

// The parts of a completion the job's kind needs, and nothing it does not.
// INVALID_ARGUMENT names the field; nothing is written before this passes.
absl::Status CheckCompletionFitsJob(const LockedJob& job, const scheduler::Completion& c) {
  const bool generate = job.kind == "generate", evaluate = job.kind == "evaluate";
  if (generate != c.generation.has_value()) {
    return absl::InvalidArgumentError(
        generate ? "generation: a generate job completes with its generator's summary"
                 : absl::StrCat("generation: only generate jobs report one; job ", "is a ",
                                job.kind, " job"));
  }
  if (generate && c.generation->num_success < job.n_demos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generation.num_success: ", c.generation->num_success, " demos generated, ",
        job.n_demos, " wanted; a generate job that made too few demos fails"));
  }
  if (!evaluate && !c.episodes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("episodes: only evaluate jobs report episodes; this is a ", job.kind,
                     " job"));
  }
  std::vector<int64_t> steps;
  for (const scheduler::StepCheckpoint& s : c.step_checkpoints) steps.push_back(s.step);
  std::sort(steps.begin(), steps.end());
  if (steps != job.checkpoint_steps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step_checkpoints: steps [", absl::StrJoin(steps, ", "), "] reported; the job keeps [",
        absl::StrJoin(job.checkpoint_steps, ", "), "]"));
  }
  return absl::OkStatus();
}

// An evaluate job's episodes stored as its request's trials.
absl::StatusOr<trial_rows::StoredTrials> StoreEpisodes(pqxx::work& tx, const LockedJob& job,
                                                       const scheduler::Completion& c) {
  const std::optional<trial_rows::LockedRequest> locked =
      trial_rows::LockRequestForTrials(tx, job.evaluation_request_id);
  if (!locked) {
    return absl::NotFoundError(
        absl::StrCat("no evaluation request ", job.evaluation_request_id));
  }
  if (static_cast<int>(c.episodes.size()) != locked->trials_wanted) {
    return absl::InvalidArgumentError(absl::StrCat(
        "episodes: ", c.episodes.size(), " reported; the request wants exactly ",
        locked->trials_wanted));
  }
  std::vector<evaluation::ScoredTrial> trials;
  for (const scheduler::SimulatedEpisode& e : c.episodes) {
    if (e.index < 0 || e.index >= locked->trials_wanted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "episodes.index: ", e.index, " is outside [0, ", locked->trials_wanted, ")"));
    }
    evaluation::ScoredTrial t;
    t.values.trial_index = e.index;
    t.values.success = e.success;
    t.score = e.score;
    t.episode = evaluation::EpisodeInfo{.seed = e.seed,
                                        .sum_reward = e.sum_reward,
                                        .max_reward = e.max_reward,
                                        .has_rewards = e.has_rewards};
    trials.push_back(std::move(t));
  }
  return trial_rows::StoreTrials(tx, job.evaluation_request_id, *locked, trials,
                                 /*simulated=*/true, c.principal);
}

std::string FailureJson(const std::string& by, const std::string& kind,
                        const std::string& message, int exit_code, int signal,
                        int64_t fencing_token) {
  return json{{"by", by},
              {"kind", kind},
              {"message", message},
              {"exit_code", exit_code},
              {"signal", signal},
              {"fencing_token", std::to_string(fencing_token)}}
      .dump();
}


// The memory of the smallest free GPU, from the worker's registration. A
// free index the worker never registered is a bug in the worker.
absl::StatusOr<double> SmallestFreeGpuMemoryGib(const std::string& gpus_json,
                                                const std::vector<int>& free_indices) {
  if (free_indices.empty()) return 0.0;
  std::map<int, int64_t> memory_mib;
  for (const auto& g : json::parse(gpus_json)) {
    memory_mib[g.value("index", -1)] = g.value("memory_total_mib", int64_t{0});
  }
  int64_t smallest = INT64_MAX;
  for (int index : free_indices) {
    auto it = memory_mib.find(index);
    if (it == memory_mib.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "free_gpu_indices: GPU ", index, " was not registered by this worker"));
    }
    smallest = std::min(smallest, it->second);
  }
  return static_cast<double>(smallest) / 1024.0;
}


}  // namespace

absl::StatusOr<int64_t> PgJobStore::RegisterWorker(const scheduler::WorkerRecord& worker,
                                                   const std::string& idempotency_key,
                                                   absl::Time now) {
  json gpus = json::array();
  for (const auto& g : worker.gpus) {
    gpus.push_back({{"index", g.index},
                    {"name", g.name},
                    {"memory_total_mib", g.memory_total_mib},
                    {"memory_used_mib", g.memory_used_mib},
                    {"utilization_percent", g.utilization_percent},
                    {"uuid", g.uuid}});
  }
  const json labels = worker.labels;
  return Transact<int64_t>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return ExecPrepared1(tx, sql::kRegisterWorker, worker.name, worker.host, gpus.dump(),
                           labels.dump(), worker.version, worker.synthetic,
                           NullIfEmpty(idempotency_key), Timestamp(now),
                           NullIfEmpty(worker.owner))[0]
        .as<int64_t>();
  });
}

absl::StatusOr<std::string> PgJobStore::WorkerOwner(int64_t worker_id) {
  return Transact<std::string>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<std::string> {
    const pqxx::result rows = ExecPrepared(tx, sql::kWorkerOwner, worker_id);
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("worker_id: no worker ", worker_id));
    }
    return rows[0][0].is_null() ? std::string() : rows[0][0].as<std::string>();
  });
}

absl::StatusOr<std::optional<scheduler::JobStore::LeaseHolder>> PgJobStore::LeaseHolderOf(
    int64_t job_id) {
  using Result = std::optional<LeaseHolder>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const pqxx::result rows = ExecPrepared(tx, sql::kLeaseHolderOwner, job_id);
    if (rows.empty()) return Result();
    return Result(LeaseHolder{
        .worker_id = rows[0][0].as<int64_t>(),
        .owner = rows[0][1].is_null() ? std::string() : rows[0][1].as<std::string>()});
  });
}

absl::StatusOr<std::optional<scheduler::LeasedJob>> PgJobStore::Lease(
    const scheduler::LeaseRequest& request, absl::Time now) {
  using Result = std::optional<scheduler::LeasedJob>;
  return HotTransact<Result>([&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const pqxx::result worker = ExecPrepared(tx, sql::kWorkerLabelsAndGpus, request.worker_id);
    if (worker.empty()) {
      return absl::NotFoundError(
          absl::StrCat("worker_id: no worker ", request.worker_id, "; register again"));
    }
    auto memory = SmallestFreeGpuMemoryGib(worker[0][1].as<std::string>(),
                                           request.free_gpu_indices);
    if (!memory.ok()) return memory.status();
    int64_t job_id = 0;
    if (!request.idempotency_key.empty()) {
      ExecPrepared(tx, sql::kLockLeaseKey, request.worker_id, request.idempotency_key);
      const pqxx::result held =
          ExecPrepared(tx, sql::kFindLeaseByKey, request.worker_id, request.idempotency_key);
      if (!held.empty()) job_id = held[0][0].as<int64_t>();
    }
    if (job_id == 0) {
      const pqxx::result leased = ExecPrepared(
          tx, sql::kLeaseJob, request.worker_id, static_cast<int>(request.free_gpu_indices.size()),
          *memory, worker[0][0].as<std::string>(), Timestamp(now), Millis(request.ttl),
          NullIfEmpty(request.idempotency_key), request.artifact_root);
      if (leased.empty()) return Result();
      job_id = leased[0][0].as<int64_t>();
      ExecPrepared(tx, sql::kMarkSweepServed, leased[0][1].as<int64_t>(), Timestamp(now));
      RecordJobEvent(tx, "job.leased", job_id, {{"worker_id", request.worker_id}});
    }
    auto job = LoadJob(tx, job_id);
    if (!job.ok()) return job.status();
    const pqxx::row r = ExecPrepared1(tx, sql::kSelectLeasedJob, job_id);
    scheduler::LeasedJob leased;
    leased.job = std::move(*job);
    leased.lease = {.job_id = job_id, .fencing_token = r[0].as<int64_t>()};
    leased.expires_at = FromMicros(r[1]);
    leased.command = CommandFromJson(r[2].as<std::string>());
    leased.init_checkpoint_uri = r[3].as<std::string>();
    leased.resume_checkpoint_uri = r[4].as<std::string>();
    leased.code_version = r[5].as<std::string>();
    leased.policy = r[6].as<std::string>();
    leased.task = r[7].as<std::string>();
    leased.gpus = r[8].as<int>();
    leased.min_gpu_memory_gib = r[9].as<double>();
    if (const int64_t seconds = r[10].as<int64_t>(); seconds > 0) {
      leased.deadline = absl::Seconds(seconds);
    }
    if (r[11].as<std::string>() == "generate") {
      leased.generated_dataset_uri = std::move(leased.init_checkpoint_uri);
      leased.init_checkpoint_uri.clear();
    }
    leased.checkpoint_steps = ParseIds(r[12].as<std::string>());
    if (const int64_t request_id = r[13].as<int64_t>(); request_id > 0) {
      leased.init_checkpoint_uri.clear();  // its dependency is the training job
      leased.evaluation = scheduler::EvaluationTask{.request_id = request_id,
                                                    .scenario = r[14].as<std::string>(),
                                                    .checkpoint_uri = r[15].as<std::string>(),
                                                    .n_episodes = r[16].as<int>(),
                                                    .checkpoint_step = r[17].as<int64_t>()};
    }
    return Result(std::move(leased));
  });
}

absl::StatusOr<std::vector<scheduler::LeaseState>> PgJobStore::Heartbeat(
    int64_t worker_id, const std::vector<LeaseRef>& leases, bool draining, absl::Duration ttl,
    absl::Time now) {
  using Result = std::vector<scheduler::LeaseState>;
  std::vector<int64_t> ids, tokens;
  for (const LeaseRef& l : leases) {
    ids.push_back(l.job_id);
    tokens.push_back(l.fencing_token);
  }
  return HotTransact<Result>([&](pqxx::work& tx) -> absl::StatusOr<Result> {
    if (ExecPrepared(tx, sql::kTouchWorker, worker_id, draining, Timestamp(now)).empty()) {
      return absl::NotFoundError(
          absl::StrCat("worker_id: no worker ", worker_id, "; register again"));
    }
    std::map<int64_t, scheduler::LeaseState> extended;
    for (const auto& row : ExecPrepared(tx, sql::kExtendLeases, worker_id, BigintArray(ids),
                                          BigintArray(tokens), Timestamp(now), Millis(ttl))) {
      extended[row[0].as<int64_t>()] = {.valid = true,
                                        .cancel_requested = row[1].as<bool>(),
                                        .expires_at = FromMicros(row[2])};
    }
    Result states;
    for (const LeaseRef& l : leases) {
      auto it = extended.find(l.job_id);
      states.push_back(it == extended.end() ? scheduler::LeaseState{} : it->second);
    }
    return states;
  });
}

absl::StatusOr<scheduler::LeaseState> PgJobStore::ReportProgress(
    const scheduler::ProgressReport& report, absl::Duration ttl, absl::Time now) {
  using Result = scheduler::LeaseState;
  return HotTransact<Result>([&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const pqxx::result rows = ExecPrepared(
        tx, sql::kReportProgress, report.lease.job_id, report.lease.fencing_token, report.started,
        NullIfEmpty(report.progress_json), NullIfEmpty(report.provenance_json),
        Timestamp(now), Millis(ttl));
    if (rows.empty()) return StaleLease(report.lease);
    if (report.started) RecordJobEvent(tx, "job.running", report.lease.job_id, json::object());
    return Result{.valid = true,
                  .cancel_requested = rows[0][0].as<bool>(),
                  .expires_at = FromMicros(rows[0][1])};
  });
}

absl::StatusOr<int64_t> PgJobStore::AppendLog(const LeaseRef& lease, int64_t offset,
                                              const std::string& data, int64_t keep_bytes,
                                              absl::Time) {
  return Transact<int64_t>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    const pqxx::result rows = ExecPrepared(tx, sql::kLeaseAttempt, lease.job_id, lease.fencing_token);
    if (rows.empty()) return StaleLease(lease);
    const int attempt = rows[0][0].as<int>();
    ExecPrepared(tx, sql::kInsertLogChunk, lease.job_id, lease.fencing_token, attempt, offset,
                   pqxx::binarystring(data));
    ExecPrepared(tx, sql::kTrimLog, lease.job_id, lease.fencing_token, keep_bytes);
    return offset + static_cast<int64_t>(data.size());
  });
}

absl::StatusOr<scheduler::CompletionResult> PgJobStore::Complete(
    const scheduler::Completion& completion, absl::Time now) {
  using Result = scheduler::CompletionResult;
  const LeaseRef& lease = completion.lease;
  return HotTransact<Result>([&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const auto job = LockJob(tx, lease.job_id);
    if (!job) return absl::NotFoundError(absl::StrCat("no job ", lease.job_id));
    // The same completion again (its answer was lost): answer it again.
    if (job->state == "succeeded" && job->fencing_token == lease.fencing_token) {
      return Result{.replayed = true};
    }
    if (!HoldsLease(*job, lease)) return StaleLease(lease);
    // What the job's kind needs is checked before anything is written.
    if (absl::Status s = CheckCompletionFitsJob(*job, completion); !s.ok()) return s;
    json detail = {{"checkpoint_uri", completion.checkpoint_uri},
                   {"gpu_seconds", completion.gpu_seconds}};
    if (job->kind == "evaluate") {
      // The episodes become trials through the operators' path, in this
      // transaction: the job succeeds exactly when its trials are stored.
      absl::StatusOr<trial_rows::StoredTrials> stored = StoreEpisodes(tx, *job, completion);
      if (!stored.ok()) return stored.status();
      detail["trial_ids"] = stored->ids;
      detail["request_id"] = job->evaluation_request_id;
    }
    if (job->kind == "generate") {
      const GenerationReport& g = *completion.generation;
      ExecPrepared(tx, sql::kInsertGeneration, lease.job_id, completion.checkpoint_uri,
                     g.num_success, g.num_attempts, g.seconds);
      detail["generation"] = {{"num_success", g.num_success},
                              {"num_attempts", g.num_attempts},
                              {"seconds", g.seconds}};
    }
    ExecPrepared(tx, sql::kMarkSucceeded, lease.job_id, completion.checkpoint_uri,
                   completion.gpu_seconds, NullIfEmpty(completion.provenance_json),
                   NullIfEmpty(completion.final_metrics_json), Timestamp(now));
    Result result;
    for (const auto& row : ExecPrepared(tx, sql::kUnblockDependents, lease.job_id)) {
      result.unblocked_job_ids.push_back(row[0].as<int64_t>());
    }
    ExecPrepared(tx, sql::kSetRunCheckpoint, lease.job_id, completion.checkpoint_uri);
    json steps = json::array();
    for (const scheduler::StepCheckpoint& c : completion.step_checkpoints) {
      steps.push_back({{"step", c.step}, {"uri", c.uri}});
    }
    std::vector<int64_t> requests;
    for (const auto& row : ExecPrepared(tx, sql::kQueueEvaluations, lease.job_id,
                                          completion.checkpoint_uri, job->steps, steps.dump())) {
      requests.push_back(row[0].as<int64_t>());
    }
    // Evaluate jobs are ready at once: for the worker they are unblocked.
    int evaluate_jobs = 0;
    for (const auto& row :
         ExecPrepared(tx, sql::kInsertEvaluateJobs, lease.job_id, BigintArray(requests))) {
      result.unblocked_job_ids.push_back(row[0].as<int64_t>());
      ++evaluate_jobs;
    }
    detail["unblocked"] = result.unblocked_job_ids;
    detail["evaluations_queued"] = requests.size();
    detail["evaluate_jobs_queued"] = evaluate_jobs;
    RecordJobEvent(tx, "job.succeeded", lease.job_id, detail);
    CompleteSweepIfDone(tx, lease.job_id);
    return result;
  });
}

absl::StatusOr<scheduler::FailureResult> PgJobStore::Fail(const scheduler::Failure& failure,
                                                          const scheduler::RetryPolicy& policy,
                                                          absl::Time now) {
  using Result = scheduler::FailureResult;
  const LeaseRef& lease = failure.lease;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const auto job = LockJob(tx, lease.job_id);
    if (!job) return absl::NotFoundError(absl::StrCat("no job ", lease.job_id));
    // The same failure again (its answer was lost): its effect is stored.
    if (job->fencing_token == lease.fencing_token && job->failure_by == "fail" &&
        job->failure_token == std::to_string(lease.fencing_token) &&
        (job->state == "queued" || job->state == "failed" || job->state == "cancelled")) {
      const bool will_retry = job->state == "queued";
      return Result{.will_retry = will_retry,
                    .retry_at = will_retry ? job->not_before : absl::InfinitePast(),
                    .replayed = true};
    }
    if (!HoldsLease(*job, lease)) return StaleLease(lease);
    const std::string failure_json = FailureJson("fail", failure.kind, failure.message,
                                                 failure.exit_code, failure.signal,
                                                 lease.fencing_token);
    if (job->cancel_requested) {
      ExecPrepared(tx, sql::kEndJob, lease.job_id, failure_json, failure.gpu_seconds,
                     Timestamp(now), "cancelled");
      RecordJobEvent(tx, "job.cancelled", lease.job_id, json::object());
      CompleteSweepIfDone(tx, lease.job_id);
      return Result{};
    }
    const scheduler::RetryDecision decision = policy.Decide(
        {.attempts = job->attempts, .max_attempts = job->max_attempts,
         .retryable = failure.retryable});
    if (decision.retry) {
      const absl::Time retry_at = now + decision.delay;
      ExecPrepared(tx, sql::kRequeueAfterFailure, lease.job_id, failure_json,
                     failure.gpu_seconds, Timestamp(retry_at));
      RecordJobEvent(tx, "job.retrying", lease.job_id,
                     {{"kind", failure.kind}, {"attempts", job->attempts},
                      {"delay_ms", absl::ToInt64Milliseconds(decision.delay)}});
      return Result{.will_retry = true, .retry_at = retry_at};
    }
    ExecPrepared(tx, sql::kEndJob, lease.job_id, failure_json, failure.gpu_seconds,
                   Timestamp(now), "failed");
    RecordJobEvent(tx, "job.failed", lease.job_id,
                   {{"kind", failure.kind}, {"attempts", job->attempts},
                    {"retryable", failure.retryable}});
    FailDependents(tx, lease.job_id, now);
    CompleteSweepIfDone(tx, lease.job_id);
    return Result{};
  });
}

absl::Status PgJobStore::HandBackJob(const scheduler::HandBack& hand_back, absl::Time now) {
  const LeaseRef& lease = hand_back.lease;
  return RunTransaction(pool_, [&](pqxx::work& tx) -> absl::Status {
    const auto job = LockJob(tx, lease.job_id);
    if (!job) return absl::NotFoundError(absl::StrCat("no job ", lease.job_id));
    if (job->fencing_token == lease.fencing_token && job->failure_by == "hand_back" &&
        job->failure_token == std::to_string(lease.fencing_token) &&
        (job->state == "queued" || job->state == "cancelled")) {
      return absl::OkStatus();  // handed back already; the answer was lost
    }
    if (!HoldsLease(*job, lease)) return StaleLease(lease);
    const pqxx::row r = ExecPrepared1(tx, sql::kHandBack, lease.job_id,
                                        NullIfEmpty(hand_back.resume_checkpoint_uri),
                                        hand_back.gpu_seconds, Timestamp(now));
    RecordJobEvent(tx, r[0].as<std::string>() == "cancelled" ? "job.cancelled" : "job.handed_back",
                   lease.job_id, {{"reason", HandBackReasonName(hand_back.reason)}});
    return absl::OkStatus();
  });
}

absl::StatusOr<scheduler::ExpiryResult> PgJobStore::ExpireLeases(
    absl::Time now, absl::Duration worker_ttl, const scheduler::RetryPolicy& policy) {
  using Result = scheduler::ExpiryResult;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result result;
    // Past the deadline first: a job that overran fails, whatever its lease.
    for (const auto& row : ExecPrepared(tx, sql::kSelectPastDeadline, Timestamp(now))) {
      const int64_t id = row[0].as<int64_t>();
      ExecPrepared(tx, sql::kEndJob, id,
                     FailureJson("deadline", "deadline_exceeded",
                                 absl::StrCat("ran past its deadline of ", row[2].as<int64_t>(),
                                              " s"),
                                 0, 0, row[1].as<int64_t>()),
                     0.0, Timestamp(now), "failed");
      RecordJobEvent(tx, "job.failed", id, {{"kind", "deadline_exceeded"}});
      FailDependents(tx, id, now);
      CompleteSweepIfDone(tx, id);
      ++result.failed;
    }
    for (const auto& row : ExecPrepared(tx, sql::kSelectExpiredLeases, Timestamp(now))) {
      const int64_t id = row[0].as<int64_t>();
      const int attempts = row[1].as<int>();
      const int max_attempts = row[2].as<int>();
      const bool cancel_requested = row[3].as<bool>();
      const int64_t token = row[4].as<int64_t>();
      const std::string failure = FailureJson(
          "expiry", "lease_expired", "the worker stopped heartbeating", 0, 0, token);
      if (cancel_requested) {
        ExecPrepared(tx, sql::kEndJob, id, failure, 0.0, Timestamp(now), "cancelled");
        RecordJobEvent(tx, "job.cancelled", id, json::object());
        CompleteSweepIfDone(tx, id);
        ++result.cancelled;
        continue;
      }
      // The attempt that vanished is counted: a job that kills its worker
      // every time must not be retried forever.
      const scheduler::RetryDecision decision = policy.Decide(
          {.attempts = attempts, .max_attempts = max_attempts, .retryable = true});
      if (decision.retry) {
        ExecPrepared(tx, sql::kRequeueAfterFailure, id, failure, 0.0,
                       Timestamp(now + decision.delay));
        RecordJobEvent(tx, "job.lease_expired", id, {{"attempts", attempts}});
        ++result.requeued;
      } else {
        ExecPrepared(tx, sql::kEndJob, id, failure, 0.0, Timestamp(now), "failed");
        RecordJobEvent(tx, "job.failed", id, {{"kind", "lease_expired"}});
        FailDependents(tx, id, now);
        CompleteSweepIfDone(tx, id);
        ++result.failed;
      }
    }
    result.workers_lost = static_cast<int>(
        ExecPrepared(tx, sql::kMarkLostWorkers, Timestamp(now - worker_ttl)).affected_rows());
    return result;
  });
}

absl::StatusOr<std::vector<scheduler::WorkerRecord>> PgJobStore::ListWorkers(bool include_gone) {
  using Result = std::vector<scheduler::WorkerRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result workers;
    for (const auto& row : ExecPrepared(tx, sql::kListWorkers, include_gone)) {
      scheduler::WorkerRecord w;
      w.id = row[0].as<int64_t>();
      w.name = row[1].as<std::string>();
      w.host = row[2].as<std::string>();
      for (const auto& g : json::parse(row[3].as<std::string>())) {
        w.gpus.push_back({.index = g.value("index", 0),
                          .name = g.value("name", std::string()),
                          .memory_total_mib = g.value("memory_total_mib", int64_t{0}),
                          .memory_used_mib = g.value("memory_used_mib", int64_t{0}),
                          .utilization_percent = g.value("utilization_percent", 0),
                          .uuid = g.value("uuid", std::string())});
      }
      w.labels = json::parse(row[4].as<std::string>()).get<std::map<std::string, std::string>>();
      w.version = row[5].as<std::string>();
      w.synthetic = row[6].as<bool>();
      const std::string state = row[7].as<std::string>();
      w.state = state == "draining" ? scheduler::WorkerState::kDraining
                : state == "lost"   ? scheduler::WorkerState::kLost
                : state == "gone"   ? scheduler::WorkerState::kGone
                                    : scheduler::WorkerState::kAlive;
      w.registered_at = FromMicros(row[8]);
      w.last_heartbeat_at = FromMicros(row[9]);
      w.running_job_ids = ParseIds(row[10].as<std::string>());
      w.owner = row[11].as<std::string>();
      workers.push_back(std::move(w));
    }
    return workers;
  });
}

absl::StatusOr<std::vector<scheduler::LogChunk>> PgJobStore::ReadLog(int64_t job_id,
                                                                     int64_t offset) {
  using Result = std::vector<scheduler::LogChunk>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result chunks;
    for (const auto& row : ExecPrepared(tx, sql::kSelectLog, job_id)) {
      const pqxx::binarystring data(row[2]);
      chunks.push_back({.offset = row[1].as<int64_t>(),
                        .data = std::string(data.str()),
                        .attempt = row[0].as<int>()});
    }
    if (chunks.empty()) return chunks;
    const int64_t end = chunks.back().offset + static_cast<int64_t>(chunks.back().data.size());
    const int64_t from = offset < 0 ? std::max<int64_t>(0, end + offset) : offset;
    Result out;
    for (auto& chunk : chunks) {
      const int64_t chunk_end = chunk.offset + static_cast<int64_t>(chunk.data.size());
      if (chunk_end <= from) continue;
      if (chunk.offset < from) {
        chunk.data.erase(0, static_cast<size_t>(from - chunk.offset));
        chunk.offset = from;
      }
      out.push_back(std::move(chunk));
    }
    return out;
  });
}

}  // namespace mixsweep::db
