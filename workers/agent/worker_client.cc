#include "workers/agent/worker_client.h"

#include <algorithm>
#include <limits>
#include <thread>

#include <spdlog/spdlog.h>

#include "workers/agent/agent_logic.h"

namespace mixsweep::workers {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Ordinary calls answer in milliseconds; this only bounds a lost answer.
constexpr auto kUnaryTimeout = 30s;
// The long poll's own wait plus room for the answer.
constexpr auto kLongPollSlack = 15s;

std::chrono::milliseconds WaitOf(const mixsweep::v1::LeaseJobRequest& request) {
  return std::chrono::seconds(request.wait().seconds()) +
         std::chrono::milliseconds(request.wait().nanos() / 1000000);
}

}  // namespace

// ------------------------------------------------------------ CallCanceller

void CallCanceller::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
  cv_.notify_all();
}

bool CallCanceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void CallCanceller::Attach(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  context_ = context;
  if (cancelled_ && context_ != nullptr) context_->TryCancel();
}

bool CallCanceller::Sleep(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, delay, [this] { return cancelled_; });
}

// ------------------------------------------------------------- WorkerClient

WorkerClient::WorkerClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(mixsweep::v1::WorkerService::NewStub(channel_)),
      retry_deadline_ns_(std::numeric_limits<int64_t>::max()) {}

void WorkerClient::SetRetryDeadline(Clock::time_point deadline) {
  retry_deadline_ns_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
}

template <typename Request, typename Response>
grpc::Status WorkerClient::Call(const char* name, Method<Request, Response> method,
                                const Request& request, Response* response,
                                std::chrono::milliseconds attempt_timeout, bool retry,
                                CallCanceller* canceller) {
  Backoff backoff;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + attempt_timeout);
    if (canceller != nullptr) canceller->Attach(&context);
    response->Clear();
    grpc::Status status = (stub_.get()->*method)(&context, request, response);
    if (canceller != nullptr) canceller->Attach(nullptr);

    const bool transient = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (status.ok() || !transient || !retry) return status;
    if (canceller != nullptr && canceller->cancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    const auto delay = backoff.Next();
    const auto retry_deadline = Clock::time_point(std::chrono::nanoseconds(retry_deadline_ns_));
    if (Clock::now() + delay > retry_deadline) {
      spdlog::warn("{}: {} after {} attempt(s); giving up (shutting down)", name,
                   status.error_message(), attempt);
      return status;
    }
    if (attempt == 1) {
      spdlog::warn("{}: {} ({}); retrying with backoff", name, status.error_message(),
                   static_cast<int>(status.error_code()));
    } else {
      spdlog::debug("{}: attempt {} failed: {}", name, attempt, status.error_message());
    }
    if (!WaitBeforeRetry(delay, canceller)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
  }
}

// While mixsweepd is unreachable the channel is not READY, and its calls fail
// at once. A reconnection attempt's outcome is only noticed when someone
// polls the channel: a call that fails fast does not, and gRPC's backup
// poller runs every 5 s, so a worker went on failing for up to 6 s after a
// mixsweepd that restarted in 0.1 s was serving again (crash_e2etest). So
// the wait polls the channel (WaitForConnected) and ends as soon as it is
// connected again. When the channel is READY, mixsweepd itself answered
// UNAVAILABLE (its database is down, say): the whole delay is waited.
bool WorkerClient::WaitBeforeRetry(std::chrono::milliseconds delay, CallCanceller* canceller) {
  if (channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY) {
    if (canceller != nullptr) return canceller->Sleep(delay);
    std::this_thread::sleep_for(delay);
    return true;
  }
  const auto until = std::chrono::system_clock::now() + delay;
  while (std::chrono::system_clock::now() < until) {
    if (canceller != nullptr && canceller->cancelled()) return false;
    const auto slice = std::min(until, std::chrono::system_clock::now() + 100ms);
    if (channel_->WaitForConnected(slice)) break;
  }
  return canceller == nullptr || !canceller->cancelled();
}

grpc::Status WorkerClient::RegisterWorker(const mixsweep::v1::RegisterWorkerRequest& request,
                                          mixsweep::v1::RegisterWorkerResponse* response,
                                          CallCanceller* canceller) {
  return Call("RegisterWorker", &Stub::RegisterWorker, request, response, kUnaryTimeout, true,
              canceller);
}

grpc::Status WorkerClient::Heartbeat(const mixsweep::v1::HeartbeatRequest& request,
                                     mixsweep::v1::HeartbeatResponse* response) {
  return Call("Heartbeat", &Stub::Heartbeat, request, response, kUnaryTimeout, false, nullptr);
}

grpc::Status WorkerClient::LeaseJob(const mixsweep::v1::LeaseJobRequest& request,
                                    mixsweep::v1::LeaseJobResponse* response,
                                    CallCanceller* canceller) {
  return Call("LeaseJob", &Stub::LeaseJob, request, response,
              WaitOf(request) + std::chrono::milliseconds(kLongPollSlack), true, canceller);
}

grpc::Status WorkerClient::ReportProgress(const mixsweep::v1::ReportProgressRequest& request,
                                          mixsweep::v1::ReportProgressResponse* response) {
  return Call("ReportProgress", &Stub::ReportProgress, request, response, kUnaryTimeout, true,
              nullptr);
}

grpc::Status WorkerClient::AppendLog(const mixsweep::v1::AppendLogRequest& request,
                                     mixsweep::v1::AppendLogResponse* response) {
  return Call("AppendLog", &Stub::AppendLog, request, response, kUnaryTimeout, true, nullptr);
}

grpc::Status WorkerClient::CompleteJob(const mixsweep::v1::CompleteJobRequest& request,
                                       mixsweep::v1::CompleteJobResponse* response) {
  return Call("CompleteJob", &Stub::CompleteJob, request, response, kUnaryTimeout, true, nullptr);
}

grpc::Status WorkerClient::FailJob(const mixsweep::v1::FailJobRequest& request,
                                   mixsweep::v1::FailJobResponse* response) {
  return Call("FailJob", &Stub::FailJob, request, response, kUnaryTimeout, true, nullptr);
}

grpc::Status WorkerClient::HandBackJob(const mixsweep::v1::HandBackJobRequest& request,
                                       mixsweep::v1::HandBackJobResponse* response) {
  return Call("HandBackJob", &Stub::HandBackJob, request, response, kUnaryTimeout, true, nullptr);
}

}  // namespace mixsweep::workers
