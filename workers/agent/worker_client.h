// WorkerClient: the agent's blocking calls to WorkerService, with retries.
//
// The channel carries the worker's bearer token. UNAVAILABLE (the
// scheduler is restarting) and a lost answer (DEADLINE_EXCEEDED) are retried
// with capped exponential backoff, sending the same request again (same
// idempotency key, same log offset), until the call succeeds, fails for
// another reason, is cancelled, or the client's retry deadline passes (set
// at shutdown so that a worker whose server is gone still exits).
//
// These calls block: the agent runs them on its thread pool, never on the
// io_context thread. The client is thread-safe.
//
// Example:
//   WorkerClient client(*client::MakeChannel(flags));
//   auto canceller = std::make_shared<CallCanceller>();
//   mixsweep::v1::LeaseJobResponse response;
//   grpc::Status s = client.LeaseJob(request, &response, canceller.get());
//   // another thread: canceller->Cancel();  -> s.error_code() == CANCELLED
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "mixsweep/v1/worker.grpc.pb.h"

namespace mixsweep::workers {

// Cancels one call from another thread: its current attempt (TryCancel) and
// any further retry.
class CallCanceller {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class WorkerClient;
  void Attach(grpc::ClientContext* context);  // nullptr: none
  // Sleeps up to `delay`; false if cancelled meanwhile.
  bool Sleep(std::chrono::milliseconds delay);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* context_ = nullptr;
  bool cancelled_ = false;
};

class WorkerClient {
 public:
  // `channel` carries the worker's token (client::MakeChannel).
  explicit WorkerClient(std::shared_ptr<grpc::Channel> channel);

  // Retries give up once `deadline` passes (and sleeps end there).
  void SetRetryDeadline(std::chrono::steady_clock::time_point deadline);

  grpc::Status RegisterWorker(const mixsweep::v1::RegisterWorkerRequest& request,
                              mixsweep::v1::RegisterWorkerResponse* response,
                              CallCanceller* canceller);
  // Not retried: the next beat is the retry.
  grpc::Status Heartbeat(const mixsweep::v1::HeartbeatRequest& request,
                         mixsweep::v1::HeartbeatResponse* response);
  // The long poll: each attempt may take up to the request's wait.
  grpc::Status LeaseJob(const mixsweep::v1::LeaseJobRequest& request,
                        mixsweep::v1::LeaseJobResponse* response, CallCanceller* canceller);
  grpc::Status ReportProgress(const mixsweep::v1::ReportProgressRequest& request,
                              mixsweep::v1::ReportProgressResponse* response);
  grpc::Status AppendLog(const mixsweep::v1::AppendLogRequest& request,
                         mixsweep::v1::AppendLogResponse* response);
  grpc::Status CompleteJob(const mixsweep::v1::CompleteJobRequest& request,
                           mixsweep::v1::CompleteJobResponse* response);
  grpc::Status FailJob(const mixsweep::v1::FailJobRequest& request,
                       mixsweep::v1::FailJobResponse* response);
  grpc::Status HandBackJob(const mixsweep::v1::HandBackJobRequest& request,
                           mixsweep::v1::HandBackJobResponse* response);

 private:
  using Stub = mixsweep::v1::WorkerService::Stub;
  template <typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

  template <typename Request, typename Response>
  grpc::Status Call(const char* name, Method<Request, Response> method, const Request& request,
                    Response* response, std::chrono::milliseconds attempt_timeout, bool retry,
                    CallCanceller* canceller);

  // Waits `delay` before the next attempt; false when cancelled meanwhile.
  bool WaitBeforeRetry(std::chrono::milliseconds delay, CallCanceller* canceller);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::atomic<int64_t> retry_deadline_ns_;  // steady_clock, since its epoch
};

}  // namespace mixsweep::workers
