// Requests per second per token: a token bucket per key, refilled at `rate`
// up to `burst`. Refused calls get RESOURCE_EXHAUSTED saying when to retry.
// Memory is bounded: buckets that have refilled completely carry no state
// and are dropped when the table reaches `max_keys`.
//
//   RateLimiter limiter(clock, {.rate_per_second = 200, .burst = 400});
//   if (auto s = limiter.Admit(caller.token_id, caller.principal); !s.ok()) ...
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "scheduler/clock.h"

namespace mixsweep::auth {

struct RateLimit {
  double rate_per_second = 1000;  // <= 0: no limit
  double burst = 2000;
  size_t max_keys = 100000;
};

class RateLimiter {
 public:
  RateLimiter(const scheduler::Clock& clock, RateLimit limit);

  // Takes one request from `key`'s bucket; `who` only names it in the error.
  absl::Status Admit(int64_t key, std::string_view who);

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };

  const scheduler::Clock& clock_;
  const RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<int64_t, Bucket> buckets_;  // guarded by mu_
};

}  // namespace mixsweep::auth
