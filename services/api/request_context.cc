#include "services/api/request_context.h"

#include "absl/strings/str_cat.h"

namespace mixsweep::api {

absl::Status CheckIdempotencyKey(const std::string& key) {
  if (key.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("idempotency_key: ", key.size(),
                                                   " bytes; at most ", kMaxIdempotencyKeyBytes));
  }
  return absl::OkStatus();
}

std::string AuthorizationOf(const grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

absl::StatusOr<auth::Caller> Callers::Of(const grpc::ServerContext* context) const {
  return authenticator_.Authenticate(AuthorizationOf(context));
}

absl::StatusOr<scheduler::WriteContext> Callers::WriteContextOf(
    const grpc::ServerContext* context, const std::string& idempotency_key) const {
  auto caller = Of(context);
  if (!caller.ok()) return caller.status();
  return scheduler::WriteContext{.principal = caller->principal,
                                 .idempotency_key = idempotency_key,
                                 .acts_for_anyone = caller->role == auth::Role::kAdmin};
}

}  // namespace mixsweep::api
