// Who is asking, and the retry key of a write, as every handler reads them.
//
// Until token authentication lands (issue 5) the principal is the caller's
// own claim in the `x-mixsweep-user` metadata ("anonymous" without it); it
// scopes idempotency keys and becomes a sweep's owner.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::api {

inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

std::string PrincipalOf(const grpc::ServerContext* context);

// INVALID_ARGUMENT for a key over kMaxIdempotencyKeyBytes.
absl::Status CheckIdempotencyKey(const std::string& key);

scheduler::WriteContext WriteContextOf(const grpc::ServerContext* context,
                                       const std::string& idempotency_key);

}  // namespace mixsweep::api
