// DispatchService: the logic behind the worker API. It validates reports,
// long-polls the store for leases, applies the retry policy and wakes
// waiting workers when jobs become ready; it knows nothing of gRPC or SQL.
//
// Example:
//   scheduler::DispatchService dispatch(job_store, clock, {.artifact_root = "file:///nfs/art"});
//   auto id = dispatch.Register(worker, "key-1");
//   auto lease = dispatch.Lease({.worker_id = *id, .free_gpus = 1}, absl::Seconds(20),
//                               [&] { return context->IsCancelled(); });
//   dispatch.Complete({.lease = lease->lease, .checkpoint_uri = "..."});
//   // a finetune waiting for this pretrain is now queued, and waiting
//   // LeaseJob calls are woken
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/job_store.h"
#include "scheduler/dispatch/retry_policy.h"

namespace mixsweep::scheduler {

struct DispatchOptions {
  absl::Duration lease_ttl = absl::Seconds(60);
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // The longest a LeaseJob call waits for a job.
  absl::Duration max_lease_wait = absl::Seconds(30);
  // How often a waiting LeaseJob looks again when not woken: the fallback
  // for a wake-up missed (a notification lost while mixsweepd's listener
  // reconnected) or never sent (a retry's backoff running out).
  absl::Duration lease_poll_interval = absl::Milliseconds(250);
  std::string artifact_root = "file:///var/lib/mixsweep/artifacts";
  RetryPolicy retry;
  int64_t log_keep_bytes = 1 << 20;  // the last MiB of each job's log
  int64_t max_log_chunk_bytes = 1 << 20;
};

// Wakes LeaseJob calls waiting in this process when a job may have become
// ready (submission, completion, retry, hand-back, expiry).
class ReadyNotifier {
 public:
  void Notify();
  // Waits until notified or `timeout`; returns true if notified.
  bool WaitFor(absl::Duration timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
};

class DispatchService {
 public:
  DispatchService(JobStore& store, const Clock& clock, DispatchOptions options);

  struct Registration {
    int64_t worker_id = 0;
    absl::Duration heartbeat_interval;
    absl::Duration lease_ttl;
    std::string artifact_root;
  };
  absl::StatusOr<Registration> Register(const WorkerRecord& worker,
                                        const std::string& idempotency_key);

  // Waits up to min(wait, max_lease_wait) for a job; nullopt when none came
  // or `cancelled()` turned true.
  absl::StatusOr<std::optional<LeasedJob>> Lease(LeaseRequest request, absl::Duration wait,
                                                 const std::function<bool()>& cancelled);

  // Row-level access for worker tokens: PERMISSION_DENIED unless
  // `principal` registered `worker_id` (NOT_FOUND for an unknown worker).
  absl::Status CheckWorkerOwner(int64_t worker_id, const std::string& principal);
  // PERMISSION_DENIED when the job's lease is held by a worker that
  // `principal` did not register. A job nobody holds passes: the report is
  // then refused by its fencing token, as before.
  absl::Status CheckLeaseHolder(int64_t job_id, const std::string& principal);

  absl::StatusOr<std::vector<LeaseState>> Heartbeat(int64_t worker_id,
                                                    const std::vector<LeaseRef>& leases,
                                                    bool draining);
  absl::StatusOr<LeaseState> ReportProgress(const ProgressReport& report);
  absl::StatusOr<int64_t> AppendLog(const LeaseRef& lease, int64_t offset,
                                    const std::string& data);
  absl::StatusOr<CompletionResult> Complete(const Completion& completion);
  absl::StatusOr<FailureResult> Fail(const Failure& failure);
  absl::Status HandBackJob(const HandBack& hand_back);

  // One pass of the expiry loop (mixsweepd runs it every few seconds).
  absl::StatusOr<ExpiryResult> ExpireLeases();

  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers(bool include_gone);
  absl::StatusOr<std::vector<LogChunk>> ReadLog(int64_t job_id, int64_t offset);

  // Tell waiting workers that jobs may be ready (e.g. a sweep was submitted).
  void NotifyJobsReady() { notifier_.Notify(); }

  const DispatchOptions& options() const { return options_; }

 private:
  JobStore& store_;
  const Clock& clock_;
  DispatchOptions options_;
  ReadyNotifier notifier_;
  // Worker id -> owner: an owner never changes, so one read per worker.
  std::mutex owners_mu_;
  std::unordered_map<int64_t, std::string> owners_;  // guarded by owners_mu_
};

}  // namespace mixsweep::scheduler
