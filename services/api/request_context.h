// Who is asking, and the retry key of a write, as every handler reads them.
//
// Calls reach a handler only after the auth processor (auth_processor.h)
// checked their bearer token and role. Handlers that need the caller (the
// owner of a new sweep, whose worker a lease is) read it through Callers,
// which looks the same token up again in the authenticator's cache. (gRPC's
// AuthContext cannot carry it: its properties are per connection, not per
// call.)
//
//   auto caller = callers_.Of(context);          // principal, role, token id
//   if (!caller.ok()) return ToGrpcStatus(caller.status());
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::api {

inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

// INVALID_ARGUMENT for a key over kMaxIdempotencyKeyBytes.
absl::Status CheckIdempotencyKey(const std::string& key);

// The `authorization` metadata of a call ("" if absent).
std::string AuthorizationOf(const grpc::ServerContext* context);

class Callers {
 public:
  explicit Callers(auth::Authenticator& authenticator) : authenticator_(authenticator) {}

  // UNAUTHENTICATED if the token went bad since the processor let the call
  // in (revoked meanwhile); UNAVAILABLE if the database cannot be reached.
  absl::StatusOr<auth::Caller> Of(const grpc::ServerContext* context) const;

  // The caller as a write's context: principal, key, and whether an admin.
  absl::StatusOr<scheduler::WriteContext> WriteContextOf(const grpc::ServerContext* context,
                                                         const std::string& idempotency_key) const;

 private:
  auth::Authenticator& authenticator_;
};

}  // namespace mixsweep::api
