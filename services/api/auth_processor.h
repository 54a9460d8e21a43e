// The one gate every call passes before its handler runs: a gRPC
// AuthMetadataProcessor that reads the bearer token, authenticates it,
// checks the method against the role table (scheduler/auth/access_policy)
// and takes one request from the token's rate bucket.
//
//   missing, malformed, unknown or revoked token -> UNAUTHENTICATED
//   role may not call the method                 -> PERMISSION_DENIED
//   over the token's requests per second         -> RESOURCE_EXHAUSTED
//   token store unreachable                      -> UNAVAILABLE
//
// Health checks pass without a token. gRPC runs the processor on every
// call of a secure listener: TLS, or local (loopback-only) credentials when
// mixsweepd runs without TLS.
//
//   auto creds = grpc::SslServerCredentials(options);
//   creds->SetAuthMetadataProcessor(
//       std::make_shared<TokenAuthProcessor>(authenticator, limiter));
#pragma once

#include <functional>
#include <string_view>

#include <grpcpp/security/auth_metadata_processor.h>

#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/rate_limiter.h"

namespace mixsweep::api {

class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  // Told of every call the gate refuses (such calls never reach a handler,
  // nor the interceptors that count the others).
  using RefusalObserver = std::function<void(std::string_view path, absl::StatusCode code)>;

  TokenAuthProcessor(auth::Authenticator& authenticator, auth::RateLimiter& limiter,
                     RefusalObserver on_refused = {})
      : authenticator_(authenticator), limiter_(limiter), on_refused_(std::move(on_refused)) {}

  // A token lookup may read the database: gRPC must run us off its I/O
  // threads.
  bool IsBlocking() const override { return true; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

  // The same check for a call that does not come through a listener (the
  // dashboard's in-process calls): `path` is the full method path,
  // `authorization` the one Authorization header.
  absl::Status Admit(std::string_view path, std::string_view authorization);

 private:
  auth::Authenticator& authenticator_;
  auth::RateLimiter& limiter_;
  RefusalObserver on_refused_;
};

}  // namespace mixsweep::api
