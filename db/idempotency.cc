#include "db/idempotency.h"

#include "absl/strings/str_cat.h"
#include "db/sql.h"

namespace mixsweep::db {

absl::StatusOr<std::optional<nlohmann::json>> FindReplay(pqxx::work& tx,
                                                         const scheduler::WriteContext& ctx,
                                                         const char* method,
                                                         const std::string& request_text) {
  if (ctx.idempotency_key.empty()) return std::nullopt;
  const pqxx::result rows = tx.exec_params(sql::kFindIdempotencyKey, ctx.principal, method,
                                           ctx.idempotency_key, request_text);
  if (rows.empty()) return std::nullopt;
  if (!rows[0][1].as<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "idempotency_key: '", ctx.idempotency_key, "' was already used for a different ", method,
        " request; use a new key for a new request"));
  }
  return nlohmann::json::parse(rows[0][0].as<std::string>());
}

void RememberResult(pqxx::work& tx, const scheduler::WriteContext& ctx, const char* method,
                    const std::string& request_text, const nlohmann::json& result) {
  if (ctx.idempotency_key.empty()) return;
  tx.exec_params(sql::kInsertIdempotencyKey, ctx.principal, method, ctx.idempotency_key,
                 request_text, result.dump());
}

}  // namespace mixsweep::db
