// An injectable clock, so that lease, expiry and retry logic is tested
// without sleeping (as userver's utils/mock_now.hpp does).
//
// Example:
//   FakeClock clock(absl::FromUnixSeconds(1000));
//   service.ExpireLeases(clock.Now());      // nothing expired yet
//   clock.Advance(absl::Seconds(61));
//   service.ExpireLeases(clock.Now());      // the lease has expired
#pragma once

#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mixsweep::scheduler {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_;
};

}  // namespace mixsweep::scheduler
