// What several mixsweepd replicas on one database rely on, against a real
// PostgreSQL: a PgLoopLock lets one holder at a time run a loop and frees it
// the moment its session ends; the NOTIFY triggers of migration 0007 reach a
// PgNotificationListener on commit, for the changes that matter only, and
// never for a rolled-back transaction.
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "db/connection_pool.h"
#include "db/pg_job_store.h"
#include "db/pg_loop_lock.h"
#include "db/pg_notification_listener.h"
#include "db/pg_sweep_store.h"
#include "scheduler/change_signal.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "scheduler/sweep_service.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"

namespace mixsweep {
namespace {

using db::LoopLockKey;
using db::PgLoopLock;

// A bound on waiting for a notification that should come; not a timing
// assertion (a notification that never comes fails the test).
constexpr absl::Duration kPatience = absl::Seconds(20);

// Ends the session holding the loop's advisory lock, as a network cut would,
// and waits until it has ended.
void TerminateHolderSession(const std::string& dsn) {
  testing::SqlExec(dsn,
                   "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks "
                   "WHERE locktype = 'advisory' AND granted");
}

// Ticks until `lock` is held; false if it never is within the patience.
bool EventuallyHolds(PgLoopLock& lock) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (absl::Now() < deadline) {
    if (lock.TryHold()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

TEST(LoopLockTest, OneHolderAtATimeAndTheNextTakesOverWhenItsSessionEnds) {
  const std::string dsn = testing::CreateTestDatabase();
  auto first = std::make_unique<PgLoopLock>(dsn, LoopLockKey::kLeaseExpiry);
  PgLoopLock second(dsn, LoopLockKey::kLeaseExpiry);
  PgLoopLock other_loop(dsn, LoopLockKey::kEstimateRecompute);

  EXPECT_TRUE(first->TryHold());
  EXPECT_FALSE(second.TryHold());
  EXPECT_TRUE(first->TryHold()) << "a holder keeps the loop tick after tick";
  EXPECT_FALSE(second.TryHold());
  EXPECT_TRUE(other_loop.TryHold()) << "each loop has a lock of its own";

  first.reset();  // the replica died: its session closes
  // The server ends that session (and frees the lock) a moment after the
  // socket closes: the standby gets it at one of its next ticks.
  EXPECT_TRUE(EventuallyHolds(second));
}

TEST(LoopLockTest, AHolderWhoseSessionWasCutStopsAtItsNextTick) {
  const std::string dsn = testing::CreateTestDatabase();
  PgLoopLock holder(dsn, LoopLockKey::kLeaseExpiry);
  PgLoopLock standby(dsn, LoopLockKey::kLeaseExpiry);
  ASSERT_TRUE(holder.TryHold());
  ASSERT_FALSE(standby.TryHold());

  TerminateHolderSession(dsn);  // the lock is free

  EXPECT_TRUE(standby.TryHold()) << "the standby takes the loop at its next tick";
  EXPECT_FALSE(holder.TryHold()) << "the old holder must notice its session is gone";
  EXPECT_FALSE(holder.TryHold());
  EXPECT_TRUE(standby.TryHold());
}

class NotificationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 2);
    sweep_store_ = std::make_unique<db::PgSweepStore>(*pool_);
    sweeps_ = std::make_unique<scheduler::SweepService>(*sweep_store_,
                                                        scheduler::SweepService::Options{});
    jobs_ = std::make_unique<db::PgJobStore>(*pool_);
    dispatch_ = std::make_unique<scheduler::DispatchService>(*jobs_, clock_,
                                                             scheduler::DispatchOptions{});
    listener_ = std::make_unique<db::PgNotificationListener>(
        dsn_, db::PgNotificationListener::Handlers{
                  {"mixsweep_jobs_ready", [this] { jobs_ready_.Notify(); }},
                  {"mixsweep_stale", [this] { stale_.Notify(); }},
                  {"mixsweep_estimates", [this] { estimates_.Notify(); }}});
    // Each handler runs once when LISTEN is in place.
    for (scheduler::ChangeSignal* signal : {&jobs_ready_, &stale_, &estimates_}) {
      ASSERT_NE(signal->WaitForChange(0, kPatience), 0u) << "the listener never connected";
    }
    ASSERT_TRUE(listener_->listening());
  }

  // Waits for `signal` to move past `seen`; whether it did.
  static bool Notified(scheduler::ChangeSignal& signal, uint64_t seen) {
    return signal.WaitForChange(seen, kPatience) != seen;
  }

  int64_t SubmitSweep() {
    auto submitted = sweeps_->Submit(testing::PickDualBottles(), false, {"alice", ""});
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->sweep_id : 0;
  }

  void MarkStale(int64_t sweep_id, bool commit) {
    pqxx::connection conn(dsn_);
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO stale_estimates (sweep_id, scenario, mark) VALUES ($1, 'kitchen', 1) "
        "ON CONFLICT (sweep_id, scenario) DO UPDATE SET mark = stale_estimates.mark + 1",
        sweep_id);
    if (commit) tx.commit();  // else rolled back by the destructor
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> sweep_store_;
  std::unique_ptr<scheduler::SweepService> sweeps_;
  std::unique_ptr<db::PgJobStore> jobs_;
  scheduler::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  std::unique_ptr<scheduler::DispatchService> dispatch_;
  scheduler::ChangeSignal jobs_ready_, stale_, estimates_;
  std::unique_ptr<db::PgNotificationListener> listener_;  // last: stopped first
};

TEST_F(NotificationTest, QueuedJobsStaleMarksAndStoredEstimatesReachTheListener) {
  uint64_t seen = jobs_ready_.generation();
  const int64_t sweep_id = SubmitSweep();
  EXPECT_TRUE(Notified(jobs_ready_, seen)) << "a submitted sweep queues jobs";

  seen = stale_.generation();
  MarkStale(sweep_id, /*commit=*/true);
  EXPECT_TRUE(Notified(stale_, seen));

  seen = estimates_.generation();
  testing::SqlExec(dsn_,
                   "INSERT INTO utilization_estimates (sweep_id, scenario, source, version, "
                   "estimate, trial_count) VALUES (" +
                       std::to_string(sweep_id) + ", 'kitchen', 'sim', 1, '{}', 0)");
  EXPECT_TRUE(Notified(estimates_, seen));
}

TEST_F(NotificationTest, LeasesAndRolledBackChangesNotifyNobody) {
  const int64_t sweep_id = SubmitSweep();
  auto worker = dispatch_->Register(
      {.name = "w",
       .host = "w.lab",
       .gpus = {{.index = 0, .name = "H100", .memory_total_mib = 81559}},
       .version = "test"},
      "");
  ASSERT_TRUE(worker.ok()) << worker.status();
  // Drain the submission's notification: wait for a marker committed after it.
  uint64_t stale_seen = stale_.generation();
  MarkStale(sweep_id, true);
  ASSERT_TRUE(Notified(stale_, stale_seen));

  const uint64_t jobs_seen = jobs_ready_.generation();
  stale_seen = stale_.generation();
  auto leased = dispatch_->Lease({.worker_id = worker->worker_id, .free_gpu_indices = {0}},
                                 absl::ZeroDuration(), nullptr);
  ASSERT_TRUE(leased.ok() && leased->has_value()) << leased.status();
  MarkStale(sweep_id, /*commit=*/false);
  // A marker committed after both: notifications arrive in commit order on
  // one session, so once it is here, anything before it would be too.
  const uint64_t estimates_seen = estimates_.generation();
  testing::SqlExec(dsn_, "NOTIFY mixsweep_estimates");
  ASSERT_TRUE(Notified(estimates_, estimates_seen));

  EXPECT_EQ(jobs_ready_.generation(), jobs_seen) << "a lease queues nothing";
  EXPECT_EQ(stale_.generation(), stale_seen) << "a rolled-back mark was announced";
}

}  // namespace
}  // namespace mixsweep
