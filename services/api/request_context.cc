#include "services/api/request_context.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mixsweep::api {

std::string PrincipalOf(const grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("x-mixsweep-user");
  if (it == metadata.end() || it->second.empty()) return "anonymous";
  return std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
}

absl::Status CheckIdempotencyKey(const std::string& key) {
  if (key.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("idempotency_key: ", key.size(),
                                                   " bytes; at most ", kMaxIdempotencyKeyBytes));
  }
  return absl::OkStatus();
}

scheduler::WriteContext WriteContextOf(const grpc::ServerContext* context,
                                       const std::string& idempotency_key) {
  return {.principal = PrincipalOf(context), .idempotency_key = idempotency_key};
}

}  // namespace mixsweep::api
