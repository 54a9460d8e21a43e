// SweepGrpcService: mixsweep.v1.SweepService over gRPC.
//
// It checks the request's shape (ids, sizes, tokens), asks
// scheduler::SweepService, and converts the answer and its absl::Status. No
// logic of its own beyond that, so everything it serves is tested without
// gRPC too.
//
// Who is asking: until token authentication lands (issue 5) the principal is
// the caller's own claim in the `x-mixsweep-user` metadata ("anonymous"
// without it); it becomes a sweep's owner and scopes idempotency keys.
#pragma once

#include "services/api/request_context.h"

#include <chrono>

#include "mixsweep/v1/sweep.grpc.pb.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "scheduler/sweep_service.h"

namespace mixsweep::api {

struct SweepGrpcOptions {
  // How often WatchSweep looks for changes. Each look is one indexed query.
  std::chrono::milliseconds watch_poll_interval{250};
  // Largest spec accepted, in bytes.
  size_t max_spec_bytes = 1 << 20;
  int default_page_size = 50;
  int max_page_size = 500;
};

class SweepGrpcService final : public mixsweep::v1::SweepService::Service {
 public:
  // `dispatch` (may be null) is told when new jobs are ready, and serves logs.
  SweepGrpcService(scheduler::SweepService& sweeps, const Callers& callers,
                   SweepGrpcOptions options, scheduler::DispatchService* dispatch = nullptr)
      : sweeps_(sweeps), callers_(callers), options_(options), dispatch_(dispatch) {}

  grpc::Status SubmitSweep(grpc::ServerContext* context,
                           const mixsweep::v1::SubmitSweepRequest* request,
                           mixsweep::v1::SubmitSweepResponse* response) override;
  grpc::Status ExtendSweep(grpc::ServerContext* context,
                           const mixsweep::v1::ExtendSweepRequest* request,
                           mixsweep::v1::ExtendSweepResponse* response) override;
  grpc::Status GetSweep(grpc::ServerContext* context,
                        const mixsweep::v1::GetSweepRequest* request,
                        mixsweep::v1::GetSweepResponse* response) override;
  grpc::Status ListSweeps(grpc::ServerContext* context,
                          const mixsweep::v1::ListSweepsRequest* request,
                          mixsweep::v1::ListSweepsResponse* response) override;
  grpc::Status CancelSweep(grpc::ServerContext* context,
                           const mixsweep::v1::CancelSweepRequest* request,
                           mixsweep::v1::CancelSweepResponse* response) override;
  grpc::Status WatchSweep(grpc::ServerContext* context,
                          const mixsweep::v1::WatchSweepRequest* request,
                          grpc::ServerWriter<mixsweep::v1::SweepProgress>* writer) override;
  grpc::Status GetJob(grpc::ServerContext* context,
                      const mixsweep::v1::GetJobRequest* request,
                      mixsweep::v1::Job* response) override;
  grpc::Status ReadJobLog(grpc::ServerContext* context,
                          const mixsweep::v1::ReadJobLogRequest* request,
                          grpc::ServerWriter<mixsweep::v1::LogChunk>* writer) override;

 private:
  // Fills `out` with the sweep, optionally with runs and jobs.
  absl::Status FillSweep(int64_t sweep_id, bool runs, bool jobs,
                         mixsweep::v1::GetSweepResponse* out);

  scheduler::SweepService& sweeps_;
  const Callers& callers_;
  SweepGrpcOptions options_;
  scheduler::DispatchService* dispatch_;
};

}  // namespace mixsweep::api
