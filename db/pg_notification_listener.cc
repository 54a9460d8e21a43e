#include "db/pg_notification_listener.h"

#include <memory>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "absl/time/clock.h"

namespace mixsweep::db {
namespace {

// Runs one channel's handler for each notification on it.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel, std::function<void()> handler)
      : pqxx::notification_receiver(conn, channel), handler_(std::move(handler)) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { handler_(); }

 private:
  std::function<void()> handler_;
};

}  // namespace

PgNotificationListener::PgNotificationListener(std::string dsn, Handlers handlers, Options options)
    : dsn_(std::move(dsn)),
      handlers_(std::move(handlers)),
      options_(options),
      thread_([this] { Loop(); }) {}

PgNotificationListener::~PgNotificationListener() {
  stop_ = true;
  thread_.join();
}

void PgNotificationListener::Loop() {
  const auto poll_us = absl::ToInt64Microseconds(options_.poll);
  while (!stop_) {
    std::unique_ptr<pqxx::connection> conn;
    std::vector<std::unique_ptr<Receiver>> receivers;  // destroyed before conn
    try {
      conn = std::make_unique<pqxx::connection>(dsn_);
      // The constructor of each receiver sends its LISTEN.
      for (const auto& [channel, handler] : handlers_) {
        receivers.push_back(std::make_unique<Receiver>(*conn, channel, handler));
      }
      listening_ = true;
      for (const auto& [channel, handler] : handlers_) handler();
      while (!stop_) conn->await_notification(poll_us / 1000000, poll_us % 1000000);
    } catch (const std::exception& e) {
      if (listening_) spdlog::warn("notification listener: connection lost: {}", e.what());
    }
    listening_ = false;
    receivers.clear();
    conn.reset();
    // Sleep in poll-sized steps so that stopping stays prompt.
    for (absl::Duration slept; !stop_ && slept < options_.reconnect_delay; slept += options_.poll) {
      absl::SleepFor(options_.poll);
    }
  }
}

}  // namespace mixsweep::db
