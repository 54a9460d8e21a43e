// LoopLock: which replica runs a background loop that should run once.
//
// Several mixsweepd replicas share one database. Some loops (lease expiry,
// estimate recomputation) would only repeat each other's work if every
// replica ran them, so each tick first asks its LoopLock. The lock is held
// until the process (or its database session) dies; another replica then
// takes it at its next tick, so a replica's death costs at most one loop
// interval. The PostgreSQL implementation is db::PgLoopLock (a session-level
// advisory lock).
//
// Correctness never rests on the lock: every loop's transaction takes the row
// locks it needs, so two replicas that briefly both believe they hold it (a
// session that dropped mid-tick) do the same work twice, never wrong work.
//
// Example (mixsweepd's expiry loop):
//   db::PgLoopLock expiry_lock(dsn, db::kLeaseExpiryLoop);
//   every 5 s: if (expiry_lock.TryHold()) dispatch.ExpireLeases();
#pragma once

namespace mixsweep::scheduler {

class LoopLock {
 public:
  virtual ~LoopLock() = default;

  // True while this process holds the loop: already held and still valid,
  // or taken now. False when another replica holds it or the database
  // cannot be reached (the tick is skipped; the next one asks again).
  virtual bool TryHold() = 0;
};

}  // namespace mixsweep::scheduler
