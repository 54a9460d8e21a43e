// EvaluationGrpcService: mixsweep.v1.EvaluationService over gRPC.
//
// Checks the request's shape, converts, asks evaluation::EvaluationService,
// and converts the answer and its absl::Status. No logic of its own.
#pragma once

#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "scheduler/evaluation/evaluation_service.h"
#include "services/api/request_context.h"

namespace mixsweep::api {

class EvaluationGrpcService final : public mixsweep::v1::EvaluationService::Service {
 public:
  EvaluationGrpcService(evaluation::EvaluationService& evaluation, const Callers& callers)
      : evaluation_(evaluation), callers_(callers) {}

  grpc::Status RegisterRobot(grpc::ServerContext* context,
                             const mixsweep::v1::RegisterRobotRequest* request,
                             mixsweep::v1::Robot* response) override;
  grpc::Status ListRobots(grpc::ServerContext* context,
                          const mixsweep::v1::ListRobotsRequest* request,
                          mixsweep::v1::ListRobotsResponse* response) override;
  grpc::Status NextEvaluationBatch(grpc::ServerContext* context,
                                   const mixsweep::v1::NextEvaluationBatchRequest* request,
                                   mixsweep::v1::EvaluationBatch* response) override;
  grpc::Status RecordTrials(grpc::ServerContext* context,
                            const mixsweep::v1::RecordTrialsRequest* request,
                            mixsweep::v1::RecordTrialsResponse* response) override;
  grpc::Status CorrectTrial(grpc::ServerContext* context,
                            const mixsweep::v1::CorrectTrialRequest* request,
                            mixsweep::v1::Trial* response) override;
  grpc::Status ListResults(grpc::ServerContext* context,
                           const mixsweep::v1::ListResultsRequest* request,
                           mixsweep::v1::ListResultsResponse* response) override;
  grpc::Status PlanEvaluations(grpc::ServerContext* context,
                               const mixsweep::v1::PlanEvaluationsRequest* request,
                               mixsweep::v1::PlanEvaluationsResponse* response) override;

 private:
  evaluation::EvaluationService& evaluation_;
  const Callers& callers_;
};

}  // namespace mixsweep::api
