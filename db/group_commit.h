// GroupCommitter: many callers' transactions committed as one.
//
// Under load, dispatch is a stream of small transactions from many workers
// (a lease, a completion), each paying its own BEGIN, COMMIT and WAL flush.
// The group committer runs the bodies that arrive while a commit is under
// way in one shared transaction, each under a SAVEPOINT of its own, and
// commits them together: one flush for the batch.
//
// The guarantee is unchanged: Run returns only after the shared transaction
// committed, so nothing is acknowledged before it is durable. Each body is
// still all or nothing: a body that returns an error, or whose statement
// fails, is rolled back to its savepoint and the others go on. When the
// batch itself fails before COMMIT is sent (a lost connection, a deadlock
// that took the transaction down), nothing was committed and each body is
// run again alone in a transaction of its own (RunTransaction). When the
// COMMIT's outcome is unknown, every caller gets UNAVAILABLE, as a lone
// transaction would: retries carry idempotency keys or fencing tokens.
//
// Batching needs no timer: the first caller leads a batch at once; callers
// that arrive while `max_in_flight` batches are running wait and go out in
// the next one. An idle server therefore commits each call alone, with no
// added latency.
//
// Example:
//   db::GroupCommitter committer(pool, {.max_batch = 64, .max_in_flight = 2});
//   absl::StatusOr<int64_t> id = committer.Transact<int64_t>(
//       [&](pqxx::work& tx) -> absl::StatusOr<int64_t> { ... });
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "db/connection_pool.h"

namespace mixsweep::db {

struct GroupCommitOptions {
  // The most bodies in one transaction.
  int max_batch = 64;
  // Batches running at once (each on its own pooled connection).
  int max_in_flight = 2;
};

// What a batch did, for metrics and tests.
struct GroupCommitStats {
  int64_t batches = 0;       // shared transactions committed
  int64_t bodies = 0;        // bodies run in them
  int64_t largest_batch = 0;
  int64_t run_alone = 0;     // bodies re-run alone after a batch failed
};

class GroupCommitter {
 public:
  using Body = std::function<absl::Status(pqxx::work&)>;

  GroupCommitter(ConnectionPool& pool, GroupCommitOptions options);
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Runs `body` in a shared transaction; its status once that committed.
  absl::Status Run(const Body& body);

  // Run for a body that computes a value (as db::Transact).
  template <typename T>
  absl::StatusOr<T> Transact(const std::function<absl::StatusOr<T>(pqxx::work&)>& body) {
    std::optional<absl::StatusOr<T>> out;
    absl::Status status = Run([&](pqxx::work& tx) -> absl::Status {
      out = body(tx);
      return out->status();
    });
    if (!status.ok()) return status;
    return std::move(*out);
  }

  GroupCommitStats stats() const;
  // Callers waiting for the next batch now.
  int waiting() const;

 private:
  struct Call {
    const Body* body = nullptr;
    absl::Status status;
    bool done = false;
    bool lead = false;  // this caller's thread runs the next batch
  };

  // Runs one batch on this thread and hands out the results.
  void Lead(std::vector<Call*> batch);
  // Runs the batch's bodies in one transaction; false if it must be redone.
  bool RunShared(const std::vector<Call*>& batch);

  ConnectionPool& pool_;
  const GroupCommitOptions options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Call*> waiting_;  // guarded by mu_
  int in_flight_ = 0;          // guarded by mu_
  GroupCommitStats stats_;     // guarded by mu_
};

}  // namespace mixsweep::db
