// TokenStore on PostgreSQL (table api_tokens, migration 0004).
#pragma once

#include "db/connection_pool.h"
#include "scheduler/auth/token_store.h"

namespace mixsweep::db {

class PgTokenStore final : public auth::TokenStore {
 public:
  explicit PgTokenStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<std::optional<auth::TokenRecord>> FindByHash(const std::string& hash) override;
  absl::StatusOr<auth::TokenRecord> Create(const auth::NewToken& token, absl::Time now) override;
  absl::StatusOr<auth::TokenRecord> Revoke(int64_t id, absl::Time now) override;
  absl::StatusOr<std::vector<auth::TokenRecord>> List(bool include_revoked) override;
  absl::StatusOr<auth::TokenRecord> CreateFirstAdmin(const auth::NewToken& token,
                                                     absl::Time now) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace mixsweep::db
