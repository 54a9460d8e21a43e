// Turns an `authorization` header into a Caller: shape check, SHA-256, then
// the token store, with a short-lived cache so that a busy worker does not
// cost a database read per call. Revocation through this process takes
// effect at once (Forget); through another replica, within `cache_ttl`.
//
//   Authenticator authn(store, clock, {.cache_ttl = absl::Seconds(5)});
//   absl::StatusOr<Caller> caller = authn.Authenticate("Bearer msw_...");
//   // UNAUTHENTICATED: missing, malformed, unknown or revoked token;
//   // UNAVAILABLE: the database cannot be reached (retry).
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/auth/token_store.h"
#include "scheduler/clock.h"

namespace mixsweep::auth {

struct AuthenticatorOptions {
  absl::Duration cache_ttl = absl::Seconds(5);
  // Bound on cached tokens; the cache is emptied when it is reached.
  size_t max_cached = 10000;
};

class Authenticator {
 public:
  Authenticator(TokenStore& store, const scheduler::Clock& clock,
                AuthenticatorOptions options = {});

  absl::StatusOr<Caller> Authenticate(std::string_view authorization);

  // Drops the cached entry of a token (after revoking it).
  void Forget(int64_t token_id);

 private:
  struct Cached {
    Caller caller;
    absl::Time fetched_at;
  };

  TokenStore& store_;
  const scheduler::Clock& clock_;
  const AuthenticatorOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, Cached> by_hash_;  // guarded by mu_
};

}  // namespace mixsweep::auth
