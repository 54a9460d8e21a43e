#include "services/api/auth_processor.h"

#include <string>
#include <string_view>

#include "scheduler/auth/access_policy.h"
#include "services/api/status_convert.h"

namespace mixsweep::api {

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext*,
                                         OutputMetadata*, OutputMetadata*) {
  auto path_it = auth_metadata.find(":path");
  const std::string path =
      path_it == auth_metadata.end() ? "" : std::string(path_it->second.data(),
                                                        path_it->second.size());
  if (auth::IsOpenMethod(path)) return grpc::Status::OK;

  // Two authorization headers would let a proxy and the server disagree on
  // who is calling.
  if (auth_metadata.count("authorization") > 1) {
    if (on_refused_) on_refused_(path, absl::StatusCode::kUnauthenticated);
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization: sent more than once; send one bearer token");
  }
  auto token_it = auth_metadata.find("authorization");
  const std::string_view header =
      token_it == auth_metadata.end()
          ? std::string_view()
          : std::string_view(token_it->second.data(), token_it->second.size());
  const absl::Status admitted = Admit(path, header);
  if (!admitted.ok() && on_refused_) on_refused_(path, admitted.code());
  return ToGrpcStatus(admitted);
}

absl::Status TokenAuthProcessor::Admit(std::string_view path, std::string_view authorization) {
  if (auth::IsOpenMethod(path)) return absl::OkStatus();
  auto caller = authenticator_.Authenticate(authorization);
  if (!caller.ok()) return caller.status();
  if (auto s = auth::Authorize(caller->role, path); !s.ok()) return s;
  return limiter_.Admit(caller->token_id, caller->principal);
}

}  // namespace mixsweep::api
