#include "db/group_commit.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace mixsweep::db {
namespace {

// One name, reused: each SAVEPOINT is released (or rolled back and released)
// before the next body starts, so they never nest.
constexpr const char* kSavepoint = "SAVEPOINT group_commit_body";
constexpr const char* kRelease = "RELEASE SAVEPOINT group_commit_body";
constexpr const char* kRollbackTo = "ROLLBACK TO SAVEPOINT group_commit_body";

// Exceptions that mean the whole transaction is lost, not one body's
// statement: they end the batch.
bool EndsTheTransaction(const std::exception& e) {
  return dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
         dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
}

}  // namespace

GroupCommitter::GroupCommitter(ConnectionPool& pool, GroupCommitOptions options)
    : pool_(pool), options_(options) {}

GroupCommitStats GroupCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int GroupCommitter::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiting_.size());
}

absl::Status GroupCommitter::Run(const Body& body) {
  Call call{.body = &body};
  std::unique_lock<std::mutex> lock(mu_);
  if (in_flight_ < options_.max_in_flight) {
    ++in_flight_;
    call.lead = true;
  } else {
    waiting_.push_back(&call);
    changed_.wait(lock, [&] { return call.done || call.lead; });
    if (call.done) return call.status;
  }
  // This thread leads the next batch: its own call first, then the oldest
  // waiting ones.
  std::vector<Call*> batch = {&call};
  while (!waiting_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
    batch.push_back(waiting_.front());
    waiting_.pop_front();
  }
  lock.unlock();
  Lead(std::move(batch));
  return call.status;
}

void GroupCommitter::Lead(std::vector<Call*> batch) {
  int64_t run_alone = 0;
  if (batch.size() == 1) {
    batch[0]->status = RunTransaction(pool_, *batch[0]->body);
  } else if (!RunShared(batch)) {
    // Nothing of the batch was committed: each body gets a transaction of
    // its own, as if there had been no batching.
    for (Call* call : batch) call->status = RunTransaction(pool_, *call->body);
    run_alone = static_cast<int64_t>(batch.size());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.batches += 1;
    stats_.bodies += static_cast<int64_t>(batch.size());
    stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, batch.size());
    stats_.run_alone += run_alone;
    // Callers return (and their Calls go away) once done is set: nothing
    // below may touch the batch.
    for (Call* call : batch) call->done = true;
    if (waiting_.empty()) {
      --in_flight_;
    } else {
      // This batch's slot passes to the oldest waiting caller.
      waiting_.front()->lead = true;
      waiting_.pop_front();
    }
  }
  changed_.notify_all();
}

bool GroupCommitter::RunShared(const std::vector<Call*>& batch) {
  auto handle = pool_.Acquire();
  if (!handle.ok()) {
    for (Call* call : batch) call->status = handle.status();
    return true;  // nothing to redo: the database is out of reach
  }
  const absl::Time start = absl::Now();
  const auto observe = [this, start](bool committed) {
    if (pool_.transaction_observer()) pool_.transaction_observer()(absl::Now() - start, committed);
  };
  // A body that hit a conflict (deadlock, serialization failure) is retried
  // alone after the batch, as RunTransaction would retry it.
  std::vector<Call*> conflicted;
  try {
    pqxx::work tx(**handle);
    for (Call* call : batch) {
      tx.exec(kSavepoint);
      absl::Status status;
      try {
        status = (*call->body)(tx);
      } catch (const std::exception& e) {
        if (EndsTheTransaction(e)) throw;
        status = StatusFromException(e);
      }
      if (!status.ok()) tx.exec(kRollbackTo);
      tx.exec(kRelease);
      call->status = status;
      if (absl::IsAborted(status)) conflicted.push_back(call);
    }
    tx.commit();
    observe(true);
  } catch (const pqxx::in_doubt_error& e) {
    // The COMMIT was sent and its answer lost: the outcome is unknown.
    observe(false);
    handle->Discard();
    for (Call* call : batch) call->status = StatusFromException(e);
    return true;
  } catch (const std::exception& e) {
    observe(false);
    if (!(*handle)->is_open() || absl::IsUnavailable(StatusFromException(e))) handle->Discard();
    return false;
  }
  for (Call* call : conflicted) call->status = RunTransaction(pool_, *call->body);
  return true;
}

}  // namespace mixsweep::db
