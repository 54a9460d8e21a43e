// db::GroupCommitter against a real PostgreSQL: bodies that arrive while a
// batch runs share the next transaction; each body stays all or nothing
// (its savepoint); no caller returns before the shared COMMIT; and a batch
// that fails before COMMIT is re-run body by body in transactions of their
// own.
//
// Batches are made deterministic, without sleeping: the first body holds
// its batch open until the other callers are queued (GroupCommitter::waiting).
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/connection_pool.h"
#include "db/group_commit.h"
#include "tests/support/pg_harness.h"

namespace mixsweep {
namespace {

constexpr int kCallers = 8;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    testing::SqlExec(dsn_, "CREATE TABLE items (id integer PRIMARY KEY)");
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 4);
    committer_ = std::make_unique<db::GroupCommitter>(
        *pool_, db::GroupCommitOptions{.max_batch = 32, .max_in_flight = 1});
  }

  // Inserts item `id`.
  static db::GroupCommitter::Body Insert(int id) {
    return [id](pqxx::work& tx) {
      tx.exec_params("INSERT INTO items (id) VALUES ($1)", id);
      return absl::OkStatus();
    };
  }

  // Caller 0 leads: its body holds the batch open until callers 1..n-1 are
  // queued behind it, so they form the next batch. `returned(i)` runs as
  // caller i's Run returns. Returns each caller's status.
  std::vector<absl::Status> RunBatch(const std::vector<db::GroupCommitter::Body>& bodies,
                                     const std::function<void(int)>& returned = nullptr) {
    const int n = static_cast<int>(bodies.size());
    std::vector<absl::Status> statuses(n);
    std::atomic<bool> leading{false};
    std::thread leader([&] {
      statuses[0] = committer_->Run([&](pqxx::work& tx) {
        leading = true;
        while (committer_->waiting() < n - 1) std::this_thread::yield();
        return bodies[0](tx);
      });
      if (returned) returned(0);
    });
    while (!leading) std::this_thread::yield();
    std::vector<std::thread> others;
    for (int i = 1; i < n; ++i) {
      others.emplace_back([&, i] {
        statuses[i] = committer_->Run(bodies[i]);
        if (returned) returned(i);
      });
    }
    leader.join();
    for (std::thread& t : others) t.join();
    return statuses;
  }

  int64_t Items() { return testing::SqlCount(dsn_, "SELECT count(*) FROM items"); }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::GroupCommitter> committer_;
};

TEST_F(GroupCommitTest, CallersQueuedBehindABatchShareTheNextTransaction) {
  std::vector<db::GroupCommitter::Body> bodies;
  for (int i = 0; i < kCallers; ++i) bodies.push_back(Insert(i));
  for (const absl::Status& s : RunBatch(bodies)) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Items(), kCallers);
  const db::GroupCommitStats stats = committer_->stats();
  EXPECT_EQ(stats.bodies, kCallers);
  EXPECT_EQ(stats.batches, 2) << "the leader's own batch, then everyone queued behind it";
  EXPECT_EQ(stats.largest_batch, kCallers - 1);
  EXPECT_EQ(stats.run_alone, 0);
}

TEST_F(GroupCommitTest, AFailingBodyIsRolledBackAloneAndGetsItsOwnError) {
  std::vector<db::GroupCommitter::Body> bodies;
  for (int i = 0; i < kCallers; ++i) bodies.push_back(Insert(i));
  // Caller 3 inserts, then refuses: its insert must not survive.
  bodies[3] = [](pqxx::work& tx) {
    tx.exec("INSERT INTO items (id) VALUES (103)");
    return absl::FailedPreconditionError("refused");
  };
  // Caller 5 hits a unique violation: item 0 is the leader's, committed in
  // the batch before. (Callers 1..7 queue in whatever order their threads
  // run, so a conflict inside the batch would not say who loses.)
  bodies[5] = Insert(0);
  const std::vector<absl::Status> statuses = RunBatch(bodies);
  EXPECT_EQ(statuses[3].code(), absl::StatusCode::kFailedPrecondition) << statuses[3];
  EXPECT_EQ(statuses[5].code(), absl::StatusCode::kAlreadyExists) << statuses[5];
  for (int i : {0, 1, 2, 4, 6, 7}) EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i];
  EXPECT_EQ(testing::SqlText(dsn_, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"),
            "0,1,2,4,6,7");
  EXPECT_EQ(committer_->stats().run_alone, 0);
}

TEST_F(GroupCommitTest, NoCallerReturnsBeforeTheSharedCommit) {
  std::vector<std::atomic<bool>> returned(kCallers);
  std::vector<db::GroupCommitter::Body> bodies;
  for (int i = 0; i < kCallers; ++i) bodies.push_back(Insert(i));
  // While a body of the second batch runs, its COMMIT has not happened: no
  // caller of that batch may have returned, and only the first batch's row
  // is visible to another session.
  std::atomic<bool> checked{false};
  bodies[kCallers - 1] = [&](pqxx::work& tx) {
    for (int i = 1; i < kCallers; ++i) EXPECT_FALSE(returned[i].load()) << "caller " << i;
    EXPECT_EQ(Items(), 1) << "only the leader's own (earlier) batch is committed";
    checked = true;
    return Insert(kCallers - 1)(tx);
  };
  const std::vector<absl::Status> statuses =
      RunBatch(bodies, [&](int i) { returned[i] = true; });
  EXPECT_TRUE(checked);
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Items(), kCallers);
}

TEST_F(GroupCommitTest, ABatchThatLosesItsConnectionIsRerunBodyByBody) {
  std::vector<db::GroupCommitter::Body> bodies;
  for (int i = 0; i < kCallers; ++i) bodies.push_back(Insert(i));
  // Caller 4's body kills its own session the first time it runs: the
  // shared transaction is gone, and nothing of the batch was committed.
  std::atomic<bool> killed{false};
  bodies[4] = [&](pqxx::work& tx) {
    if (!killed.exchange(true)) tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");
    return Insert(4)(tx);
  };
  for (const absl::Status& s : RunBatch(bodies)) EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(killed);
  EXPECT_EQ(Items(), kCallers) << "each body committed exactly once";
  EXPECT_EQ(committer_->stats().run_alone, kCallers - 1);
}

}  // namespace
}  // namespace mixsweep
