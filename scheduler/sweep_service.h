// SweepService: the logic behind submitting, extending, reading and
// cancelling sweeps. It knows specs, plans and a SweepStore; it knows
// nothing of gRPC or SQL (services/api adapts it to gRPC, db/ implements
// the store).
//
// Example:
//   db::PgSweepStore store(pool);
//   scheduler::SweepService sweeps(store, {.limits = {.max_runs = 10000}});
//   auto submitted = sweeps.Submit(yaml, /*validate_only=*/false,
//                                  {.principal = "alice", .idempotency_key = "k1"});
//   // submitted->runs == 18, submitted->jobs == 21 for Pick Dual Bottles.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/records.h"
#include "scheduler/spec/spec_parser.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::scheduler {

struct SubmitResult {
  int64_t sweep_id = 0;  // 0 for validate_only
  int runs = 0;
  int jobs = 0;
  bool replayed = false;
};

struct ExtendResult {
  int64_t sweep_id = 0;
  int runs_added = 0;
  int jobs_added = 0;
  bool replayed = false;
};

struct SweepDetail {
  SweepRecord sweep;
  std::vector<RunRecord> runs;
  std::vector<JobRecord> jobs;
};

class SweepService {
 public:
  struct Options {
    spec::SpecLimits limits;
    // Times an extension re-reads and retries after losing a race with a
    // concurrent extension (ABORTED from the store).
    int extend_attempts = 3;
  };

  SweepService(SweepStore& store, Options options);

  // INVALID_ARGUMENT for a bad spec (every problem, with field and line);
  // nothing is stored then.
  absl::StatusOr<SubmitResult> Submit(std::string_view spec_yaml,
                                      bool validate_only,
                                      const WriteContext& ctx);

  // INVALID_ARGUMENT when the new spec is not a pure addition to the stored
  // one; FAILED_PRECONDITION when the sweep is cancelled; PERMISSION_DENIED
  // when the caller neither owns the sweep nor acts for anyone (Cancel too).
  absl::StatusOr<ExtendResult> Extend(int64_t sweep_id,
                                      std::string_view spec_yaml,
                                      bool validate_only,
                                      const WriteContext& ctx);

  absl::StatusOr<CancelSweepResult> Cancel(int64_t sweep_id,
                                           const std::string& reason,
                                           const WriteContext& ctx);

  absl::StatusOr<SweepDetail> Get(int64_t sweep_id, bool include_runs,
                                  bool include_jobs);

  absl::StatusOr<SweepPage> List(const SweepFilter& filter);

  absl::StatusOr<JobRecord> GetJob(int64_t job_id);

  // A marker that changes whenever something about the sweep happens.
  absl::StatusOr<int64_t> LatestEventId(int64_t sweep_id) {
    return store_.LatestEventId(sweep_id);
  }

  // The stored spec of a sweep, parsed (for API responses that show it).
  absl::StatusOr<spec::SweepSpec> StoredSpec(const std::string& spec_yaml) const;

 private:
  absl::Status CheckOwner(int64_t sweep_id, const WriteContext& ctx);
  // A spec that names `baseline_from_sweep` must name a sweep of the same
  // task, policy and protocol that has its own baseline.
  absl::Status CheckNamedBaseline(const spec::SweepSpec& spec);

  SweepStore& store_;
  Options options_;
};

}  // namespace mixsweep::scheduler
