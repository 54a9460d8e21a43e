// SystemSnapshot: the counts that describe the whole system (every sweep,
// job, worker and trial, whichever replica wrote them), read from the
// database at once, and SystemStatsStore, the interface that reads them.
// The metrics endpoint (services/metrics/) turns a snapshot into Prometheus
// series; nothing here knows of Prometheus or PostgreSQL.
//
// The PostgreSQL implementation is db::PgSystemStatsStore.
//
//   absl::StatusOr<SystemSnapshot> s = store.ReadSnapshot({.estimate_days = 7});
//   int64_t queued = s->jobs_by_kind_state[{"train", "queued"}];
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mixsweep::metrics {

// Upper bounds (Prometheus `le`) of the job histograms. Synthetic jobs last
// seconds, real ones hours to days.
inline const std::vector<double> kJobDurationBoundsSeconds = {
    1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600};
inline const std::vector<double> kJobGpuSecondsBounds = {
    1, 10, 60, 600, 3600, 14400, 28800, 86400, 172800, 345600, 691200, 1382400};

// Job states and kinds as stored (db/migrations/0001_init.sql): every pair
// is reported, zeros included, so that a query for one always has a value.
inline const std::vector<std::string> kJobKinds = {"train", "pretrain", "finetune", "generate",
                                                   "evaluate"};
inline const std::vector<std::string> kJobStates = {"blocked",   "queued", "leased",   "running",
                                                    "succeeded", "failed", "cancelled"};
inline const std::vector<std::string> kSweepStates = {"active", "completed", "cancelled"};
inline const std::vector<std::string> kRequestStates = {"open", "complete", "cancelled"};
inline const std::vector<std::string> kWorkerStates = {"alive", "draining", "lost", "gone"};

// Values grouped into the buckets of a histogram: `counts[i]` values were
// <= bounds[i] and above bounds[i-1]; counts[bounds.size()] were above all.
struct BucketCounts {
  std::vector<int64_t> counts;  // bounds.size() + 1 entries
  double sum = 0.0;
  int64_t total() const {
    int64_t n = 0;
    for (int64_t c : counts) n += c;
    return n;
  }
};

// An active sweep's progress.
struct SweepActivity {
  int64_t sweep_id = 0;
  std::map<std::string, int64_t> jobs_by_state;
  int64_t requests = 0;           // evaluation requests not cancelled
  int64_t requests_complete = 0;
  // The last job success, trial, submission or extension.
  std::optional<absl::Time> last_progress;
};

struct SystemSnapshot {
  std::map<std::pair<std::string, std::string>, int64_t> jobs_by_kind_state;  // (kind, state)
  std::map<std::string, int64_t> sweeps_by_state;
  std::vector<SweepActivity> active_sweeps;  // by sweep id
  std::map<std::string, int64_t> requests_by_state;
  std::map<std::string, int64_t> workers_by_state;
  int64_t gpus_total = 0;  // of alive and draining workers
  int64_t gpus_busy = 0;   // held by their leased or running jobs
  // Append-only event counts by kind ("job.leased", "job.lease_expired",
  // "job.retrying", "job.failed").
  std::map<std::string, int64_t> events_by_kind;
  // Succeeded jobs by kind: wall time (start to completion) and GPU-seconds.
  std::map<std::string, BucketCounts> job_duration_seconds;
  std::map<std::string, BucketCounts> job_gpu_seconds;
  int64_t trials_recorded = 0;   // originals
  int64_t trial_corrections = 0;
  // Sweeps whose estimates are exported: active, or completed recently.
  std::vector<int64_t> estimate_sweep_ids;
};

struct SnapshotOptions {
  // A completed sweep's estimates stay exported for this many days.
  int estimate_days = 7;
};

class SystemStatsStore {
 public:
  virtual ~SystemStatsStore() = default;
  // One consistent read (a single snapshot of the database). UNAVAILABLE
  // when the database cannot be reached.
  virtual absl::StatusOr<SystemSnapshot> ReadSnapshot(const SnapshotOptions& options) = 0;
};

}  // namespace mixsweep::metrics
