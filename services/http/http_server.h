// A small HTTP/1.1 server (Boost.Beast over Asio) for read-only pages: GET
// and HEAD only, bodies refused, keep-alive, idle connections closed after a
// timeout, a bound on connections. Each request is answered by a handler
// function on one of a few threads, so a handler may block (it calls gRPC).
//
//   auto server = HttpServer::Start({.listen = "127.0.0.1:0"},
//       [](const HttpRequest& r) { return HttpResponse{.body = "hello"}; });
//   int port = (*server)->port();
//   server->reset();  // stops: closes the listener and every connection
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mixsweep::http {

struct HttpRequest {
  std::string method;         // "GET" or "HEAD" (others are refused before the handler)
  std::string target;         // path and query, as sent
  std::string authorization;  // the Authorization header, "" if absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // added as given
};

struct HttpServerOptions {
  // host:port; port 0 picks a free one.
  std::string listen = "127.0.0.1:0";
  // Threads that run handlers (each may block on one request at a time).
  int threads = 4;
  // Connections beyond this are closed at once.
  int max_connections = 256;
  // A connection that sends no complete request for this long is closed.
  absl::Duration idle_timeout = absl::Seconds(60);
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Binds and starts serving. INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes `port` to `path` for whoever started the process (tests,
// scripts): written then renamed, so a reader never sees half a file. An
// empty path writes nothing.
void WritePortFile(const std::string& path, int port);

// "host:port" or "[v6]:port" split; INVALID_ARGUMENT naming `field` if not.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address,
                                                          const std::string& field);

}  // namespace mixsweep::http
