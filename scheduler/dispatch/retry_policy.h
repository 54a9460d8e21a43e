// When a failed job runs again: pure policy, tested without servers.
//
// A job's attempts are counted at lease time. A failure with attempts left
// and a retryable cause waits an exponential backoff (base * 2^(n-1), capped)
// before it can be leased again; a non-retryable cause (an exit code the
// template lists in no_retry_exit_codes, a missing dependency, a deadline)
// fails the job at once. Handing a job back (shutdown, preemption) gives the
// attempt back.
//
// Example:
//   RetryPolicy policy{.base = absl::Seconds(10), .cap = absl::Minutes(10)};
//   policy.Decide({.attempts = 1, .max_attempts = 3, .retryable = true});
//   // -> {.retry = true, .delay = 10s}
#pragma once

#include "absl/time/time.h"

namespace mixsweep::scheduler {

struct FailureFacts {
  int attempts = 0;      // attempts used, including the one that failed
  int max_attempts = 1;  // the sweep's limit
  bool retryable = true;  // false: retrying cannot help
};

struct RetryDecision {
  bool retry = false;
  absl::Duration delay;  // before the job may be leased again
};

struct RetryPolicy {
  absl::Duration base = absl::Seconds(10);
  absl::Duration cap = absl::Minutes(10);

  RetryDecision Decide(const FailureFacts& facts) const;
  // base * 2^(attempts - 1), at most cap.
  absl::Duration Backoff(int attempts) const;
};

}  // namespace mixsweep::scheduler
