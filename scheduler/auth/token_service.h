// Token management: create, revoke, list, and the first admin (bootstrap).
// Validates what a caller asks for; the store keeps only hashes. Knows
// nothing of gRPC or PostgreSQL.
//
//   TokenService tokens(store, clock, authenticator);
//   auto made = tokens.Create({.principal = "alice", .role = Role::kResearcher},
//                             admin_caller);
//   std::cout << made->secret;   // shown once; only its hash is stored
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/token_store.h"
#include "scheduler/clock.h"

namespace mixsweep::auth {

inline constexpr size_t kMaxPrincipalLength = 64;
inline constexpr size_t kMaxTokenNoteBytes = 256;

struct TokenRequest {
  std::string principal;
  Role role = Role::kViewer;
  std::string note;
};

struct IssuedToken {
  TokenRecord record;
  std::string secret;
};

struct Revocation {
  TokenRecord record;
  bool already_revoked = false;
};

// INVALID_ARGUMENT naming `principal` unless it is 1 to 64 of
// [A-Za-z0-9._@-], starting with a letter or digit: a principal becomes a
// sweep's owner and a worker's owner, shown everywhere and matched exactly.
absl::Status ValidatePrincipal(const std::string& principal);

class TokenService {
 public:
  // `authenticator` may be null (the bootstrap command has none to tell).
  TokenService(TokenStore& store, const scheduler::Clock& clock,
               Authenticator* authenticator = nullptr);

  absl::StatusOr<IssuedToken> Create(const TokenRequest& request, const Caller& by);
  absl::StatusOr<Revocation> Revoke(int64_t token_id);
  absl::StatusOr<std::vector<TokenRecord>> List(bool include_revoked);
  // The first admin token, for `principal`; FAILED_PRECONDITION if an
  // unrevoked admin token already exists.
  absl::StatusOr<IssuedToken> Bootstrap(const std::string& principal);

 private:
  TokenStore& store_;
  const scheduler::Clock& clock_;
  Authenticator* authenticator_;
};

}  // namespace mixsweep::auth
