#include "services/api/sweep_grpc_service.h"

#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "scheduler/evaluation/run_costs.h"
#include "services/api/proto_convert.h"
#include "services/api/request_context.h"
#include "services/api/request_limits.h"
#include "services/api/status_convert.h"

namespace mixsweep::api {
namespace v1 = mixsweep::v1;
namespace {

constexpr size_t kMaxReasonBytes = 4096;

absl::Status CheckSweepId(int64_t id) {
  if (id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep_id: ", id, " is not a sweep id (ids are positive)"));
  }
  return absl::OkStatus();
}

absl::Status CheckSpecText(const std::string& yaml, size_t max_bytes) {
  if (yaml.empty()) return absl::InvalidArgumentError("spec_yaml: empty; send the spec's YAML text");
  if (yaml.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec_yaml: ", yaml.size(), " bytes; at most ", max_bytes));
  }
  return absl::OkStatus();
}

// Runs the checks in order and returns the first failure.
template <typename... Checks>
absl::Status FirstError(Checks... checks) {
  absl::Status status;
  ((status.ok() ? (void)(status = checks) : (void)0), ...);
  return status;
}

}  // namespace

absl::Status SweepGrpcService::FillSweep(int64_t sweep_id, bool runs, bool jobs,
                                         v1::GetSweepResponse* out) {
  // A run's cost needs its jobs' measured GPU-hours: read them with the runs.
  auto detail = sweeps_.Get(sweep_id, runs, runs || jobs);
  if (!detail.ok()) return detail.status();
  auto spec = sweeps_.StoredSpec(detail->sweep.spec_yaml);
  if (!spec.ok()) return spec.status();
  ToProto(detail->sweep, *spec, out->mutable_sweep());
  if (runs) {
    auto costs = evaluation::ComputeSweepRunCosts(
        evaluation::WithMeasuredCollectionCosts(*spec, detail->sweep.generations), detail->runs,
        detail->jobs);
    if (!costs.ok()) return costs.status();
    for (size_t i = 0; i < detail->runs.size(); ++i) {
      v1::Run* run = out->add_runs();
      ToProto(detail->runs[i], run);
      run->set_cost_collection_hours((*costs)[i].collection_hours);
      run->set_cost_gpu_hours((*costs)[i].gpu_hours);
    }
  }
  if (jobs) {
    for (const auto& job : detail->jobs) ToProto(job, out->add_jobs());
  }
  return absl::OkStatus();
}

grpc::Status SweepGrpcService::SubmitSweep(grpc::ServerContext* context,
                                           const v1::SubmitSweepRequest* request,
                                           v1::SubmitSweepResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = FirstError(CheckSpecText(request->spec_yaml(), options_.max_spec_bytes),
                          CheckIdempotencyKey(request->idempotency_key()));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  auto write = callers_.WriteContextOf(context, request->idempotency_key());
  if (!write.ok()) return ToGrpcStatus(write.status());
  auto submitted = sweeps_.Submit(request->spec_yaml(), request->validate_only(),
                                  *write);
  if (!submitted.ok()) return ToGrpcStatus(submitted.status());
  response->set_runs(submitted->runs);
  response->set_jobs(submitted->jobs);
  response->set_replayed(submitted->replayed);
  if (request->validate_only()) return grpc::Status::OK;
  if (dispatch_ != nullptr) dispatch_->NotifyJobsReady();

  v1::GetSweepResponse sweep;
  if (auto s = FillSweep(submitted->sweep_id, false, false, &sweep); !s.ok()) {
    return ToGrpcStatus(s);
  }
  *response->mutable_sweep() = std::move(*sweep.mutable_sweep());
  return grpc::Status::OK;
}

grpc::Status SweepGrpcService::ExtendSweep(grpc::ServerContext* context,
                                           const v1::ExtendSweepRequest* request,
                                           v1::ExtendSweepResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = FirstError(CheckSweepId(request->sweep_id()),
                          CheckSpecText(request->spec_yaml(), options_.max_spec_bytes),
                          CheckIdempotencyKey(request->idempotency_key()));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  auto write = callers_.WriteContextOf(context, request->idempotency_key());
  if (!write.ok()) return ToGrpcStatus(write.status());
  auto extended = sweeps_.Extend(request->sweep_id(), request->spec_yaml(),
                                 request->validate_only(),
                                 *write);
  if (!extended.ok()) return ToGrpcStatus(extended.status());
  response->set_runs_added(extended->runs_added);
  response->set_jobs_added(extended->jobs_added);
  response->set_replayed(extended->replayed);
  if (dispatch_ != nullptr && !request->validate_only()) dispatch_->NotifyJobsReady();
  v1::GetSweepResponse sweep;
  if (auto s = FillSweep(request->sweep_id(), false, false, &sweep); !s.ok()) {
    return ToGrpcStatus(s);
  }
  *response->mutable_sweep() = std::move(*sweep.mutable_sweep());
  return grpc::Status::OK;
}

grpc::Status SweepGrpcService::GetSweep(grpc::ServerContext*,
                                        const v1::GetSweepRequest* request,
                                        v1::GetSweepResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckSweepId(request->sweep_id()); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(FillSweep(request->sweep_id(), request->include_runs(),
                                request->include_jobs(), response));
}

grpc::Status SweepGrpcService::ListSweeps(grpc::ServerContext*,
                                          const v1::ListSweepsRequest* request,
                                          v1::ListSweepsResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  scheduler::SweepFilter filter;
  const int page_size = request->page().page_size();
  if (page_size < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("page.page_size: ", page_size, " is negative")));
  }
  filter.page_size = page_size == 0 ? options_.default_page_size
                                    : std::min(page_size, options_.max_page_size);
  if (const std::string& token = request->page().page_token(); !token.empty()) {
    if (!absl::SimpleAtoi(token, &filter.before_id) || filter.before_id <= 0) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          "page.page_token: not a token this server issued; pass next_page_token back as is"));
    }
  }
  filter.owner = request->owner();
  filter.task = request->task();
  for (int state : request->states()) {
    filter.states.push_back(FromProto(static_cast<v1::SweepState>(state)));
  }
  auto page = sweeps_.List(filter);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const auto& record : page->sweeps) {
    auto spec = sweeps_.StoredSpec(record.spec_yaml);
    if (!spec.ok()) return ToGrpcStatus(spec.status());
    v1::Sweep* sweep = response->add_sweeps();
    ToProto(record, *spec, sweep);
    sweep->clear_spec_yaml();  // listings stay small; GetSweep has it
  }
  if (page->next_before_id != 0) {
    response->set_next_page_token(std::to_string(page->next_before_id));
  }
  return grpc::Status::OK;
}

grpc::Status SweepGrpcService::CancelSweep(grpc::ServerContext* context,
                                           const v1::CancelSweepRequest* request,
                                           v1::CancelSweepResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = FirstError(CheckSweepId(request->sweep_id()),
                          CheckIdempotencyKey(request->idempotency_key()));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (request->reason().size() > kMaxReasonBytes) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("reason: ", request->reason().size(), " bytes; at most ", kMaxReasonBytes)));
  }
  auto write = callers_.WriteContextOf(context, request->idempotency_key());
  if (!write.ok()) return ToGrpcStatus(write.status());
  auto cancelled = sweeps_.Cancel(request->sweep_id(), request->reason(),
                                  *write);
  if (!cancelled.ok()) return ToGrpcStatus(cancelled.status());
  response->set_jobs_cancelled(cancelled->jobs_cancelled);
  response->set_jobs_stopping(cancelled->jobs_stopping);
  v1::GetSweepResponse sweep;
  if (auto s = FillSweep(request->sweep_id(), false, false, &sweep); !s.ok()) {
    return ToGrpcStatus(s);
  }
  *response->mutable_sweep() = std::move(*sweep.mutable_sweep());
  return grpc::Status::OK;
}

grpc::Status SweepGrpcService::WatchSweep(grpc::ServerContext* context,
                                          const v1::WatchSweepRequest* request,
                                          grpc::ServerWriter<v1::SweepProgress>* writer) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckSweepId(request->sweep_id()); !s.ok()) return ToGrpcStatus(s);
  int64_t sent_event_id = -1;
  while (!context->IsCancelled()) {
    auto event_id = sweeps_.LatestEventId(request->sweep_id());
    if (!event_id.ok()) return ToGrpcStatus(event_id.status());
    if (*event_id != sent_event_id) {
      v1::GetSweepResponse sweep;
      if (auto s = FillSweep(request->sweep_id(), false, false, &sweep); !s.ok()) {
        return ToGrpcStatus(s);
      }
      v1::SweepProgress progress;
      const auto& counts = sweep.sweep().counts();
      int done = 0;
      for (const char* state : {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}) {
        auto it = counts.jobs_by_state().find(state);
        if (it != counts.jobs_by_state().end()) done += it->second;
      }
      progress.set_fraction_done(counts.jobs_total() == 0 ? 0.0
                                     : static_cast<double>(done) / counts.jobs_total());
      progress.set_event_id(*event_id);
      const bool ended = sweep.sweep().state() != v1::SWEEP_STATE_ACTIVE;
      *progress.mutable_sweep() = std::move(*sweep.mutable_sweep());
      if (!writer->Write(progress)) return grpc::Status::OK;  // the client left
      sent_event_id = *event_id;
      if (ended) return grpc::Status::OK;
    }
    std::this_thread::sleep_for(options_.watch_poll_interval);
  }
  return grpc::Status::OK;
}

grpc::Status SweepGrpcService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                      v1::Job* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (request->job_id() <= 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("job_id: ", request->job_id(), " is not a job id (ids are positive)")));
  }
  auto job = sweeps_.GetJob(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  ToProto(*job, response);
  return grpc::Status::OK;
}

grpc::Status SweepGrpcService::ReadJobLog(grpc::ServerContext* context,
                                          const v1::ReadJobLogRequest* request,
                                          grpc::ServerWriter<v1::LogChunk>* writer) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (request->job_id() <= 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("job_id: ", request->job_id(), " is not a job id (ids are positive)")));
  }
  if (dispatch_ == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError("this server keeps no job logs"));
  }
  int64_t offset = request->offset();
  int attempt = 0;
  while (!context->IsCancelled()) {
    auto chunks = dispatch_->ReadLog(request->job_id(), offset);
    if (!chunks.ok()) return ToGrpcStatus(chunks.status());
    for (const auto& chunk : *chunks) {
      // A new attempt starts a new log: follow it from its beginning.
      if (chunk.attempt != attempt && attempt != 0 && offset > 0 && chunk.offset == 0) offset = 0;
      attempt = chunk.attempt;
      v1::LogChunk out;
      out.set_job_id(request->job_id());
      out.set_offset(chunk.offset);
      out.set_data(chunk.data);
      out.set_attempt(chunk.attempt);
      if (!writer->Write(out)) return grpc::Status::OK;
      offset = chunk.offset + static_cast<int64_t>(chunk.data.size());
    }
    if (!request->follow()) return grpc::Status::OK;
    auto job = sweeps_.GetJob(request->job_id());
    if (!job.ok()) return ToGrpcStatus(job.status());
    const bool ended = job->state == scheduler::JobState::kSucceeded ||
                       job->state == scheduler::JobState::kFailed ||
                       job->state == scheduler::JobState::kCancelled;
    if (ended && chunks->empty()) return grpc::Status::OK;
    std::this_thread::sleep_for(options_.watch_poll_interval);
  }
  return grpc::Status::OK;
}

}  // namespace mixsweep::api
