-- 0002: what leasing and job reports need.

-- Round-robin among sweeps of equal priority: the one served longest ago
-- goes first. A sequence, not a time: leases in the same instant (or from
-- replicas whose clocks differ) still take turns.
CREATE SEQUENCE sweep_service_order;
ALTER TABLE sweeps ADD COLUMN last_served bigint;
ALTER TABLE sweeps ADD COLUMN last_leased_at timestamptz;

-- A retried LeaseJob (same worker, same key) gets the same lease back.
ALTER TABLE jobs ADD COLUMN lease_idempotency_key text;
-- The last checkpoint of a handed-back (preempted) attempt, for {resume_checkpoint}.
ALTER TABLE jobs ADD COLUMN resume_checkpoint_uri text;
-- A job that runs longer than this after its lease fails as DEADLINE_EXCEEDED.
ALTER TABLE jobs ADD COLUMN deadline_seconds bigint CHECK (deadline_seconds > 0);
ALTER TABLE jobs ADD COLUMN deadline_at timestamptz;

-- Leasing looks for the first ready job of a sweep.
CREATE INDEX jobs_ready_by_sweep ON jobs (sweep_id, id) WHERE state = 'queued';
CREATE INDEX jobs_deadline ON jobs (deadline_at) WHERE deadline_at IS NOT NULL
  AND state IN ('leased', 'running');
CREATE INDEX jobs_lease_worker ON jobs (lease_worker_id) WHERE state IN ('leased', 'running');

-- A retried RegisterWorker gets the same worker back.
ALTER TABLE workers ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX workers_idempotency ON workers (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_job ON events (job_id, id) WHERE job_id IS NOT NULL;
