// PgSweepStore: the SweepStore (scheduler/sweep_store.h) on PostgreSQL.
//
// A submission is stored in one transaction of a few statements whatever its
// size: the sweep, its first revision, every job (one JSON document through
// jsonb_to_recordset), the dependency links, every run, an event, and the
// idempotency record. Nothing is acknowledged before that commit.
//
// Example:
//   db::ConnectionPool pool(dsn, 8);
//   db::PgSweepStore store(pool);
//   scheduler::SweepService service(store, {});
#pragma once

#include "db/connection_pool.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::db {

// One job with its subset and runs, read inside `tx` (shared with PgJobStore).
absl::StatusOr<scheduler::JobRecord> LoadJob(pqxx::work& tx, int64_t job_id);

class PgSweepStore : public scheduler::SweepStore {
 public:
  explicit PgSweepStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<scheduler::CreateSweepResult> CreateSweep(
      const scheduler::NewSweep& sweep, const scheduler::WriteContext& ctx) override;
  absl::StatusOr<scheduler::SweepRevision> GetRevision(int64_t sweep_id) override;
  absl::StatusOr<scheduler::ExtendSweepResult> ExtendSweep(
      int64_t sweep_id, int expected_revision, const scheduler::NewSweep& updated,
      const scheduler::WriteContext& ctx) override;
  absl::StatusOr<std::optional<scheduler::ExtendSweepResult>> FindExtension(
      int64_t sweep_id, const std::string& spec_yaml,
      const scheduler::WriteContext& ctx) override;
  absl::StatusOr<scheduler::CancelSweepResult> CancelSweep(
      int64_t sweep_id, const std::string& reason,
      const scheduler::WriteContext& ctx) override;
  absl::StatusOr<scheduler::SweepRecord> GetSweep(int64_t sweep_id) override;
  absl::StatusOr<std::vector<scheduler::GenerationRecord>> ListGenerations(
      int64_t sweep_id) override;
  absl::StatusOr<scheduler::SweepPage> ListSweeps(
      const scheduler::SweepFilter& filter) override;
  absl::StatusOr<std::vector<scheduler::RunRecord>> ListRuns(int64_t sweep_id) override;
  absl::StatusOr<std::vector<scheduler::JobRecord>> ListJobs(int64_t sweep_id) override;
  absl::StatusOr<scheduler::JobRecord> GetJob(int64_t job_id) override;
  absl::StatusOr<int64_t> LatestEventId(int64_t sweep_id) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace mixsweep::db
