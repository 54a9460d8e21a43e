// WorkerGrpcService: mixsweep.v1.WorkerService over gRPC, for
// mixsweep-worker agents. Request shape is checked here; the logic is
// scheduler::DispatchService's.
#pragma once

#include "mixsweep/v1/worker.grpc.pb.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "services/api/request_context.h"

namespace mixsweep::api {

class WorkerGrpcService final : public mixsweep::v1::WorkerService::Service {
 public:
  WorkerGrpcService(scheduler::DispatchService& dispatch, const Callers& callers)
      : dispatch_(dispatch), callers_(callers) {}

  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const mixsweep::v1::RegisterWorkerRequest* request,
                              mixsweep::v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const mixsweep::v1::HeartbeatRequest* request,
                         mixsweep::v1::HeartbeatResponse* response) override;
  grpc::Status LeaseJob(grpc::ServerContext* context,
                        const mixsweep::v1::LeaseJobRequest* request,
                        mixsweep::v1::LeaseJobResponse* response) override;
  grpc::Status ReportProgress(grpc::ServerContext* context,
                              const mixsweep::v1::ReportProgressRequest* request,
                              mixsweep::v1::ReportProgressResponse* response) override;
  grpc::Status AppendLog(grpc::ServerContext* context,
                         const mixsweep::v1::AppendLogRequest* request,
                         mixsweep::v1::AppendLogResponse* response) override;
  grpc::Status CompleteJob(grpc::ServerContext* context,
                           const mixsweep::v1::CompleteJobRequest* request,
                           mixsweep::v1::CompleteJobResponse* response) override;
  grpc::Status FailJob(grpc::ServerContext* context,
                       const mixsweep::v1::FailJobRequest* request,
                       mixsweep::v1::FailJobResponse* response) override;
  grpc::Status HandBackJob(grpc::ServerContext* context,
                           const mixsweep::v1::HandBackJobRequest* request,
                           mixsweep::v1::HandBackJobResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context,
                           const mixsweep::v1::ListWorkersRequest* request,
                           mixsweep::v1::ListWorkersResponse* response) override;

 private:
  // PERMISSION_DENIED unless the caller registered the worker / the worker
  // holding the lease: one worker token never acts for another's workers.
  absl::Status MayActForWorker(const grpc::ServerContext* context, int64_t worker_id) const;
  absl::Status MayReportOn(const grpc::ServerContext* context,
                           const mixsweep::v1::LeaseRef& lease) const;

  scheduler::DispatchService& dispatch_;
  const Callers& callers_;
};

// The JobSpec a worker receives for a lease (pure; unit-tested).
void ToProto(const scheduler::LeasedJob& leased, mixsweep::v1::LeaseJobResponse* out);

}  // namespace mixsweep::api
