#include "services/api/evaluation_grpc_service.h"

#include "absl/strings/str_cat.h"
#include "services/api/evaluation_convert.h"
#include "services/api/request_context.h"
#include "services/api/request_limits.h"
#include "services/api/status_convert.h"

namespace mixsweep::api {
namespace v1 = mixsweep::v1;

grpc::Status EvaluationGrpcService::RegisterRobot(grpc::ServerContext* context,
                                                  const v1::RegisterRobotRequest* request,
                                                  v1::Robot* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckIdempotencyKey(request->idempotency_key()); !s.ok()) return ToGrpcStatus(s);
  auto write = callers_.WriteContextOf(context, request->idempotency_key());
  if (!write.ok()) return ToGrpcStatus(write.status());
  auto robot = evaluation_.RegisterRobot({.id = request->robot().id(),
                                          .platform = request->robot().platform(),
                                          .location = request->robot().location()},
                                         *write);
  if (!robot.ok()) return ToGrpcStatus(robot.status());
  ToProto(*robot, response);
  return grpc::Status::OK;
}

grpc::Status EvaluationGrpcService::ListRobots(grpc::ServerContext*, const v1::ListRobotsRequest*,
                                               v1::ListRobotsResponse* response) {
  auto robots = evaluation_.ListRobots();
  if (!robots.ok()) return ToGrpcStatus(robots.status());
  for (const auto& robot : *robots) ToProto(robot, response->add_robots());
  return grpc::Status::OK;
}

grpc::Status EvaluationGrpcService::NextEvaluationBatch(
    grpc::ServerContext*, const v1::NextEvaluationBatchRequest* request,
    v1::EvaluationBatch* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  auto batch = evaluation_.NextBatch({.robot_id = request->robot_id(),
                                      .operator_name = request->operator_(),
                                      .max_policies = request->max_policies(),
                                      .sweep_id = request->sweep_id()});
  if (!batch.ok()) return ToGrpcStatus(batch.status());
  ToProto(*batch, response);
  return grpc::Status::OK;
}

grpc::Status EvaluationGrpcService::RecordTrials(grpc::ServerContext* context,
                                                 const v1::RecordTrialsRequest* request,
                                                 v1::RecordTrialsResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckIdempotencyKey(request->idempotency_key()); !s.ok()) return ToGrpcStatus(s);
  evaluation::RecordTrialsCall call{.request_id = request->request_id(),
                                    .label = request->label()};
  for (int i = 0; i < request->trials_size(); ++i) {
    auto values = FromProto(request->trials(i), absl::StrCat("trials[", i, "]"));
    if (!values.ok()) return ToGrpcStatus(values.status());
    call.trials.push_back(*std::move(values));
  }
  auto write = callers_.WriteContextOf(context, request->idempotency_key());
  if (!write.ok()) return ToGrpcStatus(write.status());
  auto result = evaluation_.RecordTrials(call, *write);
  if (!result.ok()) return ToGrpcStatus(result.status());
  for (const auto& trial : result->trials) ToProto(trial, response->add_trials());
  response->set_replayed(result->replayed);
  response->set_request_complete(result->request_complete);
  return grpc::Status::OK;
}

grpc::Status EvaluationGrpcService::CorrectTrial(grpc::ServerContext* context,
                                                 const v1::CorrectTrialRequest* request,
                                                 v1::Trial* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  if (auto s = CheckIdempotencyKey(request->idempotency_key()); !s.ok()) return ToGrpcStatus(s);
  if (!request->has_corrected()) {
    return ToGrpcStatus(absl::InvalidArgumentError("corrected: required"));
  }
  auto values = FromProto(request->corrected(), "corrected");
  if (!values.ok()) return ToGrpcStatus(values.status());
  auto write = callers_.WriteContextOf(context, request->idempotency_key());
  if (!write.ok()) return ToGrpcStatus(write.status());
  auto trial = evaluation_.CorrectTrial(
      {.trial_id = request->trial_id(), .corrected = *std::move(values), .reason = request->reason()},
      *write);
  if (!trial.ok()) return ToGrpcStatus(trial.status());
  ToProto(*trial, response);
  return grpc::Status::OK;
}

grpc::Status EvaluationGrpcService::ListResults(grpc::ServerContext*,
                                                const v1::ListResultsRequest* request,
                                                v1::ListResultsResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  auto results = evaluation_.ListResults({.sweep_id = request->sweep_id(),
                                          .scenario = request->scenario(),
                                          .include_trials = request->include_trials(),
                                          .include_superseded = request->include_superseded()});
  if (!results.ok()) return ToGrpcStatus(results.status());
  for (const auto& result : *results) ToProto(result, response->add_results());
  return grpc::Status::OK;
}

grpc::Status EvaluationGrpcService::PlanEvaluations(grpc::ServerContext*,
                                                    const v1::PlanEvaluationsRequest* request,
                                                    v1::PlanEvaluationsResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  auto plan = evaluation_.Plan(request->sweep_id(), request->robot_id());
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  for (const auto& candidate : *plan) ToProto(candidate, response->add_batches());
  return grpc::Status::OK;
}

}  // namespace mixsweep::api
