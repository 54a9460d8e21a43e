// Answers the dashboard's API routes (routes.h) by calling mixsweep.v1 over
// a gRPC channel, and writes the response in protobuf's JSON mapping. The
// dashboard is thus a read-only view of the very API every client uses: the
// same handlers, validation, errors and access rules.
//
// mixsweepd gives it an in-process channel to its own server. Calls on that
// channel skip the listener's token check, so the gateway runs the same gate
// itself first (`Gate`: the server's TokenAuthProcessor), and forwards the
// caller's token so that handlers see who asks. Without a gate (the
// dashboard started with --dashboard-open) anyone who reaches the port reads.
//
//   ApiGateway gateway(server->InProcessChannel({}), gate);
//   HttpAnswer answer = gateway.Answer(*ParseRoute("/api/v1/sweeps"), "Bearer msw_...");
//   // answer.status == 200, answer.body == R"({"sweeps":[...]})"
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/dashboard/routes.h"

namespace mixsweep::dashboard {

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class ApiGateway {
 public:
  // Checks a call before it is made: UNAUTHENTICATED, PERMISSION_DENIED,
  // RESOURCE_EXHAUSTED or UNAVAILABLE to refuse it. `method` is the full
  // gRPC path, `authorization` the request's Authorization header.
  using Gate =
      std::function<absl::Status(std::string_view method, std::string_view authorization)>;

  // `gate` empty: open mode, no token asked.
  ApiGateway(std::shared_ptr<grpc::Channel> channel, Gate gate,
             absl::Duration call_timeout = absl::Seconds(30));

  // The answer to an API route (not an asset).
  HttpAnswer Answer(const Route& route, std::string_view authorization) const;

  bool open() const { return !gate_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  Gate gate_;
  absl::Duration call_timeout_;
};

// The answer for a failed call: its HTTP status and a JSON error body.
HttpAnswer ErrorAnswer(const absl::Status& status);

}  // namespace mixsweep::dashboard
