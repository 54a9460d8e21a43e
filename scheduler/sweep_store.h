// SweepStore: where sweeps and their job graphs live.
//
// The scheduler's logic (SweepService) talks to this interface; the
// PostgreSQL implementation is db::PgSweepStore. Every write is one
// transaction: when a method returns OK, the change is committed.
//
// Errors, chosen by what the caller should do:
//   NOT_FOUND            no such sweep or job;
//   ABORTED              a concurrent change won (e.g. the sweep's revision
//                        moved on): re-read and retry the whole operation;
//   FAILED_PRECONDITION  the state forbids it (e.g. extending a cancelled
//                        sweep); do not retry;
//   INVALID_ARGUMENT     an idempotency key reused with a different request;
//   UNAVAILABLE          the database cannot be reached: retry the call.
//
// Idempotency: writes take (principal, idempotency_key). A key seen before
// under the same method returns the first write's result with replayed=true
// and writes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/expansion/sweep_plan.h"
#include "scheduler/records.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::scheduler {

struct WriteContext {
  std::string principal;        // who asks; becomes the owner of a new sweep
  std::string idempotency_key;  // empty: not retried safely
  // An admin: may change sweeps that other principals own.
  bool acts_for_anyone = false;
};

// A spec with (part of) its plan, to store.
struct NewSweep {
  const spec::SweepSpec* spec = nullptr;
  std::string spec_yaml;
  const plan::SweepPlan* plan = nullptr;
};

struct CreateSweepResult {
  int64_t sweep_id = 0;
  bool replayed = false;
};

struct ExtendSweepResult {
  int runs_added = 0;
  int jobs_added = 0;
  bool replayed = false;
};

struct CancelSweepResult {
  int jobs_cancelled = 0;  // blocked or queued, stopped now
  int jobs_stopping = 0;   // leased or running, asked to stop
  bool replayed = false;
};

struct SweepFilter {
  std::string owner;                // empty: any
  std::string task;                 // empty: any
  std::vector<SweepState> states;   // empty: any
  int page_size = 50;
  int64_t before_id = 0;            // keyset paging: ids below this; 0: newest
};

struct SweepPage {
  std::vector<SweepRecord> sweeps;  // newest first
  int64_t next_before_id = 0;       // 0: no more
};

// The stored revision of a sweep, for read-modify-write extension.
struct SweepRevision {
  int revision = 0;
  SweepState state = SweepState::kActive;
  std::string spec_yaml;
};

class SweepStore {
 public:
  virtual ~SweepStore() = default;

  virtual absl::StatusOr<CreateSweepResult> CreateSweep(
      const NewSweep& sweep, const WriteContext& ctx) = 0;

  virtual absl::StatusOr<SweepRevision> GetRevision(int64_t sweep_id) = 0;

  // Stores `updated.spec_yaml` as revision `expected_revision + 1` and adds
  // `updated.plan` (only the runs and jobs not yet stored). ABORTED if the
  // stored revision is no longer `expected_revision`. New finetunes may
  // depend on stored pretrains, by key.
  virtual absl::StatusOr<ExtendSweepResult> ExtendSweep(
      int64_t sweep_id, int expected_revision, const NewSweep& updated,
      const WriteContext& ctx) = 0;

  // The result of an extension already stored under ctx's idempotency key
  // (replayed = true), or nullopt. A retry must find its first answer before
  // planning: against the extended revision it would add nothing.
  virtual absl::StatusOr<std::optional<ExtendSweepResult>> FindExtension(
      int64_t sweep_id, const std::string& spec_yaml, const WriteContext& ctx) = 0;

  virtual absl::StatusOr<CancelSweepResult> CancelSweep(
      int64_t sweep_id, const std::string& reason, const WriteContext& ctx) = 0;

  virtual absl::StatusOr<SweepRecord> GetSweep(int64_t sweep_id) = 0;
  virtual absl::StatusOr<SweepPage> ListSweeps(const SweepFilter& filter) = 0;
  virtual absl::StatusOr<std::vector<RunRecord>> ListRuns(int64_t sweep_id) = 0;
  virtual absl::StatusOr<std::vector<JobRecord>> ListJobs(int64_t sweep_id) = 0;
  // The sweep's generate jobs and what their generators reported (also in
  // GetSweep, which reads every run besides).
  virtual absl::StatusOr<std::vector<GenerationRecord>> ListGenerations(int64_t sweep_id) = 0;
  virtual absl::StatusOr<JobRecord> GetJob(int64_t job_id) = 0;

  // Id of the newest event about the sweep (0: none): a cheap change marker
  // for WatchSweep.
  virtual absl::StatusOr<int64_t> LatestEventId(int64_t sweep_id) = 0;
};

}  // namespace mixsweep::scheduler
