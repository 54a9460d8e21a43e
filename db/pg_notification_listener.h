// PgNotificationListener: PostgreSQL notifications as in-process wake-ups.
//
// With several replicas, a change committed through one (a job queued, a
// trial recorded, an estimate stored) must wake the waiting threads of all.
// Triggers (migration 0007) send NOTIFY on commit; this class LISTENs on a
// connection of its own and runs the channel's handler on its thread. The
// handlers only poke a ChangeSignal or ReadyNotifier: the database stays the
// truth, and every waiter also re-reads on a timer.
//
// After every (re)connection all handlers run once, since anything may have
// changed while no one was listening.
//
// Example:
//   db::PgNotificationListener listener(dsn, {
//       {"mixsweep_jobs_ready", [&] { dispatch.NotifyJobsReady(); }},
//       {"mixsweep_estimates", [&] { estimates_changed.Notify(); }}});
//   // ... until destroyed: the thread stops within `poll`.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace mixsweep::db {

class PgNotificationListener {
 public:
  using Handlers = std::map<std::string, std::function<void()>>;
  struct Options {
    // How long one wait for a notification lasts: the stop latency.
    absl::Duration poll = absl::Milliseconds(200);
    // Between failed connection attempts.
    absl::Duration reconnect_delay = absl::Seconds(1);
  };

  PgNotificationListener(std::string dsn, Handlers handlers, Options options);
  PgNotificationListener(std::string dsn, Handlers handlers)
      : PgNotificationListener(std::move(dsn), std::move(handlers), Options{}) {}
  ~PgNotificationListener();

  PgNotificationListener(const PgNotificationListener&) = delete;
  PgNotificationListener& operator=(const PgNotificationListener&) = delete;

  // Whether LISTEN is in place now (for health reporting and tests).
  bool listening() const { return listening_.load(); }

 private:
  void Loop();

  const std::string dsn_;
  const Handlers handlers_;
  const Options options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace mixsweep::db
