#include "services/api/auth_grpc_service.h"

#include "absl/strings/str_cat.h"
#include "services/api/request_limits.h"
#include "services/api/status_convert.h"

namespace mixsweep::api {
namespace v1 = mixsweep::v1;
namespace {

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

}  // namespace

v1::Role ToProto(auth::Role role) {
  switch (role) {
    case auth::Role::kAdmin: return v1::ROLE_ADMIN;
    case auth::Role::kResearcher: return v1::ROLE_RESEARCHER;
    case auth::Role::kWorker: return v1::ROLE_WORKER;
    case auth::Role::kOperator: return v1::ROLE_OPERATOR;
    case auth::Role::kViewer: return v1::ROLE_VIEWER;
  }
  return v1::ROLE_UNSPECIFIED;
}

std::optional<auth::Role> FromProto(v1::Role role) {
  switch (role) {
    case v1::ROLE_ADMIN: return auth::Role::kAdmin;
    case v1::ROLE_RESEARCHER: return auth::Role::kResearcher;
    case v1::ROLE_WORKER: return auth::Role::kWorker;
    case v1::ROLE_OPERATOR: return auth::Role::kOperator;
    case v1::ROLE_VIEWER: return auth::Role::kViewer;
    default: return std::nullopt;
  }
}

void ToProto(const auth::TokenRecord& record, v1::Token* out) {
  out->set_id(record.id);
  out->set_principal(record.principal);
  out->set_role(ToProto(record.role));
  out->set_note(record.note);
  out->set_created_by(record.created_by);
  ToProto(record.created_at, out->mutable_created_at());
  if (record.revoked_at.has_value()) ToProto(*record.revoked_at, out->mutable_revoked_at());
}

grpc::Status AuthGrpcService::CreateToken(grpc::ServerContext* context,
                                          const v1::CreateTokenRequest* request,
                                          v1::CreateTokenResponse* response) {
  if (auto s = CheckRequestLimits(*request); !s.ok()) return ToGrpcStatus(s);
  auto caller = callers_.Of(context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  const std::optional<auth::Role> role = FromProto(request->role());
  if (!role.has_value()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "role: required (admin, researcher, worker, operator or viewer)"));
  }
  auto issued = tokens_.Create(
      {.principal = request->principal(), .role = *role, .note = request->note()}, *caller);
  if (!issued.ok()) return ToGrpcStatus(issued.status());
  ToProto(issued->record, response->mutable_token());
  response->set_secret(issued->secret);
  return grpc::Status::OK;
}

grpc::Status AuthGrpcService::RevokeToken(grpc::ServerContext*,
                                          const v1::RevokeTokenRequest* request,
                                          v1::RevokeTokenResponse* response) {
  auto revoked = tokens_.Revoke(request->token_id());
  if (!revoked.ok()) return ToGrpcStatus(revoked.status());
  ToProto(revoked->record, response->mutable_token());
  response->set_already_revoked(revoked->already_revoked);
  return grpc::Status::OK;
}

grpc::Status AuthGrpcService::ListTokens(grpc::ServerContext*,
                                         const v1::ListTokensRequest* request,
                                         v1::ListTokensResponse* response) {
  auto tokens = tokens_.List(request->include_revoked());
  if (!tokens.ok()) return ToGrpcStatus(tokens.status());
  for (const auth::TokenRecord& record : *tokens) ToProto(record, response->add_tokens());
  return grpc::Status::OK;
}

grpc::Status AuthGrpcService::WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest*,
                                     v1::WhoAmIResponse* response) {
  auto caller = callers_.Of(context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  response->set_principal(caller->principal);
  response->set_role(ToProto(caller->role));
  response->set_token_id(caller->token_id);
  return grpc::Status::OK;
}

}  // namespace mixsweep::api
