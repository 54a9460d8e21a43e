// absl::Status -> grpc::Status, at the edge only: the logic speaks absl.
// The codes are the same google.rpc codes, so the mapping is one to one.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace mixsweep::api {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace mixsweep::api
