#include "scheduler/dispatch/dispatch_service.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "scheduler/dispatch/completion_check.h"

namespace mixsweep::scheduler {
namespace {

absl::Status CheckLease(const LeaseRef& lease) {
  if (lease.job_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease.job_id: ", lease.job_id, " is not a job id"));
  }
  if (lease.fencing_token <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lease.fencing_token: ", lease.fencing_token, " is not a token this server granted"));
  }
  return absl::OkStatus();
}

absl::Status CheckWorkerId(int64_t worker_id) {
  if (worker_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_id: ", worker_id, " is not a worker id; register first"));
  }
  return absl::OkStatus();
}

absl::Status CheckGpuSeconds(double gpu_seconds) {
  if (!(gpu_seconds >= 0) || gpu_seconds > 1e12) {  // also refuses NaN
    return absl::InvalidArgumentError(
        absl::StrCat("gpu_seconds: ", gpu_seconds, " is not a finite, non-negative number"));
  }
  return absl::OkStatus();
}

}  // namespace

void ReadyNotifier::Notify() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

bool ReadyNotifier::WaitFor(absl::Duration timeout) {
  std::unique_lock lock(mu_);
  const uint64_t seen = generation_;
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return generation_ != seen; });
}

DispatchService::DispatchService(JobStore& store, const Clock& clock, DispatchOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<DispatchService::Registration> DispatchService::Register(
    const WorkerRecord& worker, const std::string& idempotency_key) {
  if (worker.name.empty()) return absl::InvalidArgumentError("name: empty; name the worker");
  if (worker.name.size() > 128 || worker.host.size() > 256) {
    return absl::InvalidArgumentError("name/host: longer than 128/256 bytes");
  }
  for (const GpuRecord& gpu : worker.gpus) {
    if (gpu.index < 0 || gpu.memory_total_mib < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("gpus[", gpu.index, "]: negative index or memory"));
    }
  }
  auto id = store_.RegisterWorker(worker, idempotency_key, clock_.Now());
  if (!id.ok()) return id.status();
  return Registration{.worker_id = *id,
                      .heartbeat_interval = options_.heartbeat_interval,
                      .lease_ttl = options_.lease_ttl,
                      .artifact_root = options_.artifact_root};
}

absl::Status DispatchService::CheckWorkerOwner(int64_t worker_id, const std::string& principal) {
  if (auto s = CheckWorkerId(worker_id); !s.ok()) return s;
  std::string owner;
  {
    std::lock_guard lock(owners_mu_);
    if (auto it = owners_.find(worker_id); it != owners_.end()) owner = it->second;
  }
  if (owner.empty()) {
    auto stored = store_.WorkerOwner(worker_id);
    if (!stored.ok()) return stored.status();
    owner = *std::move(stored);
    std::lock_guard lock(owners_mu_);
    if (owners_.size() >= 100000) owners_.clear();  // bounded; refilled on demand
    if (!owner.empty()) owners_[worker_id] = owner;
  }
  if (owner != principal) {
    return absl::PermissionDeniedError(absl::StrCat(
        "worker_id: worker ", worker_id, " was registered by another principal (",
        owner.empty() ? "before authentication" : owner, "); only its own token acts for it"));
  }
  return absl::OkStatus();
}

absl::Status DispatchService::CheckLeaseHolder(int64_t job_id, const std::string& principal) {
  if (job_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("lease.job_id: ", job_id, " is not positive"));
  }
  auto holder = store_.LeaseHolderOf(job_id);
  if (!holder.ok()) return holder.status();
  if (!holder->has_value() || (*holder)->owner == principal) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("lease: job ", job_id,
                                                  " is leased by worker ", (*holder)->worker_id,
                                                  ", which another principal registered"));
}

absl::StatusOr<std::optional<LeasedJob>> DispatchService::Lease(
    LeaseRequest request, absl::Duration wait, const std::function<bool()>& cancelled) {
  if (auto s = CheckWorkerId(request.worker_id); !s.ok()) return s;
  for (int index : request.free_gpu_indices) {
    if (index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("free_gpu_indices: ", index, " is not a GPU index"));
    }
  }
  if (wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("wait: negative");
  }
  request.ttl = options_.lease_ttl;
  request.artifact_root = options_.artifact_root;
  // Waiting is measured on the steady clock: it is about this call, not
  // about lease times.
  const auto deadline = std::chrono::steady_clock::now() +
                        absl::ToChronoMilliseconds(std::min(wait, options_.max_lease_wait));
  while (true) {
    auto leased = store_.Lease(request, clock_.Now());
    if (!leased.ok() || leased->has_value()) return leased;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || (cancelled && cancelled())) return std::optional<LeasedJob>();
    const auto left = absl::FromChrono(deadline - now);
    notifier_.WaitFor(std::min(left, options_.lease_poll_interval));
  }
}

absl::StatusOr<std::vector<LeaseState>> DispatchService::Heartbeat(
    int64_t worker_id, const std::vector<LeaseRef>& leases, bool draining) {
  if (auto s = CheckWorkerId(worker_id); !s.ok()) return s;
  for (const LeaseRef& lease : leases) {
    if (auto s = CheckLease(lease); !s.ok()) return s;
  }
  return store_.Heartbeat(worker_id, leases, draining, options_.lease_ttl, clock_.Now());
}

absl::StatusOr<LeaseState> DispatchService::ReportProgress(const ProgressReport& report) {
  if (auto s = CheckLease(report.lease); !s.ok()) return s;
  return store_.ReportProgress(report, options_.lease_ttl, clock_.Now());
}

absl::StatusOr<int64_t> DispatchService::AppendLog(const LeaseRef& lease, int64_t offset,
                                                   const std::string& data) {
  if (auto s = CheckLease(lease); !s.ok()) return s;
  if (offset < 0) return absl::InvalidArgumentError("offset: negative");
  if (static_cast<int64_t>(data.size()) > options_.max_log_chunk_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: ", data.size(), " bytes in one chunk; at most ", options_.max_log_chunk_bytes));
  }
  return store_.AppendLog(lease, offset, data, options_.log_keep_bytes, clock_.Now());
}

absl::StatusOr<CompletionResult> DispatchService::Complete(const Completion& completion) {
  if (auto s = CheckLease(completion.lease); !s.ok()) return s;
  if (auto s = CheckGpuSeconds(completion.gpu_seconds); !s.ok()) return s;
  if (completion.checkpoint_uri.empty()) {
    return absl::InvalidArgumentError(
        "checkpoint_uri: empty; a job succeeds only with the checkpoint its template names");
  }
  if (auto s = CheckCompletionValues(completion); !s.ok()) return s;
  auto result = store_.Complete(completion, clock_.Now());
  if (result.ok() && !result->unblocked_job_ids.empty()) notifier_.Notify();
  return result;
}

absl::StatusOr<FailureResult> DispatchService::Fail(const Failure& failure) {
  if (auto s = CheckLease(failure.lease); !s.ok()) return s;
  if (auto s = CheckGpuSeconds(failure.gpu_seconds); !s.ok()) return s;
  return store_.Fail(failure, options_.retry, clock_.Now());
}

absl::Status DispatchService::HandBackJob(const HandBack& hand_back) {
  if (auto s = CheckLease(hand_back.lease); !s.ok()) return s;
  if (auto s = CheckGpuSeconds(hand_back.gpu_seconds); !s.ok()) return s;
  absl::Status status = store_.HandBackJob(hand_back, clock_.Now());
  if (status.ok()) notifier_.Notify();
  return status;
}

absl::StatusOr<ExpiryResult> DispatchService::ExpireLeases() {
  auto result = store_.ExpireLeases(clock_.Now(), options_.lease_ttl, options_.retry);
  if (result.ok() && result->requeued > 0) notifier_.Notify();
  return result;
}

absl::StatusOr<std::vector<WorkerRecord>> DispatchService::ListWorkers(bool include_gone) {
  return store_.ListWorkers(include_gone);
}

absl::StatusOr<std::vector<LogChunk>> DispatchService::ReadLog(int64_t job_id, int64_t offset) {
  if (job_id <= 0) return absl::InvalidArgumentError("job_id: not a job id");
  return store_.ReadLog(job_id, offset);
}

}  // namespace mixsweep::scheduler
