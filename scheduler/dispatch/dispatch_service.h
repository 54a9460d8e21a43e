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
  // How often a waiting LeaseJob looks again when not woken: jobs made
  // ready by another replica are seen within this time.
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
};

}  // namespace mixsweep::scheduler
