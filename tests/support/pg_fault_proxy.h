// A fault-injecting TCP proxy in front of PostgreSQL, for tests of commits
// whose outcome the client never learns.
//
// mixsweepd's --database points at the proxy (host=127.0.0.1 port=P); the
// proxy forwards every connection to the real server (a Unix socket or a
// TCP address) and reads the PostgreSQL wire protocol on the way: client
// messages are 1-byte type + int32 length + body after an untyped start-up
// packet; server messages likewise, except the one-byte answer to an
// SSLRequest or GSSENCRequest.
//
// When armed, on the first connection whose transaction sent a statement
// containing `statement_contains`, the proxy swallows the server's
// CommandComplete message whose tag is "COMMIT" (the server HAS committed)
// and closes both sides at once: the client of PostgreSQL sees a broken
// connection during COMMIT, an in-doubt commit.
//
// Example:
//   PgFaultProxy proxy = PgFaultProxy::Start(cluster.options().directory + "/run/.s.PGSQL.5432");
//   std::string dsn = "host=127.0.0.1 port=" + std::to_string(proxy.port()) + " ...";
//   proxy.ArmCommitDrop("INSERT INTO sweeps");
//   ... a write through mixsweepd fails with UNAVAILABLE, though it committed ...
//   EXPECT_EQ(proxy.commits_dropped(), 1);
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mixsweep::testing {

class PgFaultProxy {
 public:
  // Listens on 127.0.0.1 (an ephemeral port) and forwards to `upstream`: a
  // Unix socket path (starts with '/') or "host:port". nullptr with `error`
  // set when it cannot listen.
  static std::unique_ptr<PgFaultProxy> Start(const std::string& upstream, std::string* error);
  ~PgFaultProxy();  // closes every connection and joins the threads
  PgFaultProxy(const PgFaultProxy&) = delete;
  PgFaultProxy& operator=(const PgFaultProxy&) = delete;

  int port() const { return port_; }

  // Drops the next `times` COMMITs of transactions that sent a statement
  // containing `statement_contains` ("" matches any transaction).
  void ArmCommitDrop(const std::string& statement_contains, int times = 1);
  void Disarm();
  // COMMITs swallowed so far (each closed its connection).
  int commits_dropped() const { return dropped_.load(); }
  // Waits until commits_dropped() >= n.
  bool WaitForDrops(int n, std::chrono::milliseconds timeout);

  // Connections accepted and open now.
  int connections_accepted() const { return accepted_.load(); }
  int connections_open() const { return open_.load(); }

 private:
  struct Connection;
  PgFaultProxy() = default;
  void AcceptLoop();
  void Serve(Connection* c);
  // Whether a COMMIT of a transaction that sent `tagged` statements is to
  // be dropped now; counts it if so.
  bool TakeDrop(bool tagged);
  bool Matches(const std::string& message_bytes);

  std::string upstream_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_pipe_[2] = {-1, -1};  // closes to stop the threads
  std::thread acceptor_;

  std::mutex mu_;
  std::condition_variable dropped_cv_;
  std::string match_;
  int armed_ = 0;
  std::atomic<int> dropped_{0};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace mixsweep::testing
