// The API listener's credentials, from the configuration:
//   TLS (cert + key), optionally verifying client certificates against a CA
//   (mutual TLS, e.g. for workers), or
//   no TLS: gRPC "local" credentials, which accept connections from this
//   machine only — a bearer token must not cross a network in clear.
// Both are secure credentials in gRPC's sense, so the token processor runs
// on every call of either.
#pragma once

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "services/mixsweepd/config.h"

namespace mixsweep::daemon {

// INVALID_ARGUMENT for an unreadable file, or for a plaintext listen address
// that is not loopback.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Config& config);

// Whether `listen` (host:port) names a loopback address.
bool IsLoopbackListen(const std::string& listen);

}  // namespace mixsweep::daemon
