#include "scheduler/sweep_service.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "scheduler/expansion/expansion.h"

namespace mixsweep::scheduler {

SweepService::SweepService(SweepStore& store, Options options)
    : store_(store), options_(std::move(options)) {}

absl::StatusOr<spec::SweepSpec> SweepService::StoredSpec(
    const std::string& spec_yaml) const {
  // Stored specs were valid when stored; parse them without the quotas,
  // which may have been lowered since, and without value rules added since.
  auto parsed = spec::ParseSweepSpec(spec_yaml, spec::SpecLimits::ForStoredSpecs());
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("a stored spec no longer parses: ", parsed.status().message()));
  }
  return std::move(parsed->spec);
}

absl::Status SweepService::CheckNamedBaseline(const spec::SweepSpec& spec) {
  if (!spec.baseline_from_sweep) return absl::OkStatus();
  const int64_t other_id = *spec.baseline_from_sweep;
  auto revision = store_.GetRevision(other_id);
  if (absl::IsNotFound(revision.status())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "baseline_from_sweep: there is no sweep ", other_id));
  }
  if (!revision.ok()) return revision.status();
  auto other = StoredSpec(revision->spec_yaml);
  if (!other.ok()) return other.status();

  const auto mismatch = [&](const std::string& what, const std::string& ours,
                            const std::string& theirs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "baseline_from_sweep: sweep ", other_id, " has ", what, " '", theirs,
        "', this sweep has '", ours, "'; a baseline must share task, policy and protocol"));
  };
  if (other->task.name != spec.task.name) return mismatch("task", spec.task.name, other->task.name);
  if (other->policy != spec.policy) return mismatch("policy", spec.policy, other->policy);
  // A scaling sweep's runs train T_total steps on the source alone: they
  // compare with the baseline's teleop-only runs, which train T_total too.
  if (spec.design == spec::Design::kScaling) {
    if (other->protocol.total_steps != spec.protocol.total_steps) {
      return mismatch("protocol (total steps)", absl::StrCat(spec.protocol.total_steps),
                      absl::StrCat(other->protocol.total_steps));
    }
  } else {
    const auto protocol = [](const spec::Protocol& p) {
      return absl::StrCat(p.total_steps, "/", p.pretrain_steps, "/", p.finetune_steps);
    };
    if (protocol(other->protocol) != protocol(spec.protocol)) {
      return mismatch("protocol (total/pretrain/finetune steps)", protocol(spec.protocol),
                      protocol(other->protocol));
    }
  }
  if (!other->has_own_baseline()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "baseline_from_sweep: sweep ", other_id,
        " has no teleop-only runs of its own (no source lists n_nt 0)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SubmitResult> SweepService::Submit(std::string_view spec_yaml,
                                                  bool validate_only,
                                                  const WriteContext& ctx) {
  auto parsed = spec::ParseSweepSpec(spec_yaml, options_.limits);
  if (!parsed.ok()) return parsed.status();
  if (auto s = CheckNamedBaseline(parsed->spec); !s.ok()) return s;

  const plan::SweepPlan plan = plan::ExpandSweep(parsed->spec);
  SubmitResult result{.runs = static_cast<int>(plan.runs.size()),
                      .jobs = static_cast<int>(plan.jobs.size())};
  if (validate_only) return result;

  auto created = store_.CreateSweep(
      NewSweep{.spec = &parsed->spec, .spec_yaml = std::string(spec_yaml), .plan = &plan},
      ctx);
  if (!created.ok()) return created.status();
  result.sweep_id = created->sweep_id;
  result.replayed = created->replayed;
  return result;
}

absl::StatusOr<ExtendResult> SweepService::Extend(int64_t sweep_id,
                                                  std::string_view spec_yaml,
                                                  bool validate_only,
                                                  const WriteContext& ctx) {
  auto updated = spec::ParseSweepSpec(spec_yaml, options_.limits);
  if (!updated.ok()) return updated.status();
  if (auto s = CheckOwner(sweep_id, ctx); !s.ok()) return s;
  if (!ctx.idempotency_key.empty() && !validate_only) {
    auto earlier = store_.FindExtension(sweep_id, std::string(spec_yaml), ctx);
    if (!earlier.ok()) return earlier.status();
    if (earlier->has_value()) {
      ExtendResult result{.sweep_id = sweep_id,
                          .runs_added = (*earlier)->runs_added,
                          .jobs_added = (*earlier)->jobs_added,
                          .replayed = true};
      return result;
    }
  }

  absl::Status last_error;
  // At least one try, whatever the configuration says.
  for (int attempt = 0; attempt < std::max(1, options_.extend_attempts); ++attempt) {
    auto revision = store_.GetRevision(sweep_id);
    if (!revision.ok()) return revision.status();
    if (revision->state == SweepState::kCancelled) {
      return absl::FailedPreconditionError(
          absl::StrCat("sweep ", sweep_id, " is cancelled; submit a new sweep instead"));
    }
    auto stored = StoredSpec(revision->spec_yaml);
    if (!stored.ok()) return stored.status();
    auto added = plan::PlanExtension(*stored, updated->spec);
    if (!added.ok()) return added.status();

    ExtendResult result{.sweep_id = sweep_id,
                        .runs_added = static_cast<int>(added->runs.size()),
                        .jobs_added = static_cast<int>(added->jobs.size())};
    if (validate_only) return result;

    auto extended = store_.ExtendSweep(
        sweep_id, revision->revision,
        NewSweep{.spec = &updated->spec, .spec_yaml = std::string(spec_yaml), .plan = &*added},
        ctx);
    if (extended.ok()) {
      result.runs_added = extended->runs_added;
      result.jobs_added = extended->jobs_added;
      result.replayed = extended->replayed;
      return result;
    }
    // Another extension committed first: plan again against its revision.
    if (!absl::IsAborted(extended.status())) return extended.status();
    last_error = extended.status();
  }
  return last_error;
}

absl::StatusOr<CancelSweepResult> SweepService::Cancel(int64_t sweep_id,
                                                       const std::string& reason,
                                                       const WriteContext& ctx) {
  if (auto s = CheckOwner(sweep_id, ctx); !s.ok()) return s;
  return store_.CancelSweep(sweep_id, reason, ctx);
}

absl::Status SweepService::CheckOwner(int64_t sweep_id, const WriteContext& ctx) {
  if (ctx.acts_for_anyone) return absl::OkStatus();
  // The owner never changes once the sweep exists: no race with the write.
  auto sweep = store_.GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  if (sweep->owner == ctx.principal) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("sweep_id: sweep ", sweep_id, " belongs to ",
                                                  sweep->owner,
                                                  "; only its owner or an admin may change it"));
}

absl::StatusOr<SweepDetail> SweepService::Get(int64_t sweep_id, bool include_runs,
                                              bool include_jobs) {
  SweepDetail detail;
  auto sweep = store_.GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  detail.sweep = std::move(*sweep);
  if (include_runs) {
    auto runs = store_.ListRuns(sweep_id);
    if (!runs.ok()) return runs.status();
    detail.runs = std::move(*runs);
  }
  if (include_jobs) {
    auto jobs = store_.ListJobs(sweep_id);
    if (!jobs.ok()) return jobs.status();
    detail.jobs = std::move(*jobs);
  }
  return detail;
}

absl::StatusOr<SweepPage> SweepService::List(const SweepFilter& filter) {
  return store_.ListSweeps(filter);
}

absl::StatusOr<JobRecord> SweepService::GetJob(int64_t job_id) {
  return store_.GetJob(job_id);
}

}  // namespace mixsweep::scheduler
