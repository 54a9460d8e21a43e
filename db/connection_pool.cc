#include "db/connection_pool.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::db {

ConnectionPool::ConnectionPool(std::string dsn, int size)
    : dsn_(std::move(dsn)), available_(size) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Handle::Handle(ConnectionPool* pool,
                               std::unique_ptr<pqxx::connection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

ConnectionPool::Handle::Handle(Handle&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)) {
  other.pool_ = nullptr;
}

ConnectionPool::Handle::~Handle() {
  if (pool_ != nullptr) pool_->Release(std::move(conn_));
}

absl::StatusOr<ConnectionPool::Handle> ConnectionPool::Acquire(absl::Duration timeout) {
  std::unique_ptr<pqxx::connection> conn;
  {
    std::unique_lock lock(mu_);
    const bool got = freed_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                                     [&] { return available_ > 0; });
    if (!got) {
      return absl::UnavailableError("no database connection became free in time");
    }
    --available_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  // From here on the slot is ours: a failure must give it back.
  if (conn && !conn->is_open()) conn.reset();
  if (!conn) {
    try {
      conn = std::make_unique<pqxx::connection>(dsn_);
    } catch (const std::exception& e) {
      Release(nullptr);
      return absl::UnavailableError(
          absl::StrCat("cannot connect to PostgreSQL: ", e.what()));
    }
  }
  return Handle(this, std::move(conn));
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard lock(mu_);
    if (conn && conn->is_open()) idle_.push_back(std::move(conn));
    ++available_;
  }
  freed_.notify_one();
}

absl::Status StatusFromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "the database connection broke during commit; the outcome is unknown, "
        "retry with the same idempotency key: ", e.what()));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("database unreachable: ", e.what()));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(absl::StrCat("transaction conflict: ", e.what()));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    // Class 08 (connection exception) and 57P (operator intervention, e.g.
    // the server shutting down) are outages, not bugs.
    const std::string& state = sql->sqlstate();
    // A unique violation usually means a concurrent writer won a race (two
    // requests with one idempotency key); the caller re-reads.
    if (state == "23505") {
      return absl::AlreadyExistsError(absl::StrCat("concurrent write: ", e.what()));
    }
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      return absl::UnavailableError(absl::StrCat("database unavailable: ", e.what()));
    }
    return absl::InternalError(absl::StrCat("database error ", state, ": ", e.what()));
  }
  return absl::InternalError(absl::StrCat("database error: ", e.what()));
}

absl::Status RunTransaction(ConnectionPool& pool,
                            const std::function<absl::Status(pqxx::work&)>& body,
                            int attempts) {
  absl::Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto handle = pool.Acquire();
    if (!handle.ok()) return handle.status();
    const absl::Time start = absl::Now();
    const auto observe = [&pool, start](bool committed) {
      if (pool.transaction_observer()) pool.transaction_observer()(absl::Now() - start, committed);
    };
    try {
      pqxx::work tx(**handle);
      absl::Status status = body(tx);
      if (!status.ok()) {
        tx.abort();
        observe(false);
        return status;
      }
      tx.commit();
      observe(true);
      return absl::OkStatus();
    } catch (const std::exception& e) {
      observe(false);
      last = StatusFromException(e);
      if (!(*handle)->is_open() || absl::IsUnavailable(last)) handle->Discard();
      if (!absl::IsAborted(last)) return last;
    }
  }
  return last;
}

}  // namespace mixsweep::db
