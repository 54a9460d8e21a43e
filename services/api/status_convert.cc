#include "services/api/status_convert.h"

#include <string>

namespace mixsweep::api {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode both number the google.rpc.Code
  // values, 1 (CANCELLED) through 16 (UNAUTHENTICATED).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace mixsweep::api
