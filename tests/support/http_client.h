// A blocking HTTP/1.1 client for tests (Boost.Beast): one request to
// 127.0.0.1:port, one answer, connection closed.
//
//   auto reply = HttpRequest(port, "/api/v1/sweeps", {{"Authorization", "Bearer " + token}});
//   EXPECT_EQ(reply->status, 200);
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace mixsweep::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names as sent
  std::string body;
};

// UNAVAILABLE when nothing answers (connection refused or closed early).
absl::StatusOr<HttpReply> HttpRequest(int port, const std::string& target,
                                      const std::map<std::string, std::string>& headers = {},
                                      const std::string& method = "GET");

}  // namespace mixsweep::testing
