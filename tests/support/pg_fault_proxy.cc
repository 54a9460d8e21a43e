#include "tests/support/pg_fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mixsweep::testing {
namespace {

// Start-up packet codes (PostgreSQL protocol 3.0).
constexpr uint32_t kSslRequest = 80877103;
constexpr uint32_t kGssEncRequest = 80877104;
constexpr uint32_t kCancelRequest = 80877102;

uint32_t ReadInt32(const std::string& buf, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(buf.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

int ConnectUpstream(const std::string& upstream) {
  if (!upstream.empty() && upstream[0] == '/') {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, upstream.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  const size_t colon = upstream.rfind(':');
  if (colon == std::string::npos) return -1;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(upstream.substr(0, colon).c_str(), upstream.substr(colon + 1).c_str(), &hints,
                    &found) != 0) {
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd >= 0) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

}  // namespace

struct PgFaultProxy::Connection {
  int client_fd = -1;
  std::thread thread;
};

std::unique_ptr<PgFaultProxy> PgFaultProxy::Start(const std::string& upstream, std::string* error) {
  std::unique_ptr<PgFaultProxy> proxy(new PgFaultProxy());
  proxy->upstream_ = upstream;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    *error = std::string("bind/listen on 127.0.0.1: ") + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  if (::pipe2(proxy->wake_pipe_, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  proxy->listen_fd_ = fd;
  proxy->port_ = ntohs(addr.sin_port);
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

PgFaultProxy::~PgFaultProxy() {
  if (wake_pipe_[1] >= 0) ::close(wake_pipe_[1]);  // every poll() sees the hang-up
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard lock(mu_);
    connections.swap(connections_);
  }
  for (auto& c : connections) {
    if (c->thread.joinable()) c->thread.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_pipe_[0] >= 0) ::close(wake_pipe_[0]);
}

void PgFaultProxy::ArmCommitDrop(const std::string& statement_contains, int times) {
  std::lock_guard lock(mu_);
  match_ = statement_contains;
  armed_ = times;
}

void PgFaultProxy::Disarm() {
  std::lock_guard lock(mu_);
  armed_ = 0;
}

bool PgFaultProxy::WaitForDrops(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return dropped_cv_.wait_for(lock, timeout, [&] { return dropped_.load() >= n; });
}

bool PgFaultProxy::Matches(const std::string& message_bytes) {
  std::lock_guard lock(mu_);
  return armed_ > 0 && !match_.empty() &&
         std::string_view(message_bytes).find(match_) != std::string_view::npos;
}

bool PgFaultProxy::TakeDrop(bool tagged) {
  std::lock_guard lock(mu_);
  if (armed_ <= 0 || (!match_.empty() && !tagged)) return false;
  --armed_;
  ++dropped_;
  dropped_cv_.notify_all();
  return true;
}

void PgFaultProxy::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++accepted_;
    auto c = std::make_unique<Connection>();
    c->client_fd = client;
    Connection* raw = c.get();
    std::lock_guard lock(mu_);
    c->thread = std::thread([this, raw] { Serve(raw); });
    connections_.push_back(std::move(c));
  }
}

// One connection: both directions on one thread, parsed message by message.
void PgFaultProxy::Serve(Connection* c) {
  const int client = c->client_fd;
  const int server = ConnectUpstream(upstream_);
  if (server < 0) {
    ::close(client);
    return;
  }
  ++open_;
  std::string from_client, from_server;
  bool client_started = false;  // past the untyped start-up packets
  bool raw = false;             // encrypted or a cancel request: no parsing
  int single_byte_answers = 0;  // owed for SSLRequest / GSSENCRequest
  bool tagged = false;          // this transaction sent a matching statement
  bool dropped = false;
  char buf[65536];

  // Forwards the complete client messages in from_client.
  auto pump_client = [&]() -> bool {
    while (true) {
      if (raw) {
        if (!from_client.empty() && !SendAll(server, from_client.data(), from_client.size())) {
          return false;
        }
        from_client.clear();
        return true;
      }
      if (!client_started) {
        if (from_client.size() < 8) return true;
        const uint32_t length = ReadInt32(from_client, 0);
        if (length < 8 || length > (1u << 20)) return false;
        if (from_client.size() < length) return true;
        const uint32_t code = ReadInt32(from_client, 4);
        if (!SendAll(server, from_client.data(), length)) return false;
        from_client.erase(0, length);
        if (code == kSslRequest || code == kGssEncRequest) {
          ++single_byte_answers;
        } else if (code == kCancelRequest) {
          raw = true;
        } else {
          client_started = true;
        }
        continue;
      }
      if (from_client.size() < 5) return true;
      const uint32_t length = ReadInt32(from_client, 1);
      if (length < 4) return false;
      const size_t total = size_t{length} + 1;
      if (from_client.size() < total) return true;
      if (Matches(from_client.substr(0, total))) tagged = true;
      if (!SendAll(server, from_client.data(), total)) return false;
      from_client.erase(0, total);
    }
  };

  // Forwards the complete server messages in from_server, unless one is the
  // COMMIT to drop: then false with `dropped` set.
  auto pump_server = [&]() -> bool {
    while (true) {
      if (raw) {
        if (!from_server.empty() && !SendAll(client, from_server.data(), from_server.size())) {
          return false;
        }
        from_server.clear();
        return true;
      }
      if (single_byte_answers > 0) {
        if (from_server.empty()) return true;
        const char answer = from_server[0];
        if (!SendAll(client, from_server.data(), 1)) return false;
        from_server.erase(0, 1);
        --single_byte_answers;
        if (answer == 'S' || answer == 'G') raw = true;  // encrypted from here on
        continue;
      }
      if (from_server.size() < 5) return true;
      const uint32_t length = ReadInt32(from_server, 1);
      if (length < 4) return false;
      const size_t total = size_t{length} + 1;
      if (from_server.size() < total) return true;
      if (from_server[0] == 'C') {
        const std::string tag(from_server.c_str() + 5);  // NUL-terminated
        if (tag == "COMMIT" && TakeDrop(tagged)) {
          dropped = true;
          return false;
        }
        if (tag == "COMMIT" || tag == "ROLLBACK") tagged = false;
      }
      if (!SendAll(client, from_server.data(), total)) return false;
      from_server.erase(0, total);
    }
  };

  while (true) {
    pollfd fds[3] = {{client, POLLIN, 0}, {server, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    bool ok = true;
    if (fds[0].revents != 0) {
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      from_client.append(buf, static_cast<size_t>(n));
      ok = pump_client();
    }
    if (ok && fds[1].revents != 0) {
      const ssize_t n = ::recv(server, buf, sizeof buf, 0);
      if (n <= 0) break;
      from_server.append(buf, static_cast<size_t>(n));
      ok = pump_server();
    }
    if (!ok) break;
  }
  (void)dropped;
  // Both sides at once: the client sees its connection break mid-COMMIT.
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(server, SHUT_RDWR);
  ::close(client);
  ::close(server);
  --open_;
}

}  // namespace mixsweep::testing
