// PgEvaluationStore: the EvaluationStore (scheduler/evaluation/
// evaluation_store.h) on PostgreSQL.
//
// A trial write locks its request row, then serializes the trials of its
// scenario (an advisory lock), checks the request is open and the indices
// new, inserts the trials, completes the request with its last trial and
// marks the estimates stale: all in one transaction.
//
// Example:
//   db::PgEvaluationStore evaluations(pool);
//   evaluation::EvaluationService service(evaluations, specs, wakeup);
#pragma once

#include "db/connection_pool.h"
#include "scheduler/evaluation/evaluation_store.h"

namespace mixsweep::db {

class PgEvaluationStore : public evaluation::EvaluationStore {
 public:
  explicit PgEvaluationStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<evaluation::RobotRecord> RegisterRobot(
      const evaluation::RobotRecord& robot, const scheduler::WriteContext& ctx) override;
  absl::StatusOr<std::vector<evaluation::RobotRecord>> ListRobots() override;
  absl::StatusOr<evaluation::RobotRecord> GetRobot(const std::string& robot_id) override;
  absl::StatusOr<std::optional<evaluation::BatchRecord>> OpenBatchOf(
      const std::string& robot_id) override;
  absl::StatusOr<std::vector<evaluation::OpenRequest>> ListUnbatched(
      int64_t sweep_id, const std::string& platform) override;
  absl::StatusOr<evaluation::BatchRecord> AssignBatch(
      const std::string& robot_id, const std::string& operator_name,
      const evaluation::BatchCandidate& batch, const std::vector<int64_t>& blind_order) override;
  absl::StatusOr<evaluation::RequestRecord> GetRequest(int64_t request_id) override;
  absl::StatusOr<evaluation::RequestRecord> FindRequestByLabel(const std::string& label) override;
  absl::StatusOr<evaluation::RecordTrialsResult> RecordTrials(
      int64_t request_id, const std::vector<evaluation::ScoredTrial>& trials, bool simulated,
      const scheduler::WriteContext& ctx) override;
  absl::StatusOr<evaluation::TrialRecord> CorrectTrial(
      int64_t trial_id, const evaluation::ScoredTrial& corrected, const std::string& reason,
      const scheduler::WriteContext& ctx) override;
  absl::StatusOr<evaluation::TrialRecord> GetTrial(int64_t trial_id) override;
  absl::StatusOr<std::vector<evaluation::ResultRecord>> ListResults(
      const evaluation::ResultFilter& filter) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace mixsweep::db
