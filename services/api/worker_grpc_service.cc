#include "services/api/worker_grpc_service.h"

#include <string>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "scheduler/expansion/subset.h"
#include "services/api/proto_convert.h"
#include "services/api/request_limits.h"
#include "services/api/status_convert.h"

namespace mixsweep::api {
namespace v1 = mixsweep::v1;
namespace {

scheduler::LeaseRef FromProto(const v1::LeaseRef& lease) {
  return {.job_id = lease.job_id(), .fencing_token = lease.fencing_token()};
}

void ToProto(const scheduler::LeaseRef& lease, v1::LeaseRef* out) {
  out->set_job_id(lease.job_id);
  out->set_fencing_token(lease.fencing_token);
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// A message as compact JSON, for columns that keep it as it came.
std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string FailureKindName(v1::JobFailure::Kind kind) {
  switch (kind) {
    case v1::JobFailure::KIND_EXIT_CODE: return "exit_code";
    case v1::JobFailure::KIND_SIGNAL: return "signal";
    case v1::JobFailure::KIND_CHECKPOINT_MISSING: return "checkpoint_missing";
    case v1::JobFailure::KIND_DEADLINE_EXCEEDED: return "deadline_exceeded";
    case v1::JobFailure::KIND_LEASE_EXPIRED: return "lease_expired";
    case v1::JobFailure::KIND_DEPENDENCY_FAILED: return "dependency_failed";
    case v1::JobFailure::KIND_START_FAILED: return "start_failed";
    case v1::JobFailure::KIND_BAD_RESULT: return "bad_result";
    default: return "unspecified";
  }
}

scheduler::HandBackReason FromProto(v1::HandBackJobRequest::Reason reason) {
  switch (reason) {
    case v1::HandBackJobRequest::REASON_PREEMPTED: return scheduler::HandBackReason::kPreempted;
    case v1::HandBackJobRequest::REASON_CANCELLED: return scheduler::HandBackReason::kCancelled;
    default: return scheduler::HandBackReason::kShutdown;
  }
}

constexpr size_t kMaxMessageBytes = 64 * 1024;

}  // namespace

void ToProto(const scheduler::LeasedJob& leased, v1::LeaseJobResponse* out) {
  v1::JobSpec* spec = out->mutable_spec();
  ToProto(leased.job, spec->mutable_job());
  for (const std::string& arg : leased.command.argv) spec->add_argv(arg);
  spec->set_shell(leased.command.shell);
  for (const auto& [k, v] : leased.command.env) (*spec->mutable_env())[k] = v;
  spec->set_checkpoint_template(leased.command.checkpoint.empty() ? "{output_dir}"
                                                                  : leased.command.checkpoint);
  for (int code : leased.command.no_retry_exit_codes) spec->add_no_retry_exit_codes(code);
  spec->set_progress_pattern(leased.command.progress_pattern);
  spec->set_output_uri(leased.job.output_uri);
  spec->set_init_checkpoint_uri(leased.init_checkpoint_uri);
  spec->set_resume_checkpoint_uri(leased.resume_checkpoint_uri);
  // A generated source's job reads what its generate job made.
  if (!leased.generated_dataset_uri.empty()) {
    spec->mutable_job()->mutable_dataset()->set_uri(leased.generated_dataset_uri);
  }
  spec->set_result_file_template(leased.command.result_file);
  spec->set_result_format(leased.command.result_format);
  spec->set_checkpoint_at_step_template(leased.command.checkpoint_at_step);
  for (int64_t step : leased.checkpoint_steps) spec->add_checkpoint_steps(step);
  if (leased.evaluation) {
    v1::EvaluationTask* task = spec->mutable_evaluation();
    task->set_request_id(leased.evaluation->request_id);
    task->set_scenario(leased.evaluation->scenario);
    task->set_checkpoint_uri(leased.evaluation->checkpoint_uri);
    task->set_n_episodes(leased.evaluation->n_episodes);
    task->set_checkpoint_step(leased.evaluation->checkpoint_step);
  }
  plan::SubsetManifest manifest{.dataset_uri = spec->job().dataset().uri(),
                                .dataset_hash = leased.job.dataset.content_hash,
                                .n = leased.job.n_demos,
                                .seed = leased.job.seed,
                                .episodes = leased.job.subset_episodes};
  spec->set_subset_manifest_json(plan::SubsetManifestJson(manifest));
  spec->set_subset_manifest_uri(leased.job.output_uri + "/subset_manifest.json");
  spec->set_gpus(leased.gpus);
  spec->set_min_gpu_memory_gib(leased.min_gpu_memory_gib);
  if (leased.deadline) ToProto(*leased.deadline, spec->mutable_deadline());
  spec->set_code_version(leased.code_version);
  spec->set_policy(leased.policy);
  spec->set_task(leased.task);
  spec->set_run_id(leased.job.run_ids.empty() ? 0 : leased.job.run_ids.front());
  // The worker has the episodes in the manifest; the job message stays small.
  spec->mutable_job()->clear_subset_episodes();
  ToProto(leased.lease, out->mutable_lease());
  api::ToProto(leased.expires_at, out->mutable_expires_at());
}

absl::Status WorkerGrpcService::MayActForWorker(const grpc::ServerContext* context,
                                                int64_t worker_id) const {
  auto caller = callers_.Of(context);
  if (!caller.ok()) return caller.status();
  return dispatch_.CheckWorkerOwner(worker_id, caller->principal);
}

absl::Status WorkerGrpcService::MayReportOn(const grpc::ServerContext* context,
                                            const v1::LeaseRef& lease) const {
  auto caller = callers_.Of(context);
  if (!caller.ok()) return caller.status();
  return dispatch_.CheckLeaseHolder(lease.job_id(), caller->principal);
}

grpc::Status WorkerGrpcService::RegisterWorker(grpc::ServerContext* context,
                                               const v1::RegisterWorkerRequest* request,
                                               v1::RegisterWorkerResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  auto caller = callers_.Of(context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  scheduler::WorkerRecord worker;
  worker.owner = caller->principal;
  worker.name = request->name();
  worker.host = request->host();
  worker.version = request->version();
  worker.synthetic = request->synthetic();
  for (const auto& [k, v] : request->labels()) worker.labels[k] = v;
  for (const v1::Gpu& gpu : request->gpus()) {
    worker.gpus.push_back({.index = gpu.index(),
                           .name = gpu.name(),
                           .memory_total_mib = gpu.memory_total_mib(),
                           .memory_used_mib = gpu.memory_used_mib(),
                           .utilization_percent = gpu.utilization_percent(),
                           .uuid = gpu.uuid()});
  }
  // Keys are the caller's own: another principal's key names another worker.
  const std::string key = request->idempotency_key().empty()
                              ? std::string()
                              : absl::StrCat(caller->principal, "/", request->idempotency_key());
  auto registration = dispatch_.Register(worker, key);
  if (!registration.ok()) return ToGrpcStatus(registration.status());
  response->set_worker_id(registration->worker_id);
  ToProto(registration->heartbeat_interval, response->mutable_heartbeat_interval());
  ToProto(registration->lease_ttl, response->mutable_lease_ttl());
  response->set_artifact_root(registration->artifact_root);
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayActForWorker(context, request->worker_id()); !s.ok()) return ToGrpcStatus(s);
  std::vector<scheduler::LeaseRef> leases;
  for (const auto& lease : request->leases()) leases.push_back(FromProto(lease));
  auto states = dispatch_.Heartbeat(request->worker_id(), leases, request->draining());
  if (!states.ok()) return ToGrpcStatus(states.status());
  for (size_t i = 0; i < leases.size(); ++i) {
    v1::LeaseStatus* status = response->add_leases();
    ToProto(leases[i], status->mutable_lease());
    status->set_valid((*states)[i].valid);
    status->set_cancel_requested((*states)[i].cancel_requested);
    if ((*states)[i].valid) api::ToProto((*states)[i].expires_at, status->mutable_expires_at());
  }
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::LeaseJob(grpc::ServerContext* context,
                                         const v1::LeaseJobRequest* request,
                                         v1::LeaseJobResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (request->idempotency_key().size() > 128) {
    return ToGrpcStatus(absl::InvalidArgumentError("idempotency_key: longer than 128 bytes"));
  }
  if (auto s = MayActForWorker(context, request->worker_id()); !s.ok()) return ToGrpcStatus(s);
  scheduler::LeaseRequest lease{
      .worker_id = request->worker_id(),
      .free_gpu_indices = {request->free_gpu_indices().begin(),
                           request->free_gpu_indices().end()},
      .idempotency_key = request->idempotency_key()};
  auto leased = dispatch_.Lease(lease, FromProto(request->wait()),
                                [context] { return context->IsCancelled(); });
  if (!leased.ok()) return ToGrpcStatus(leased.status());
  // A worker that gave up waiting just as this grant committed asks again
  // under the same idempotency key and gets this lease back (it changes its
  // key only after an answer), so nothing is handed back here.
  if (!leased->has_value()) return grpc::Status::OK;
  ToProto(**leased, response);
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::ReportProgress(grpc::ServerContext* context,
                                               const v1::ReportProgressRequest* request,
                                               v1::ReportProgressResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayReportOn(context, request->lease()); !s.ok()) return ToGrpcStatus(s);
  scheduler::ProgressReport report{.lease = FromProto(request->lease()),
                                   .started = request->started()};
  if (request->has_progress()) report.progress_json = ToJson(request->progress());
  if (request->has_provenance()) report.provenance_json = ToJson(request->provenance());
  if (report.progress_json.size() > kMaxMessageBytes ||
      report.provenance_json.size() > kMaxMessageBytes) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("progress/provenance: larger than ", kMaxMessageBytes, " bytes")));
  }
  auto state = dispatch_.ReportProgress(report);
  if (!state.ok()) return ToGrpcStatus(state.status());
  response->set_cancel_requested(state->cancel_requested);
  api::ToProto(state->expires_at, response->mutable_lease_expires_at());
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::AppendLog(grpc::ServerContext* context,
                                          const v1::AppendLogRequest* request,
                                          v1::AppendLogResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayReportOn(context, request->lease()); !s.ok()) return ToGrpcStatus(s);
  auto stored = dispatch_.AppendLog(FromProto(request->lease()), request->offset(),
                                    request->data());
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  response->set_stored_through(*stored);
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::CompleteJob(grpc::ServerContext* context,
                                            const v1::CompleteJobRequest* request,
                                            v1::CompleteJobResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayReportOn(context, request->lease()); !s.ok()) return ToGrpcStatus(s);
  auto caller = callers_.Of(context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  scheduler::Completion completion{.lease = FromProto(request->lease()),
                                   .checkpoint_uri = request->checkpoint_uri(),
                                   .gpu_seconds = request->gpu_seconds(),
                                   .principal = caller->principal};
  for (const v1::SimulatedEpisode& e : request->episodes()) {
    completion.episodes.push_back({.index = e.index(),
                                   .success = e.success(),
                                   .score = e.score(),
                                   .seed = e.seed(),
                                   .sum_reward = e.sum_reward(),
                                   .max_reward = e.max_reward(),
                                   .has_rewards = e.has_rewards()});
  }
  if (request->has_generation()) {
    completion.generation = scheduler::GenerationReport{
        .num_success = request->generation().num_success(),
        .num_attempts = request->generation().num_attempts(),
        .seconds = request->generation().seconds()};
  }
  for (const v1::StepCheckpoint& c : request->step_checkpoints()) {
    completion.step_checkpoints.push_back({.step = c.step(), .uri = c.uri()});
  }
  if (request->has_provenance()) completion.provenance_json = ToJson(request->provenance());
  if (!request->final_metrics().empty()) {
    v1::JobProgress metrics;
    for (const auto& [k, v] : request->final_metrics()) (*metrics.mutable_metrics())[k] = v;
    completion.final_metrics_json = ToJson(metrics);
  }
  auto result = dispatch_.Complete(completion);
  if (!result.ok()) return ToGrpcStatus(result.status());
  for (int64_t id : result->unblocked_job_ids) response->add_unblocked_job_ids(id);
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::FailJob(grpc::ServerContext* context,
                                        const v1::FailJobRequest* request,
                                        v1::FailJobResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayReportOn(context, request->lease()); !s.ok()) return ToGrpcStatus(s);
  const v1::JobFailure& f = request->failure();
  if (f.message().size() > kMaxMessageBytes) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("failure.message: larger than ", kMaxMessageBytes, " bytes")));
  }
  auto result = dispatch_.Fail({.lease = FromProto(request->lease()),
                                .kind = FailureKindName(f.kind()),
                                .exit_code = f.exit_code(),
                                .signal = f.signal(),
                                .message = f.message(),
                                .retryable = f.retryable(),
                                .gpu_seconds = request->gpu_seconds()});
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_will_retry(result->will_retry);
  if (result->will_retry) api::ToProto(result->retry_at, response->mutable_retry_at());
  return grpc::Status::OK;
}

grpc::Status WorkerGrpcService::HandBackJob(grpc::ServerContext* context,
                                            const v1::HandBackJobRequest* request,
                                            v1::HandBackJobResponse*) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayReportOn(context, request->lease()); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(dispatch_.HandBackJob({.lease = FromProto(request->lease()),
                                             .reason = FromProto(request->reason()),
                                             .resume_checkpoint_uri = request->resume_checkpoint_uri(),
                                             .gpu_seconds = request->gpu_seconds()}));
}

grpc::Status WorkerGrpcService::ListWorkers(grpc::ServerContext*,
                                            const v1::ListWorkersRequest* request,
                                            v1::ListWorkersResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  auto workers = dispatch_.ListWorkers(request->include_gone());
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  for (const auto& w : *workers) {
    v1::Worker* out = response->add_workers();
    out->set_id(w.id);
    out->set_name(w.name);
    out->set_host(w.host);
    out->set_owner(w.owner);
    for (const auto& g : w.gpus) {
      v1::Gpu* gpu = out->add_gpus();
      gpu->set_index(g.index);
      gpu->set_name(g.name);
      gpu->set_memory_total_mib(g.memory_total_mib);
      gpu->set_memory_used_mib(g.memory_used_mib);
      gpu->set_utilization_percent(g.utilization_percent);
      gpu->set_uuid(g.uuid);
    }
    for (const auto& [k, v] : w.labels) (*out->mutable_labels())[k] = v;
    out->set_version(w.version);
    out->set_synthetic(w.synthetic);
    api::ToProto(w.registered_at, out->mutable_registered_at());
    api::ToProto(w.last_heartbeat_at, out->mutable_last_heartbeat_at());
    switch (w.state) {
      case scheduler::WorkerState::kAlive: out->set_state(v1::Worker::STATE_ALIVE); break;
      case scheduler::WorkerState::kDraining: out->set_state(v1::Worker::STATE_DRAINING); break;
      case scheduler::WorkerState::kLost: out->set_state(v1::Worker::STATE_LOST); break;
      case scheduler::WorkerState::kGone: out->set_state(v1::Worker::STATE_GONE); break;
    }
    for (int64_t id : w.running_job_ids) out->add_running_job_ids(id);
  }
  return grpc::Status::OK;
}

}  // namespace mixsweep::api
