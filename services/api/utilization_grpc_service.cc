#include "services/api/utilization_grpc_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/api/evaluation_convert.h"
#include "services/api/request_limits.h"
#include "services/api/status_convert.h"

namespace mixsweep::api {
namespace v1 = mixsweep::v1;

namespace {

absl::Status CheckSweepId(int64_t id) {
  if (id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep_id: ", id, " is not a sweep id (ids are positive)"));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status UtilizationGrpcService::GetEstimates(grpc::ServerContext*,
                                                  const v1::GetEstimatesRequest* request,
                                                  v1::GetEstimatesResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckSweepId(request->sweep_id()); !s.ok()) return ToGrpcStatus(s);
  std::optional<utilization::EstimateParams> params;
  if (request->has_parameters()) {
    params = utilization::EstimateParams{.n_t_star = request->parameters().n_t_star(),
                                         .resamples = request->parameters().resamples(),
                                         .level = request->parameters().level()};
  }
  auto estimates = utilization_.GetEstimates(
      {.sweep_id = request->sweep_id(), .scenario = request->scenario(),
       .source = request->source()},
      params);
  if (!estimates.ok()) return ToGrpcStatus(estimates.status());
  for (const auto& e : *estimates) ToProto(e, response->add_estimates());
  return grpc::Status::OK;
}

grpc::Status UtilizationGrpcService::WatchEstimates(
    grpc::ServerContext* context, const v1::WatchEstimatesRequest* request,
    grpc::ServerWriter<v1::EstimateUpdate>* writer) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckSweepId(request->sweep_id()); !s.ok()) return ToGrpcStatus(s);
  const int64_t sweep_id = request->sweep_id();
  // Subscribe before the first read, so that no save falls between them.
  uint64_t seen = estimates_changed_.generation();
  auto current = utilization_.GetEstimates({.sweep_id = sweep_id}, std::nullopt);
  if (!current.ok()) return ToGrpcStatus(current.status());
  int64_t cursor = 0;
  for (const auto& e : *current) {
    cursor = std::max(cursor, e.row_id);
    if (request->skip_initial()) continue;
    v1::EstimateUpdate update;
    ToProto(e, update.mutable_estimate());
    if (!writer->Write(update)) return grpc::Status::OK;  // the client left
  }
  while (!context->IsCancelled()) {
    seen = estimates_changed_.WaitForChange(
        seen, absl::FromChrono(options_.watch_poll_interval));
    auto newer = estimates_.EstimatesAfter(sweep_id, cursor);
    if (!newer.ok()) return ToGrpcStatus(newer.status());
    for (const auto& e : *newer) {
      v1::EstimateUpdate update;
      ToProto(e, update.mutable_estimate());
      update.set_trigger_trial_id(e.trigger_trial_id);
      if (!writer->Write(update)) return grpc::Status::OK;
      cursor = e.row_id;
    }
  }
  return grpc::Status::OK;
}

grpc::Status UtilizationGrpcService::RecommendMix(grpc::ServerContext*,
                                                  const v1::RecommendMixRequest* request,
                                                  v1::Recommendation* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckSweepId(request->sweep_id()); !s.ok()) return ToGrpcStatus(s);
  auto answer = utilization_.Recommend({.sweep_id = request->sweep_id(),
                                        .scenario = request->scenario(),
                                        .source = request->source(),
                                        .budget_hours = request->budget_hours(),
                                        .cost_tele_hours = request->cost_tele_hours(),
                                        .cost_nt_hours = request->cost_nt_hours(),
                                        .teleop_core = request->teleop_core()});
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  ToProto(*answer, response);
  return grpc::Status::OK;
}

}  // namespace mixsweep::api
