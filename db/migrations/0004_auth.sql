-- 0004: bearer tokens, and who registered each worker.

-- A token is stored only as the SHA-256 of its secret (hex): the database
-- never holds a usable token. Revocation is a timestamp, never a delete, so
-- that "who created what" stays answerable.
CREATE TABLE api_tokens (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  principal   text NOT NULL CHECK (principal ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
  role        text NOT NULL
              CHECK (role IN ('admin', 'researcher', 'worker', 'operator', 'viewer')),
  token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  note        text NOT NULL DEFAULT '',
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL,
  revoked_at  timestamptz
);

-- The principal whose worker token registered the worker: only that
-- principal may heartbeat, lease for, or report on the leases it holds.
-- Workers registered before authentication have none, and nobody can act
-- for them (they re-register on their next start).
ALTER TABLE workers ADD COLUMN owner text;
