// ChangeSignal: "something changed, look again", between threads of one
// process (a trial commit wakes the recomputer; a saved estimate wakes the
// watch streams). It carries no data: the database is the truth. Changes
// committed by other replicas arrive as PostgreSQL notifications
// (db::PgNotificationListener pokes the same signals), and waiters also look
// again after a timeout, in case a notification was lost.
//
// Example:
//   uint64_t seen = signal.generation();
//   while (running) {
//     seen = signal.WaitForChange(seen, absl::Seconds(1));
//     reread();
//   }
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/time/time.h"

namespace mixsweep::scheduler {

class ChangeSignal {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++generation_;
    }
    changed_.notify_all();
  }

  uint64_t generation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }

  // Returns when the generation differs from `seen` or after `timeout`;
  // the generation then.
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return generation_ != seen; });
    return generation_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t generation_ = 0;
};

}  // namespace mixsweep::scheduler
