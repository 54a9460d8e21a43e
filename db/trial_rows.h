// Trials and evaluation requests as rows, shared by the two stores that
// write trials: PgEvaluationStore (an operator's RecordTrials) and
// PgJobStore (an evaluate job's completion). Both store new trials through
// StoreTrials, so a simulated episode passes the same checks, marks the
// same estimates stale and completes its request the same way as a trial
// an operator records.
//
// Lock order, everywhere: the job row (job store only), then the request
// (LockRequestForTrials), then the scenario's trial lock.
//
// Example (inside a transaction):
//   std::optional<LockedRequest> locked = LockRequestForTrials(tx, request_id);
//   if (!locked) return absl::NotFoundError(...);
//   absl::StatusOr<StoredTrials> stored =
//       StoreTrials(tx, request_id, *locked, scored, /*simulated=*/true, principal);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/evaluation/evaluation_store.h"

namespace mixsweep::db::trial_rows {

absl::Time FromMicros(const pqxx::field& f);
std::string BigintArray(const std::vector<int64_t>& values);
std::vector<int64_t> ParseBigintArray(absl::string_view text);  // "{1,2}" -> ids

evaluation::RobotRecord RobotFromRow(const pqxx::row& row);
// A row of MIXSWEEP_REQUEST_SELECT.
evaluation::RequestRecord RequestFromRow(const pqxx::row& row);
// A row of MIXSWEEP_TRIAL_COLUMNS.
evaluation::TrialRecord TrialFromRow(const pqxx::row& row);
// One element of kInsertTrials' JSON array.
nlohmann::json TrialJson(const evaluation::ScoredTrial& trial);

absl::StatusOr<std::vector<evaluation::TrialRecord>> TrialsByIds(
    pqxx::work& tx, const std::vector<int64_t>& ids);
absl::StatusOr<evaluation::RequestRecord> SelectRequest(pqxx::work& tx, int64_t request_id);

// A request locked for a trial write, with its scenario's trial lock held.
struct LockedRequest {
  std::string state;  // open, complete, cancelled
  std::string scenario;
  int trials_wanted = 0;
  bool simulated = false;  // evaluated by a job
};
std::optional<LockedRequest> LockRequestForTrials(pqxx::work& tx, int64_t request_id);

// Inserts the trials and returns their ids (no checks; see StoreTrials).
std::vector<int64_t> InsertTrials(pqxx::work& tx, int64_t request_id,
                                  const std::vector<evaluation::ScoredTrial>& trials,
                                  bool simulated, const std::string& recorded_by,
                                  const char* supersedes, const char* reason);
// Marks the estimates the request's trials feed as stale.
void MarkStale(pqxx::work& tx, const evaluation::RequestRecord& request,
               int64_t trigger_trial_id);
// After a request completed: the sweep completes if nothing is left to do.
void CompleteSweepIfDone(pqxx::work& tx, int64_t sweep_id);

struct StoredTrials {
  std::vector<int64_t> ids;
  bool request_complete = false;
  evaluation::RequestRecord request;
};

// New trials of a locked request: FAILED_PRECONDITION unless the request is
// open, is evaluated the way `simulated` says (operators never write a
// simulation request, jobs never a robot one) and none of the indices is
// recorded yet. Stores them, marks the estimates stale, completes the
// request with its last trial, and logs a trials.recorded event.
absl::StatusOr<StoredTrials> StoreTrials(pqxx::work& tx, int64_t request_id,
                                         const LockedRequest& locked,
                                         const std::vector<evaluation::ScoredTrial>& trials,
                                         bool simulated, const std::string& recorded_by);

}  // namespace mixsweep::db::trial_rows
