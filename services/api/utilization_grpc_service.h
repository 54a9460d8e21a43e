// UtilizationGrpcService: mixsweep.v1.UtilizationService over gRPC.
//
// WatchEstimates follows the stored versions of a sweep's estimates by row
// id (saves of one sweep commit in id order), woken by `estimates_changed`
// when this process saved some, and looking again every poll interval for
// those another replica saved. Every stored version is sent once, in order.
#pragma once

#include <chrono>

#include "mixsweep/v1/utilization.grpc.pb.h"
#include "scheduler/change_signal.h"
#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/evaluation/utilization_service.h"

namespace mixsweep::api {

struct UtilizationGrpcOptions {
  std::chrono::milliseconds watch_poll_interval{500};
};

class UtilizationGrpcService final : public mixsweep::v1::UtilizationService::Service {
 public:
  UtilizationGrpcService(evaluation::UtilizationService& utilization,
                         evaluation::EstimateStore& estimates,
                         scheduler::ChangeSignal& estimates_changed,
                         UtilizationGrpcOptions options = {})
      : utilization_(utilization),
        estimates_(estimates),
        estimates_changed_(estimates_changed),
        options_(options) {}

  grpc::Status GetEstimates(grpc::ServerContext* context,
                            const mixsweep::v1::GetEstimatesRequest* request,
                            mixsweep::v1::GetEstimatesResponse* response) override;
  grpc::Status WatchEstimates(grpc::ServerContext* context,
                              const mixsweep::v1::WatchEstimatesRequest* request,
                              grpc::ServerWriter<mixsweep::v1::EstimateUpdate>* writer) override;
  grpc::Status RecommendMix(grpc::ServerContext* context,
                            const mixsweep::v1::RecommendMixRequest* request,
                            mixsweep::v1::Recommendation* response) override;

 private:
  evaluation::UtilizationService& utilization_;
  evaluation::EstimateStore& estimates_;
  scheduler::ChangeSignal& estimates_changed_;
  const UtilizationGrpcOptions options_;
};

}  // namespace mixsweep::api
