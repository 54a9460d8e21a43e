#include "scheduler/auth/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mixsweep::auth {

RateLimiter::RateLimiter(const scheduler::Clock& clock, RateLimit limit)
    : clock_(clock), limit_(limit) {}

absl::Status RateLimiter::Admit(int64_t key, std::string_view who) {
  if (limit_.rate_per_second <= 0) return absl::OkStatus();
  const absl::Time now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limit_.max_keys) {
      // Drop the buckets that are full again: forgetting them changes nothing.
      std::erase_if(buckets_, [&](const auto& entry) {
        const double refilled = entry.second.tokens + absl::ToDoubleSeconds(
                                                          now - entry.second.updated) *
                                                          limit_.rate_per_second;
        return refilled >= limit_.burst;
      });
      // Still full: every key is busy; refusing a newcomer keeps memory bounded.
      if (buckets_.size() >= limit_.max_keys) {
        return absl::ResourceExhaustedError(
            "too many tokens active at once on this server; retry in a second");
      }
    }
    it = buckets_.emplace(key, Bucket{.tokens = limit_.burst, .updated = now}).first;
  }
  Bucket& bucket = it->second;
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
  bucket.tokens = std::min(limit_.burst, bucket.tokens + elapsed * limit_.rate_per_second);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return absl::OkStatus();
  }
  const double wait_ms = std::ceil((1 - bucket.tokens) / limit_.rate_per_second * 1000);
  return absl::ResourceExhaustedError(absl::StrFormat(
      "token %d (%s): over %g requests per second (burst %g); retry in %g ms", key,
      std::string(who), limit_.rate_per_second, limit_.burst, wait_ms));
}

}  // namespace mixsweep::auth
