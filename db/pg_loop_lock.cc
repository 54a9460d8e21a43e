#include "db/pg_loop_lock.h"

#include <utility>

#include <spdlog/spdlog.h>

namespace mixsweep::db {
namespace {

// Server-side keepalives for the lock's session: a peer gone without a FIN
// is noticed after idle + count * interval = 5 + 3 * 2 = 11 s.
constexpr const char* kSessionSettings =
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
    "SET tcp_keepalives_count = 3; SET application_name = 'mixsweepd loop lock'";
constexpr const char* kTryLock = "SELECT pg_try_advisory_lock($1)";
constexpr const char* kStillAlive = "SELECT 1";

}  // namespace

PgLoopLock::PgLoopLock(std::string dsn, LoopLockKey key) : dsn_(std::move(dsn)), key_(key) {}

// Closing the session releases the lock.
PgLoopLock::~PgLoopLock() = default;

bool PgLoopLock::Connect() {
  try {
    conn_ = std::make_unique<pqxx::connection>(dsn_);
    pqxx::nontransaction tx(*conn_);
    tx.exec(kSessionSettings);
    return true;
  } catch (const std::exception& e) {
    spdlog::debug("loop lock: cannot connect: {}", e.what());
    conn_.reset();
    return false;
  }
}

bool PgLoopLock::TryHold() {
  // A session found dead is replaced once at once: a standby cut off with
  // the holder should not wait a whole tick to take over.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn_ && !Connect()) break;
    try {
      pqxx::nontransaction tx(*conn_);
      if (held_) {
        // The session still exists, so the lock does too.
        tx.exec(kStillAlive);
        return true;
      }
      held_ = tx.exec_params(kTryLock, static_cast<int64_t>(key_))[0][0].as<bool>();
      return held_;
    } catch (const std::exception& e) {
      // The session is gone, and the lock with it (if it was held).
      spdlog::warn("loop lock: session lost: {}", e.what());
      conn_.reset();
      held_ = false;
    }
  }
  held_ = false;
  return false;
}

}  // namespace mixsweep::db
