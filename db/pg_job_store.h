// PgJobStore: the JobStore (scheduler/dispatch/job_store.h) on PostgreSQL.
//
// Leasing is one UPDATE ... FROM (SELECT ... FOR NO KEY UPDATE SKIP LOCKED) per
// grant, so any number of mixsweepd replicas can lease from one database
// and two workers never hold the same job. Every report checks the fencing
// token under a row lock in the same transaction that applies it.
//
// With a GroupCommitter, leases, heartbeats and completions (the calls every
// worker makes for every job) share transactions with those of other workers
// that arrive at the same time; every other call commits on its own.
//
// Example:
//   db::GroupCommitter committer(pool, {});
//   db::PgJobStore jobs(pool, &committer);  // or PgJobStore(pool): no batching
//   scheduler::DispatchService dispatch(jobs, clock, options);
#pragma once

#include <functional>

#include "db/connection_pool.h"
#include "db/group_commit.h"
#include "scheduler/dispatch/job_store.h"

namespace mixsweep::db {

class PgJobStore : public scheduler::JobStore {
 public:
  explicit PgJobStore(ConnectionPool& pool, GroupCommitter* committer = nullptr)
      : pool_(pool), committer_(committer) {}

  absl::StatusOr<int64_t> RegisterWorker(const scheduler::WorkerRecord& worker,
                                         const std::string& idempotency_key,
                                         absl::Time now) override;
  absl::StatusOr<std::optional<scheduler::LeasedJob>> Lease(
      const scheduler::LeaseRequest& request, absl::Time now) override;
  absl::StatusOr<std::vector<scheduler::LeaseState>> Heartbeat(
      int64_t worker_id, const std::vector<scheduler::LeaseRef>& leases, bool draining,
      absl::Duration ttl, absl::Time now) override;
  absl::StatusOr<scheduler::LeaseState> ReportProgress(const scheduler::ProgressReport& report,
                                                       absl::Duration ttl,
                                                       absl::Time now) override;
  absl::StatusOr<int64_t> AppendLog(const scheduler::LeaseRef& lease, int64_t offset,
                                    const std::string& data, int64_t keep_bytes,
                                    absl::Time now) override;
  absl::StatusOr<scheduler::CompletionResult> Complete(const scheduler::Completion& completion,
                                                       absl::Time now) override;
  absl::StatusOr<scheduler::FailureResult> Fail(const scheduler::Failure& failure,
                                                const scheduler::RetryPolicy& policy,
                                                absl::Time now) override;
  absl::Status HandBackJob(const scheduler::HandBack& hand_back, absl::Time now) override;
  absl::StatusOr<scheduler::ExpiryResult> ExpireLeases(
      absl::Time now, absl::Duration worker_ttl, const scheduler::RetryPolicy& policy) override;
  absl::StatusOr<std::vector<scheduler::WorkerRecord>> ListWorkers(bool include_gone) override;
  absl::StatusOr<std::string> WorkerOwner(int64_t worker_id) override;
  absl::StatusOr<std::optional<LeaseHolder>> LeaseHolderOf(int64_t job_id) override;
  absl::StatusOr<std::vector<scheduler::LogChunk>> ReadLog(int64_t job_id,
                                                           int64_t offset) override;

 private:
  // The hot path's transactions: through the group committer when there is one.
  template <typename T>
  absl::StatusOr<T> HotTransact(const std::function<absl::StatusOr<T>(pqxx::work&)>& body) {
    return committer_ != nullptr ? committer_->Transact<T>(body) : Transact<T>(pool_, body);
  }

  ConnectionPool& pool_;
  GroupCommitter* committer_;  // may be null
};

}  // namespace mixsweep::db
