// SQL of the token store (db/pg_token_store). Parameters are always bound.
#pragma once

namespace mixsweep::db::sql {

// $1 hash.
inline constexpr const char* kFindTokenByHash = R"sql(
SELECT id, principal, role, note, created_by,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM revoked_at) * 1000000)::bigint
FROM api_tokens WHERE token_hash = $1)sql";

// $1 principal, $2 role, $3 hash, $4 note, $5 created_by, $6 now.
inline constexpr const char* kInsertToken = R"sql(
INSERT INTO api_tokens (principal, role, token_hash, note, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6::timestamptz)
RETURNING id, principal, role, note, created_by,
          (extract(epoch FROM created_at) * 1000000)::bigint,
          (extract(epoch FROM revoked_at) * 1000000)::bigint)sql";

// $1 id, $2 now. Sets revoked_at only once.
inline constexpr const char* kRevokeToken = R"sql(
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2::timestamptz)
WHERE id = $1
RETURNING id, principal, role, note, created_by,
          (extract(epoch FROM created_at) * 1000000)::bigint,
          (extract(epoch FROM revoked_at) * 1000000)::bigint)sql";

// $1 include revoked.
inline constexpr const char* kListTokens = R"sql(
SELECT id, principal, role, note, created_by,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       (extract(epoch FROM revoked_at) * 1000000)::bigint
FROM api_tokens WHERE $1 OR revoked_at IS NULL ORDER BY id)sql";

// Bootstrap: two concurrent bootstraps must not both make an admin.
inline constexpr const char* kLockTokensForBootstrap =
    "LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE";
inline constexpr const char* kCountActiveAdmins =
    "SELECT count(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL";

// $1 worker. The principal that registered it (NULL: none).
inline constexpr const char* kWorkerOwner = "SELECT owner FROM workers WHERE id = $1";

// $1 job. The owner of the worker holding the job's lease, if any.
inline constexpr const char* kLeaseHolderOwner = R"sql(
SELECT w.id, w.owner FROM jobs j JOIN workers w ON w.id = j.lease_worker_id
WHERE j.id = $1)sql";

}  // namespace mixsweep::db::sql
