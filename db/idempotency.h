// Retried writes: the first answer under (principal, method, key) is kept in
// idempotency_keys, in the transaction of the write itself, and replayed.
//
// Example (inside a store method):
//   return RetryOnIdempotencyRace(ctx, [&] {
//     return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
//       auto replay = FindReplay(tx, ctx, "RecordTrials", request_text);
//       if (!replay.ok()) return replay.status();
//       if (*replay) return FromStoredAnswer(**replay);
//       ... write ...
//       RememberResult(tx, ctx, "RecordTrials", request_text, answer_json);
//     });
//   });
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::db {

// The stored result of an earlier request with the same key, if any.
// INVALID_ARGUMENT when the key was used for a different request.
absl::StatusOr<std::optional<nlohmann::json>> FindReplay(pqxx::work& tx,
                                                         const scheduler::WriteContext& ctx,
                                                         const char* method,
                                                         const std::string& request_text);

// Keeps `result` as the answer to the key (no-op without a key).
void RememberResult(pqxx::work& tx, const scheduler::WriteContext& ctx, const char* method,
                    const std::string& request_text, const nlohmann::json& result);

// Two requests with one key race: the loser's insert of the key fails with a
// unique violation and rolls back; running it again replays the winner's.
template <typename Fn>
auto RetryOnIdempotencyRace(const scheduler::WriteContext& ctx, Fn fn) -> decltype(fn()) {
  auto result = fn();
  if (!result.ok() && absl::IsAlreadyExists(result.status()) && !ctx.idempotency_key.empty()) {
    result = fn();
  }
  return result;
}

}  // namespace mixsweep::db
