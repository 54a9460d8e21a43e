// A fixed-size pool of libpqxx connections shared by the server's threads,
// and RunTransaction, the one way this code base talks to PostgreSQL.
//
// A pqxx::connection is not thread-safe; the pool hands each to one thread
// at a time. A connection that broke is dropped and reopened on next use, so
// the pool heals by itself when PostgreSQL restarts.
//
// RunTransaction maps database failures to what the caller should do:
//   broken connection, or a commit whose outcome is unknown -> UNAVAILABLE
//     (retry the call; writes carry idempotency keys, so a retry of a commit
//     that did land changes nothing);
//   serialization failure or deadlock                     -> ABORTED
//     (retry the transaction; RunTransaction does so itself a few times);
//   unique violation (a concurrent writer won a race)     -> ALREADY_EXISTS
//     (re-read: e.g. the other request with the same idempotency key);
//   anything else                                         -> INTERNAL.
//
// Example:
//   db::ConnectionPool pool(dsn, /*size=*/8);
//   absl::Status s = db::RunTransaction(pool, [&](pqxx::work& tx) {
//     tx.exec_params(sql::kInsertEvent, "sweep.submitted", id);
//     return absl::OkStatus();  // commits; a non-OK status rolls back
//   });
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mixsweep::db {

class ConnectionPool {
 public:
  ConnectionPool(std::string dsn, int size);
  ~ConnectionPool();

  // A borrowed connection, returned to the pool on destruction.
  class Handle {
   public:
    Handle(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn);
    Handle(Handle&&) noexcept;
    Handle& operator=(Handle&&) = delete;
    ~Handle();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    // The connection is unusable: close it instead of returning it.
    void Discard() { conn_.reset(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  // Waits up to `timeout` for a free connection; opens it if needed.
  // UNAVAILABLE if none is free in time or PostgreSQL cannot be reached.
  absl::StatusOr<Handle> Acquire(absl::Duration timeout = absl::Seconds(10));

  const std::string& dsn() const { return dsn_; }

  // Called after every RunTransaction attempt with its duration (BEGIN to
  // COMMIT or rollback) and whether it committed: the transaction latency
  // metric. Set it before the pool is shared between threads.
  using TransactionObserver = std::function<void(absl::Duration elapsed, bool committed)>;
  void set_transaction_observer(TransactionObserver observer) {
    transaction_observer_ = std::move(observer);
  }
  const TransactionObserver& transaction_observer() const { return transaction_observer_; }

 private:
  void Release(std::unique_ptr<pqxx::connection> conn);

  const std::string dsn_;
  TransactionObserver transaction_observer_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // open connections
  int available_;  // connections that may be handed out (idle or not yet opened)
};

// The status a libpqxx exception means (see the header comment).
absl::Status StatusFromException(const std::exception& e);

// Runs `body` in a read-write transaction and commits when it returns OK.
// Serialization failures and deadlocks are retried up to `attempts` times.
absl::Status RunTransaction(ConnectionPool& pool,
                            const std::function<absl::Status(pqxx::work&)>& body,
                            int attempts = 3);

// RunTransaction for a body that computes a value: the value when the
// transaction committed, else the status that stopped it.
template <typename T>
absl::StatusOr<T> Transact(ConnectionPool& pool,
                           const std::function<absl::StatusOr<T>(pqxx::work&)>& body) {
  std::optional<absl::StatusOr<T>> out;
  absl::Status status = RunTransaction(pool, [&](pqxx::work& tx) -> absl::Status {
    out = body(tx);
    return out->status();
  });
  if (!status.ok()) return status;
  return std::move(*out);
}

}  // namespace mixsweep::db
