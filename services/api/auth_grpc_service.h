// AuthGrpcService: mixsweep.v1.AuthService over gRPC (token management and
// WhoAmI). The logic is auth::TokenService's.
#pragma once

#include "mixsweep/v1/auth.grpc.pb.h"
#include "scheduler/auth/token_service.h"
#include "services/api/request_context.h"

namespace mixsweep::api {

class AuthGrpcService final : public mixsweep::v1::AuthService::Service {
 public:
  AuthGrpcService(auth::TokenService& tokens, const Callers& callers)
      : tokens_(tokens), callers_(callers) {}

  grpc::Status CreateToken(grpc::ServerContext* context,
                           const mixsweep::v1::CreateTokenRequest* request,
                           mixsweep::v1::CreateTokenResponse* response) override;
  grpc::Status RevokeToken(grpc::ServerContext* context,
                           const mixsweep::v1::RevokeTokenRequest* request,
                           mixsweep::v1::RevokeTokenResponse* response) override;
  grpc::Status ListTokens(grpc::ServerContext* context,
                          const mixsweep::v1::ListTokensRequest* request,
                          mixsweep::v1::ListTokensResponse* response) override;
  grpc::Status WhoAmI(grpc::ServerContext* context, const mixsweep::v1::WhoAmIRequest* request,
                      mixsweep::v1::WhoAmIResponse* response) override;

 private:
  auth::TokenService& tokens_;
  const Callers& callers_;
};

// Proto <-> domain (pure; unit-tested).
mixsweep::v1::Role ToProto(auth::Role role);
std::optional<auth::Role> FromProto(mixsweep::v1::Role role);
void ToProto(const auth::TokenRecord& record, mixsweep::v1::Token* out);

}  // namespace mixsweep::api
