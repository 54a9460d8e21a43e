// PgLoopLock: scheduler::LoopLock as a PostgreSQL session-level advisory lock.
//
// The lock lives on a connection of its own (not the pool's: a pooled
// connection goes back to other threads, and its session would carry the
// lock with it). PostgreSQL releases it the moment that session ends, so a
// replica killed with SIGKILL frees the loop at once: the kernel closes the
// socket and the backend exits. A machine that vanishes without closing its
// socket is caught by the server-side TCP keepalives set on the session
// (about 11 s). Every TryHold checks the session is still alive before it
// answers yes, so a replica whose session was cut stops at its next tick.
//
// Example:
//   db::PgLoopLock lock(pool.dsn(), db::LoopLockKey::kLeaseExpiry);
//   if (lock.TryHold()) { /* run one tick */ }
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "scheduler/loop_lock.h"

namespace mixsweep::db {

// The advisory lock keys of mixsweepd's loops (next to sql::kMigrationLockId).
enum class LoopLockKey : int64_t {
  // DispatchService::ExpireLeases: expired leases, deadlines, lost workers.
  kLeaseExpiry = 0x6d69787377656571LL,
  // EstimateRecomputer::RunOnce: stale estimates.
  kEstimateRecompute = 0x6d69787377656572LL,
};

// Used by one loop thread; not safe to share between threads.
class PgLoopLock final : public scheduler::LoopLock {
 public:
  PgLoopLock(std::string dsn, LoopLockKey key);
  ~PgLoopLock() override;

  bool TryHold() override;

 private:
  bool Connect();

  const std::string dsn_;
  const LoopLockKey key_;
  std::unique_ptr<pqxx::connection> conn_;  // null: not connected
  bool held_ = false;
};

}  // namespace mixsweep::db
