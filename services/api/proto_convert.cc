#include "services/api/proto_convert.h"

#include <google/protobuf/util/json_util.h>

namespace mixsweep::api {
namespace v1 = mixsweep::v1;

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  if (time == absl::InfinitePast()) return;
  // Floor, not truncate: a Timestamp's nanos are never negative, also
  // before 1970.
  const absl::Time whole_seconds = absl::Floor(time - absl::UnixEpoch(), absl::Seconds(1)) +
                                   absl::UnixEpoch();
  out->set_seconds(absl::ToUnixSeconds(whole_seconds));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(time - whole_seconds)));
}

v1::SweepState ToProto(scheduler::SweepState state) {
  switch (state) {
    case scheduler::SweepState::kActive: return v1::SWEEP_STATE_ACTIVE;
    case scheduler::SweepState::kCompleted: return v1::SWEEP_STATE_COMPLETED;
    case scheduler::SweepState::kCancelled: return v1::SWEEP_STATE_CANCELLED;
  }
  return v1::SWEEP_STATE_UNSPECIFIED;
}

scheduler::SweepState FromProto(v1::SweepState state) {
  switch (state) {
    case v1::SWEEP_STATE_COMPLETED: return scheduler::SweepState::kCompleted;
    case v1::SWEEP_STATE_CANCELLED: return scheduler::SweepState::kCancelled;
    default: return scheduler::SweepState::kActive;
  }
}

v1::JobState ToProto(scheduler::JobState state) {
  using S = scheduler::JobState;
  switch (state) {
    case S::kBlocked: return v1::JOB_STATE_BLOCKED;
    case S::kQueued: return v1::JOB_STATE_QUEUED;
    case S::kLeased: return v1::JOB_STATE_LEASED;
    case S::kRunning: return v1::JOB_STATE_RUNNING;
    case S::kSucceeded: return v1::JOB_STATE_SUCCEEDED;
    case S::kFailed: return v1::JOB_STATE_FAILED;
    case S::kCancelled: return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

v1::RunState ToProto(scheduler::RunState state) {
  using S = scheduler::RunState;
  switch (state) {
    case S::kPending: return v1::RUN_STATE_PENDING;
    case S::kTraining: return v1::RUN_STATE_TRAINING;
    case S::kTrained: return v1::RUN_STATE_TRAINED;
    case S::kEvaluated: return v1::RUN_STATE_EVALUATED;
    case S::kFailed: return v1::RUN_STATE_FAILED;
    case S::kCancelled: return v1::RUN_STATE_CANCELLED;
  }
  return v1::RUN_STATE_UNSPECIFIED;
}

v1::JobKind ToProto(plan::JobKind kind) {
  switch (kind) {
    case plan::JobKind::kTrain: return v1::JOB_KIND_TRAIN;
    case plan::JobKind::kPretrain: return v1::JOB_KIND_PRETRAIN;
    case plan::JobKind::kFinetune: return v1::JOB_KIND_FINETUNE;
    case plan::JobKind::kGenerate: return v1::JOB_KIND_GENERATE;
    case plan::JobKind::kEvaluate: return v1::JOB_KIND_EVALUATE;
  }
  return v1::JOB_KIND_UNSPECIFIED;
}

v1::SourceKind ToProto(spec::SourceKind kind) {
  return kind == spec::SourceKind::kHumanVideo ? v1::SOURCE_KIND_HUMAN_VIDEO
                                               : v1::SOURCE_KIND_SIMULATION;
}

namespace {

v1::JobFailure::Kind FailureKindFromName(const std::string& kind) {
  if (kind == "exit_code") return v1::JobFailure::KIND_EXIT_CODE;
  if (kind == "signal") return v1::JobFailure::KIND_SIGNAL;
  if (kind == "checkpoint_missing") return v1::JobFailure::KIND_CHECKPOINT_MISSING;
  if (kind == "deadline_exceeded") return v1::JobFailure::KIND_DEADLINE_EXCEEDED;
  if (kind == "lease_expired") return v1::JobFailure::KIND_LEASE_EXPIRED;
  if (kind == "dependency_failed") return v1::JobFailure::KIND_DEPENDENCY_FAILED;
  if (kind == "start_failed") return v1::JobFailure::KIND_START_FAILED;
  if (kind == "bad_result") return v1::JobFailure::KIND_BAD_RESULT;
  return v1::JobFailure::KIND_UNSPECIFIED;
}

void ToProto(const spec::Dataset& dataset, v1::DatasetRef* out) {
  out->set_uri(dataset.uri);
  out->set_content_hash(dataset.content_hash);
  out->set_episodes(dataset.episodes);
}

v1::SourceKind SourceKindFromName(const std::string& name) {
  if (name == "simulation") return v1::SOURCE_KIND_SIMULATION;
  if (name == "human_video") return v1::SOURCE_KIND_HUMAN_VIDEO;
  if (name == "teleop") return v1::SOURCE_KIND_TELEOP;
  return v1::SOURCE_KIND_UNSPECIFIED;
}

void ToProto(const scheduler::SweepCounts& counts, v1::SweepCounts* out) {
  out->set_runs_total(counts.runs_total);
  for (const auto& [state, n] : counts.runs_by_state) {
    (*out->mutable_runs_by_state())[v1::RunState_Name(api::ToProto(state))] = n;
  }
  out->set_jobs_total(counts.jobs_total);
  for (const auto& [state, n] : counts.jobs_by_state) {
    (*out->mutable_jobs_by_state())[v1::JobState_Name(api::ToProto(state))] = n;
  }
  for (const auto& [kind, n] : counts.jobs_by_kind) {
    (*out->mutable_jobs_by_kind())[v1::JobKind_Name(api::ToProto(kind))] = n;
  }
}

}  // namespace

void ToProto(const spec::Rubric& rubric, v1::Rubric* out) {
  out->set_kind(rubric.kind == spec::RubricKind::kItems ? v1::RUBRIC_KIND_ITEMS
                                                        : v1::RUBRIC_KIND_MILESTONES);
  for (const spec::RubricEntry& entry : rubric.entries) {
    v1::RubricEntry* e = out->add_entries();
    e->set_name(entry.name);
    e->set_value(entry.value);
  }
}

void ToProto(const scheduler::SweepRecord& record, const spec::SweepSpec& spec,
             v1::Sweep* out) {
  out->set_id(record.id);
  out->set_name(record.name);
  out->set_owner(record.owner);
  out->set_state(ToProto(record.state));
  out->set_task(spec.task.name);
  out->set_policy(spec.policy);
  out->set_code_version(spec.code_version);
  out->set_priority(spec.priority);
  out->set_revision(record.revision);
  ToProto(record.created_at, out->mutable_created_at());
  ToProto(record.updated_at, out->mutable_updated_at());
  ToProto(record.counts, out->mutable_counts());
  for (int64_t n : spec.teleop.n_tele) out->add_n_tele(n);
  ToProto(spec.teleop.dataset, out->mutable_teleop_dataset());
  out->set_teleop_cost_per_demo_hours(spec.teleop.cost_per_demo_hours);
  for (const spec::Source& source : spec.sources) {
    v1::SourceSummary* s = out->add_sources();
    s->set_name(source.name);
    s->set_kind(ToProto(source.kind));
    ToProto(source.dataset, s->mutable_dataset());
    s->set_cost_per_demo_hours(source.cost_per_demo_hours);
    for (int64_t n : source.n_nt) s->add_n_nt(n);
    if (!source.generate) continue;
    s->set_generated(true);
    s->set_generate_demos(source.generate->demos);
    ToProto(source.generate->from, s->mutable_generate_from());
    for (const scheduler::GenerationRecord& g : record.generations) {
      if (g.source != source.name) continue;
      v1::GenerationResult* r = s->mutable_generation();
      r->set_job_id(g.job_id);
      r->set_state(ToProto(g.state));
      r->set_dataset_uri(g.dataset_uri);
      r->set_num_success(g.num_success);
      r->set_num_attempts(g.num_attempts);
      r->set_success_rate(g.success_rate());
      r->set_seconds(g.seconds);
      r->set_measured_cost_per_demo_hours(g.measured_cost_per_demo_hours());
    }
  }
  for (int64_t seed : spec.seeds) out->add_seeds(seed);
  out->set_total_steps(spec.protocol.total_steps);
  out->set_pretrain_steps(spec.protocol.pretrain_steps);
  out->set_finetune_steps(spec.protocol.finetune_steps);
  for (const spec::Scenario& scenario : spec.evaluation.scenarios) {
    v1::Scenario* s = out->add_scenarios();
    s->set_name(scenario.name);
    s->set_trials(scenario.trials);
    s->set_platform(scenario.platform);
    if (scenario.evaluator == spec::Evaluator::kSimulation && scenario.simulation) {
      s->set_evaluator(v1::Scenario::EVALUATOR_SIMULATION);
      s->set_result_format(scenario.simulation->command.result_format);
      s->set_seed(scenario.simulation->seed);
    } else {
      s->set_evaluator(v1::Scenario::EVALUATOR_ROBOT);
    }
  }
  out->set_design(spec::DesignName(spec.design));
  out->set_aggregation(spec::AggregationName(spec.evaluation.aggregation));
  ToProto(spec.task.rubric, out->mutable_rubric());
  out->set_max_attempts(spec.max_attempts);
  out->set_baseline_from_sweep(spec.baseline_from_sweep.value_or(0));
  out->set_spec_yaml(record.spec_yaml);
  out->set_cancel_reason(record.cancel_reason);
}

void ToProto(const scheduler::RunRecord& run, v1::Run* out) {
  out->set_id(run.id);
  out->set_sweep_id(run.sweep_id);
  out->set_key(run.key);
  out->set_n_tele(run.run.n_tele);
  out->set_source(run.run.source);
  out->set_source_kind(SourceKindFromName(run.source_kind));
  out->set_n_nt(run.run.n_nt);
  out->set_seed(run.run.seed);
  out->set_state(ToProto(run.state));
  out->set_train_job_id(run.train_job_id);
  out->set_pretrain_job_id(run.pretrain_job_id);
  out->set_finetune_job_id(run.finetune_job_id);
  out->set_checkpoint_uri(run.checkpoint_uri);
  out->set_revision_added(run.revision_added);
}

void ToProto(const scheduler::JobRecord& job, v1::Job* out) {
  out->set_id(job.id);
  out->set_sweep_id(job.sweep_id);
  out->set_key(job.key);
  out->set_kind(ToProto(job.kind));
  out->set_state(ToProto(job.state));
  out->set_source(job.source);
  ToProto(job.dataset, out->mutable_dataset());
  out->set_n_demos(job.n_demos);
  out->set_seed(job.seed);
  out->set_steps(job.steps);
  out->set_depends_on_job_id(job.depends_on_job_id);
  for (int64_t id : job.run_ids) out->add_run_ids(id);
  out->set_attempts(job.attempts);
  out->set_max_attempts(job.max_attempts);
  out->set_priority(job.priority);
  if (job.lease_worker_id != 0) {
    v1::Lease* lease = out->mutable_lease();
    lease->set_worker_id(job.lease_worker_id);
    lease->set_fencing_token(job.fencing_token);
    if (job.lease_expires_at) ToProto(*job.lease_expires_at, lease->mutable_expires_at());
  }
  out->set_cancel_requested(job.cancel_requested);
  out->set_output_uri(job.output_uri);
  out->set_checkpoint_uri(job.checkpoint_uri);
  // A hand-back is recorded where failures are (to recognise a repeated
  // report) but it is not a failure.
  if ((!job.failure_kind.empty() || !job.failure_message.empty()) &&
      job.failure_kind != "handed_back") {
    v1::JobFailure* failure = out->mutable_failure();
    failure->set_kind(FailureKindFromName(job.failure_kind));
    failure->set_message(job.failure_message);
    failure->set_exit_code(job.failure_exit_code);
    failure->set_signal(job.failure_signal);
  }
  if (job.not_before) ToProto(*job.not_before, out->mutable_not_before());
  // Stored as the worker sent them; a row that no longer parses is shown
  // without them rather than failing the whole read.
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  if (!job.progress_json.empty()) {
    (void)google::protobuf::util::JsonStringToMessage(job.progress_json,
                                                      out->mutable_progress(), lenient);
  }
  if (!job.provenance_json.empty()) {
    (void)google::protobuf::util::JsonStringToMessage(job.provenance_json,
                                                      out->mutable_provenance(), lenient);
  }
  out->set_gpu_seconds(job.gpu_seconds);
  ToProto(job.created_at, out->mutable_created_at());
  if (job.started_at) ToProto(*job.started_at, out->mutable_started_at());
  if (job.finished_at) ToProto(*job.finished_at, out->mutable_finished_at());
  for (int64_t e : job.subset_episodes) out->add_subset_episodes(e);
}

}  // namespace mixsweep::api
