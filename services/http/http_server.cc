#include "services/http/http_server.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A request's header may not exceed this, and it may carry no body: the
// dashboard only reads.
constexpr size_t kMaxHeaderBytes = 16 * 1024;

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler, absl::Duration idle_timeout,
          std::atomic<int>& connections)
      : stream_(std::move(socket)),
        handler_(handler),
        idle_timeout_(idle_timeout),
        connections_(connections) {}
  ~Session() { connections_.fetch_sub(1); }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(0);
    stream_.expires_after(absl::ToChronoNanoseconds(idle_timeout_));
    bhttp::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) {
      // Timeouts, resets and oversized requests end the connection; a
      // clean close by the client is the usual case.
      if (ec != bhttp::error::end_of_stream) stream_.socket().close(ec);
      else stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    const auto& request = parser_->get();
    HttpResponse answer;
    if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
      answer = {.status = 405, .body = "read-only: GET and HEAD only\n",
                .headers = {{"Allow", "GET, HEAD"}}};
    } else {
      HttpRequest in{.method = std::string(request.method_string()),
                     .target = std::string(request.target()),
                     .authorization = std::string(request[bhttp::field::authorization])};
      try {
        answer = handler_(in);
      } catch (const std::exception& e) {
        answer = {.status = 500, .body = absl::StrCat("internal error: ", e.what(), "\n")};
      }
    }
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(answer.status), request.version());
    response->set(bhttp::field::server, "mixsweepd");
    response->set(bhttp::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) response->set(name, value);
    response->keep_alive(request.keep_alive());
    const bool head = request.method() == bhttp::verb::head;
    response->body() = std::move(answer.body);
    response->prepare_payload();
    if (head) response->body().clear();
    response_ = response;
    bhttp::async_write(stream_, *response,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(),
                                                response->keep_alive()));
  }

  void OnWrite(bool keep_alive, beast::error_code ec, size_t) {
    response_.reset();
    if (ec) return;
    if (!keep_alive) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    Read();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> parser_;
  std::shared_ptr<void> response_;
  const HttpServer::Handler& handler_;
  const absl::Duration idle_timeout_;
  std::atomic<int>& connections_;
};

}  // namespace

struct HttpServer::Impl {
  // Sessions refer to handler and connections: both outlive io, whose
  // destruction destroys the sessions still queued in it.
  HttpServerOptions options;
  Handler handler;
  std::atomic<int> connections{0};
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;

  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;  // stopping
      } else if (connections.fetch_add(1) >= options.max_connections) {
        connections.fetch_sub(1);
        socket.close(ec);
      } else {
        std::make_shared<Session>(std::move(socket), handler, options.idle_timeout, connections)
            ->Start();
      }
      Accept();
    });
  }
};

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address,
                                                          const std::string& field) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", address, "' is not host:port (e.g. 127.0.0.1:8080)"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  int port = -1;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", address, "' has no port in 0..65535"));
  }
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              Handler handler) {
  auto host_port = SplitHostPort(options.listen, "listen");
  if (!host_port.ok()) return host_port.status();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  beast::error_code ec;
  const auto address = asio::ip::make_address(host_port->first, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen: '", host_port->first, "' is not an IP address (", ec.message(), ")"));
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(host_port->second));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, ": ", ec.message()));
  }
  impl->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  beast::error_code ec;
  impl_->acceptor.close(ec);
  impl_->io.stop();
  for (auto& thread : impl_->threads) thread.join();
}

int HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace mixsweep::http
