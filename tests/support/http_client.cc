#include "tests/support/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace mixsweep::testing {

absl::StatusOr<HttpReply> HttpRequest(int port, const std::string& target,
                                      const std::map<std::string, std::string>& headers,
                                      const std::string& method) {
  namespace beast = boost::beast;
  namespace bhttp = beast::http;
  using tcp = boost::asio::ip::tcp;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port)));
    bhttp::request<bhttp::empty_body> request(bhttp::string_to_verb(method), target, 11);
    request.set(bhttp::field::host, absl::StrCat("127.0.0.1:", port));
    for (const auto& [name, value] : headers) request.set(name, value);
    stream.expires_after(std::chrono::seconds(60));
    bhttp::write(stream, request);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    bhttp::read(stream, buffer, parser);
    HttpReply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
      reply.headers[std::string(field.name_string())] = std::string(field.value());
    }
    reply.body = parser.get().body();
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return reply;
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("HTTP ", method, " ", target, " on port ", port,
                                               ": ", e.what()));
  }
}

}  // namespace mixsweep::testing
