#include "scheduler/auth/authenticator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "scheduler/auth/token.h"

namespace mixsweep::auth {

Authenticator::Authenticator(TokenStore& store, const scheduler::Clock& clock,
                             AuthenticatorOptions options)
    : store_(store), clock_(clock), options_(options) {}

absl::StatusOr<Caller> Authenticator::Authenticate(std::string_view authorization) {
  auto secret = SecretFromAuthorization(authorization);
  if (!secret.ok()) return secret.status();
  const std::string hash = TokenHash(*secret);
  const absl::Time now = clock_.Now();
  {
    std::lock_guard lock(mu_);
    if (auto it = by_hash_.find(hash); it != by_hash_.end()) {
      if (now - it->second.fetched_at < options_.cache_ttl) return it->second.caller;
      by_hash_.erase(it);
    }
  }
  auto found = store_.FindByHash(hash);
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return absl::UnauthenticatedError("unknown token (never issued by this server, or mistyped)");
  }
  const TokenRecord& record = **found;
  if (record.revoked_at.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "token ", record.id, " (", record.principal, ") was revoked at ",
        absl::FormatTime(absl::RFC3339_sec, *record.revoked_at, absl::UTCTimeZone())));
  }
  Caller caller{.token_id = record.id, .principal = record.principal, .role = record.role};
  std::lock_guard lock(mu_);
  if (by_hash_.size() >= options_.max_cached) by_hash_.clear();
  by_hash_[hash] = Cached{.caller = caller, .fetched_at = now};
  return caller;
}

void Authenticator::Forget(int64_t token_id) {
  std::lock_guard lock(mu_);
  std::erase_if(by_hash_, [token_id](const auto& entry) {
    return entry.second.caller.token_id == token_id;
  });
}

}  // namespace mixsweep::auth
