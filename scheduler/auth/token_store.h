// Where tokens live: the interface the authenticator and the token service
// use; PostgreSQL implements it (db/pg_token_store), a fake the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/auth/role.h"

namespace mixsweep::auth {

// Who is calling: what every handler learns about the caller.
struct Caller {
  int64_t token_id = 0;
  std::string principal;
  Role role = Role::kViewer;
};

struct TokenRecord {
  int64_t id = 0;
  std::string principal;
  Role role = Role::kViewer;
  std::string note;
  std::string created_by;
  absl::Time created_at = absl::InfinitePast();
  std::optional<absl::Time> revoked_at;
};

struct NewToken {
  std::string principal;
  Role role = Role::kViewer;
  std::string note;
  std::string created_by;
  std::string hash;  // TokenHash(secret); the secret itself is never stored
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // The token with this hash, revoked or not; nullopt when there is none.
  // UNAVAILABLE when the database cannot be reached.
  virtual absl::StatusOr<std::optional<TokenRecord>> FindByHash(const std::string& hash) = 0;
  virtual absl::StatusOr<TokenRecord> Create(const NewToken& token, absl::Time now) = 0;
  // NOT_FOUND for an unknown id. Sets revoked_at once; a second revoke
  // returns the record unchanged.
  virtual absl::StatusOr<TokenRecord> Revoke(int64_t id, absl::Time now) = 0;
  virtual absl::StatusOr<std::vector<TokenRecord>> List(bool include_revoked) = 0;
  // Creates `token` (an admin) only if no unrevoked admin token exists, as
  // one atomic step; FAILED_PRECONDITION otherwise. The bootstrap.
  virtual absl::StatusOr<TokenRecord> CreateFirstAdmin(const NewToken& token, absl::Time now) = 0;
};

}  // namespace mixsweep::auth
