#include "scheduler/dispatch/retry_policy.h"

#include <algorithm>

namespace mixsweep::scheduler {

absl::Duration RetryPolicy::Backoff(int attempts) const {
  absl::Duration delay = base;
  // Doubling stops at the cap, so the loop is short and never overflows.
  for (int i = 1; i < attempts && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

RetryDecision RetryPolicy::Decide(const FailureFacts& facts) const {
  if (!facts.retryable || facts.attempts >= facts.max_attempts) return {};
  return {.retry = true, .delay = Backoff(facts.attempts)};
}

}  // namespace mixsweep::scheduler
