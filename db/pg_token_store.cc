#include "db/pg_token_store.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "db/auth_sql.h"

namespace mixsweep::db {
namespace {

std::string Timestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

// Columns in the order of every token query: id, principal, role, note,
// created_by, created_at (µs), revoked_at (µs or NULL).
auth::TokenRecord RecordOf(const pqxx::row& row) {
  auth::TokenRecord record;
  record.id = row[0].as<int64_t>();
  record.principal = row[1].as<std::string>();
  // The column's CHECK allows only the five names.
  record.role = auth::ParseRole(row[2].as<std::string>()).value_or(auth::Role::kViewer);
  record.note = row[3].as<std::string>();
  record.created_by = row[4].as<std::string>();
  record.created_at = absl::FromUnixMicros(row[5].as<int64_t>());
  if (!row[6].is_null()) record.revoked_at = absl::FromUnixMicros(row[6].as<int64_t>());
  return record;
}

pqxx::row Insert(pqxx::work& tx, const auth::NewToken& token, absl::Time now) {
  return tx.exec_params1(sql::kInsertToken, token.principal, std::string(RoleName(token.role)),
                         token.hash, token.note, token.created_by, Timestamp(now));
}

}  // namespace

absl::StatusOr<std::optional<auth::TokenRecord>> PgTokenStore::FindByHash(
    const std::string& hash) {
  return Transact<std::optional<auth::TokenRecord>>(
      pool_, [&](pqxx::work& tx) -> absl::StatusOr<std::optional<auth::TokenRecord>> {
        const pqxx::result rows = tx.exec_params(sql::kFindTokenByHash, hash);
        if (rows.empty()) return std::optional<auth::TokenRecord>();
        return std::optional<auth::TokenRecord>(RecordOf(rows[0]));
      });
}

absl::StatusOr<auth::TokenRecord> PgTokenStore::Create(const auth::NewToken& token,
                                                       absl::Time now) {
  return Transact<auth::TokenRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<auth::TokenRecord> {
    return RecordOf(Insert(tx, token, now));
  });
}

absl::StatusOr<auth::TokenRecord> PgTokenStore::Revoke(int64_t id, absl::Time now) {
  return Transact<auth::TokenRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<auth::TokenRecord> {
    const pqxx::result rows = tx.exec_params(sql::kRevokeToken, id, Timestamp(now));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("token ", id, ": no such token"));
    return RecordOf(rows[0]);
  });
}

absl::StatusOr<std::vector<auth::TokenRecord>> PgTokenStore::List(bool include_revoked) {
  return Transact<std::vector<auth::TokenRecord>>(
      pool_, [&](pqxx::work& tx) -> absl::StatusOr<std::vector<auth::TokenRecord>> {
        std::vector<auth::TokenRecord> records;
        for (const pqxx::row& row : tx.exec_params(sql::kListTokens, include_revoked)) {
          records.push_back(RecordOf(row));
        }
        return records;
      });
}

absl::StatusOr<auth::TokenRecord> PgTokenStore::CreateFirstAdmin(const auth::NewToken& token,
                                                                 absl::Time now) {
  return Transact<auth::TokenRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<auth::TokenRecord> {
    tx.exec0(sql::kLockTokensForBootstrap);
    if (tx.exec1(sql::kCountActiveAdmins)[0].as<int64_t>() > 0) {
      return absl::FailedPreconditionError(
          "an admin token exists already: make more with `mixsweep token create --role admin`, "
          "or revoke every admin token first");
    }
    return RecordOf(Insert(tx, token, now));
  });
}

}  // namespace mixsweep::db
