// The SQL of leasing and job reports (db::PgJobStore), as named constants.
// Parameters are always bound. Times come in as parameters ($now, from the
// service's injectable clock) so that tests move time instead of sleeping.
#pragma once

namespace mixsweep::db::sql {

// ---- Workers -----------------------------------------------------------------

// $1 name, $2 host, $3 gpus json, $4 labels json, $5 version, $6 synthetic,
// $7 idempotency key (nullable), $8 now, $9 owner (nullable).
inline constexpr const char* kRegisterWorker = R"sql(
INSERT INTO workers (name, host, gpus, labels, version, synthetic, idempotency_key,
                     registered_at, last_heartbeat_at, state, owner)
VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8::timestamptz, $8::timestamptz, 'alive', $9)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL
DO UPDATE SET last_heartbeat_at = EXCLUDED.last_heartbeat_at, state = 'alive'
RETURNING id)sql";

// $1 worker, $2 draining, $3 now.
inline constexpr const char* kTouchWorker = R"sql(
UPDATE workers SET last_heartbeat_at = $3::timestamptz,
                   state = CASE WHEN $2 THEN 'draining' ELSE 'alive' END
WHERE id = $1 AND state <> 'gone'
RETURNING labels::text)sql";

inline constexpr const char* kWorkerLabelsAndGpus =
    "SELECT labels::text, gpus::text FROM workers WHERE id = $1";

// $1 now - ttl.
inline constexpr const char* kMarkLostWorkers = R"sql(
UPDATE workers SET state = 'lost'
WHERE state IN ('alive', 'draining') AND last_heartbeat_at < $1::timestamptz)sql";

inline constexpr const char* kListWorkers = R"sql(
SELECT w.id, w.name, w.host, w.gpus::text, w.labels::text, w.version, w.synthetic, w.state,
       (extract(epoch FROM w.registered_at) * 1000000)::bigint,
       (extract(epoch FROM w.last_heartbeat_at) * 1000000)::bigint,
       coalesce((SELECT array_to_string(array_agg(j.id ORDER BY j.id), ',') FROM jobs j
                 WHERE j.lease_worker_id = w.id AND j.state IN ('leased', 'running')), ''),
       coalesce(w.owner, '')
FROM workers w
WHERE $1 OR w.state <> 'gone'
ORDER BY w.id)sql";

// ---- Leasing -----------------------------------------------------------------

// A lease this worker already holds under this idempotency key.
// $1 worker, $2 key.
inline constexpr const char* kFindLeaseByKey = R"sql(
SELECT id FROM jobs
WHERE lease_worker_id = $1 AND lease_idempotency_key = $2 AND state IN ('leased', 'running'))sql";

// Picks and leases one job. Sweeps are ordered first (highest priority,
// then the one served longest ago: round-robin), and only then is the first
// matching ready job of each looked up and locked, stopping at the first
// found, so one call locks one job. SKIP LOCKED lets concurrent leases (any
// replica) pass each other; two workers never get the same job.
// $1 worker, $2 free GPUs, $3 GPU memory GiB, $4 worker labels json,
// $5 now, $6 ttl ms, $7 idempotency key, $8 artifact root.
inline constexpr const char* kLeaseJob = R"sql(
WITH picked AS (
  SELECT j.id, j.sweep_id
  FROM (SELECT id FROM sweeps WHERE state = 'active'
        ORDER BY priority DESC, last_served ASC NULLS FIRST, id) s
  CROSS JOIN LATERAL (
    SELECT j.id, j.sweep_id FROM jobs j
    WHERE j.sweep_id = s.id AND j.state = 'queued'
      AND (j.not_before IS NULL OR j.not_before <= $5::timestamptz)
      AND j.gpus <= $2 AND j.min_gpu_memory_gib <= $3 AND $4::jsonb @> j.labels
    ORDER BY j.id
    LIMIT 1
    FOR NO KEY UPDATE OF j SKIP LOCKED) j
  LIMIT 1
)
UPDATE jobs SET
  state = 'leased',
  lease_worker_id = $1,
  fencing_token = nextval('fencing_tokens'),
  lease_expires_at = $5::timestamptz + $6 * interval '1 millisecond',
  lease_idempotency_key = $7,
  attempts = jobs.attempts + 1,
  output_uri = $8 || '/sweep-' || jobs.sweep_id || '/job-' || jobs.id || '/attempt-' || (jobs.attempts + 1),
  started_at = coalesce(jobs.started_at, $5::timestamptz),
  deadline_at = $5::timestamptz + jobs.deadline_seconds * interval '1 second',
  progress = NULL,
  not_before = NULL
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.id, jobs.sweep_id)sql";

// Moves the sweep to the back of its priority's turn. SKIP LOCKED: if the
// row is locked (a concurrent lease of the same sweep, or a cancel), skip
// the bookkeeping rather than wait: leases of one sweep never queue behind
// each other, and a lease (job row, then sweep row) cannot deadlock with a
// cancel (sweep row, then job rows). NO KEY UPDATE, the lock an UPDATE of
// non-key columns takes anyway: FOR UPDATE would also block the foreign-key
// checks (FOR KEY SHARE) of every event and request row other transactions
// insert for this sweep until the lease commits. $1 sweep, $2 now.
inline constexpr const char* kMarkSweepServed = R"sql(
UPDATE sweeps SET last_served = nextval('sweep_service_order'), last_leased_at = $2::timestamptz
WHERE id = (SELECT id FROM sweeps WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED))sql";

// Serialises leases of one worker under one idempotency key, so that two
// concurrent retries of one LeaseJob cannot both grant a job. $1 worker, $2 key.
inline constexpr const char* kLockLeaseKey =
    "SELECT pg_advisory_xact_lock(hashtextextended($2, $1))";

// Everything a worker needs about a leased job: a job that depends on a
// generate job reads the generated dataset, one that depends on a pretrain
// starts from its checkpoint, an evaluate job evaluates its request's
// checkpoint. $1 job.
inline constexpr const char* kSelectLeasedJob = R"sql(
SELECT j.fencing_token, (extract(epoch FROM j.lease_expires_at) * 1000000)::bigint,
       j.command::text, coalesce(p.checkpoint_uri, ''), coalesce(j.resume_checkpoint_uri, ''),
       s.code_version, s.policy, s.task, j.gpus, j.min_gpu_memory_gib,
       coalesce(j.deadline_seconds, 0), coalesce(p.kind, ''),
       array_to_string(j.checkpoint_steps, ','), coalesce(q.id, 0), coalesce(q.scenario, ''),
       coalesce(q.checkpoint_uri, ''), coalesce(q.trials_wanted, 0),
       coalesce(q.checkpoint_step, 0)
FROM jobs j
JOIN sweeps s ON s.id = j.sweep_id
LEFT JOIN jobs p ON p.id = j.depends_on_job_id
LEFT JOIN evaluation_requests q ON q.id = j.evaluation_request_id
WHERE j.id = $1)sql";

// ---- Reports -----------------------------------------------------------------

// Extends the named leases the worker holds. $1 worker, $2 job ids (bigint[]
// literal), $3 tokens (bigint[] literal), $4 now, $5 ttl ms.
inline constexpr const char* kExtendLeases = R"sql(
UPDATE jobs j SET lease_expires_at = $4::timestamptz + $5 * interval '1 millisecond'
FROM unnest($2::bigint[], $3::bigint[]) AS l(id, token)
WHERE j.id = l.id AND j.fencing_token = l.token AND j.lease_worker_id = $1
  AND j.state IN ('leased', 'running')
RETURNING j.id, j.cancel_requested, (extract(epoch FROM j.lease_expires_at) * 1000000)::bigint)sql";

// $1 job, $2 token, $3 started, $4 progress json (nullable),
// $5 provenance json (nullable), $6 now, $7 ttl ms.
inline constexpr const char* kReportProgress = R"sql(
UPDATE jobs SET
  lease_expires_at = $6::timestamptz + $7 * interval '1 millisecond',
  state = CASE WHEN $3 AND state = 'leased' THEN 'running' ELSE state END,
  progress = coalesce($4::jsonb, progress),
  provenance = coalesce($5::jsonb, provenance)
WHERE id = $1 AND fencing_token = $2 AND state IN ('leased', 'running')
RETURNING cancel_requested, (extract(epoch FROM lease_expires_at) * 1000000)::bigint)sql";

// The job row of a report, locked. Row locks here are NO KEY UPDATE: no
// statement changes a job's id, and FOR UPDATE would also hold up other
// transactions' foreign-key checks on the row (events, dependents). $1 job.
inline constexpr const char* kLockJob = R"sql(
SELECT state, coalesce(fencing_token, 0), attempts, max_attempts, cancel_requested, sweep_id,
       coalesce(failure->>'fencing_token', ''), coalesce(failure->>'by', ''),
       (extract(epoch FROM not_before) * 1000000)::bigint, kind, source, n_demos, steps,
       array_to_string(checkpoint_steps, ','), coalesce(evaluation_request_id, 0)
FROM jobs WHERE id = $1 FOR NO KEY UPDATE)sql";

// $1 job, $2 checkpoint, $3 gpu seconds, $4 provenance (nullable),
// $5 final metrics json (nullable), $6 now.
inline constexpr const char* kMarkSucceeded = R"sql(
UPDATE jobs SET state = 'succeeded', checkpoint_uri = $2, gpu_seconds = gpu_seconds + $3,
  provenance = coalesce($4::jsonb, provenance),
  progress = CASE WHEN $5::jsonb IS NULL THEN progress
                  ELSE jsonb_set(coalesce(progress, '{}'), '{final_metrics}', $5::jsonb) END,
  finished_at = $6::timestamptz, lease_expires_at = NULL, deadline_at = NULL
WHERE id = $1)sql";

// Finetunes waiting for this pretrain become ready. $1 job.
inline constexpr const char* kUnblockDependents = R"sql(
UPDATE jobs SET state = 'queued' WHERE depends_on_job_id = $1 AND state = 'blocked'
RETURNING id)sql";

// The run's final checkpoint. $1 job, $2 checkpoint.
inline constexpr const char* kSetRunCheckpoint = R"sql(
UPDATE runs SET checkpoint_uri = $2 WHERE train_job_id = $1 OR finetune_job_id = $1)sql";

// The run's checkpoints are ready: one evaluation request per scenario of
// its sweep for the final checkpoint, and for simulation scenarios one per
// intermediate checkpoint too, each under a random opaque label (48 bits:
// collisions are negligible, and the UNIQUE constraint turns one into a
// retried call). $1 the train or finetune job that succeeded, $2 its final
// checkpoint, $3 its final step, $4 its intermediate checkpoints
// [{step, uri}]. The run is found through runs_train and runs_finetune, one
// branch each: with `train_job_id = $1 OR finetune_job_id = $1` the planner
// could walk every run of the sweep (1.4 ms per completion at 2,000 runs).
inline constexpr const char* kQueueEvaluations = R"sql(
WITH checkpoints AS (
  SELECT $2::text AS uri, $3::bigint AS step, true AS final
  UNION ALL
  SELECT c.uri, c.step, false FROM jsonb_to_recordset($4::jsonb) AS c(step bigint, uri text))
INSERT INTO evaluation_requests (sweep_id, run_id, scenario, checkpoint_uri, trials_wanted,
                                 platform, blind_label, checkpoint_step, evaluator)
SELECT r.sweep_id, r.id, s.name, c.uri, s.trials_wanted, s.platform,
       'P-' || upper(substr(md5(gen_random_uuid()::text), 1, 12)), c.step, s.evaluator
FROM (SELECT id, sweep_id FROM runs WHERE train_job_id = $1
      UNION ALL
      SELECT id, sweep_id FROM runs WHERE finetune_job_id = $1) r
JOIN sweep_scenarios s ON s.sweep_id = r.sweep_id
JOIN sweeps w ON w.id = r.sweep_id AND w.state = 'active'
JOIN checkpoints c ON c.final OR s.evaluator = 'simulation'
ORDER BY r.id, s.position, c.step
ON CONFLICT (run_id, scenario, checkpoint_uri) DO NOTHING
RETURNING id)sql";

// One evaluate job per new simulation request, with the resources and
// retries of the training job whose checkpoint it evaluates. $1 that job,
// $2 the new request ids (bigint[] literal).
inline constexpr const char* kInsertEvaluateJobs = R"sql(
INSERT INTO jobs (sweep_id, key, kind, state, source, dataset_uri, dataset_hash,
                  dataset_episodes, n_demos, seed, steps, command, subset_episodes, priority,
                  gpus, min_gpu_memory_gib, labels, max_attempts, deadline_seconds,
                  depends_on_job_id, evaluation_request_id)
SELECT q.sweep_id, 'evaluate/' || q.scenario || '/run' || q.run_id || '/step' || q.checkpoint_step,
       'evaluate', 'queued', t.source, '', '', 0, 0, s.eval_seed, 0, s.command, '{}',
       t.priority, t.gpus, t.min_gpu_memory_gib, t.labels, t.max_attempts, t.deadline_seconds,
       t.id, q.id
FROM evaluation_requests q
JOIN sweep_scenarios s ON s.sweep_id = q.sweep_id AND s.name = q.scenario
JOIN jobs t ON t.id = $1
WHERE q.id = ANY($2::bigint[]) AND q.evaluator = 'simulation'
ORDER BY q.id
RETURNING id)sql";

// A generate job's outcome, in its completion's transaction. $1 job,
// $2 dataset uri, $3 successes, $4 attempts, $5 seconds.
inline constexpr const char* kInsertGeneration = R"sql(
INSERT INTO generations (job_id, sweep_id, source, dataset_uri, num_success, num_attempts,
                         seconds)
SELECT j.id, j.sweep_id, j.source, $2, $3, $4, $5 FROM jobs j WHERE j.id = $1)sql";

// An evaluate job failed for good: its request will get no trials, so it
// stops holding its sweep open. $1 job.
inline constexpr const char* kCancelRequestOfJob = R"sql(
UPDATE evaluation_requests SET state = 'cancelled'
WHERE id = (SELECT evaluation_request_id FROM jobs WHERE id = $1) AND state = 'open')sql";

// $1 job, $2 failure json, $3 gpu seconds, $4 not_before.
inline constexpr const char* kRequeueAfterFailure = R"sql(
UPDATE jobs SET state = 'queued', failure = $2::jsonb, gpu_seconds = gpu_seconds + $3,
  not_before = $4::timestamptz, lease_expires_at = NULL, deadline_at = NULL
WHERE id = $1)sql";

// $1 job, $2 failure json, $3 gpu seconds, $4 now, $5 final state.
inline constexpr const char* kEndJob = R"sql(
UPDATE jobs SET state = $5, failure = $2::jsonb, gpu_seconds = gpu_seconds + $3,
  finished_at = $4::timestamptz, lease_expires_at = NULL, deadline_at = NULL
WHERE id = $1)sql";

// Jobs that can never run because a job they need failed: its dependents
// and theirs (generate -> pretrain -> finetune). $1 job, $2 now.
inline constexpr const char* kFailDependents = R"sql(
WITH RECURSIVE doomed(id) AS (
  SELECT d.id FROM jobs d WHERE d.depends_on_job_id = $1 AND d.state IN ('blocked', 'queued')
  UNION
  SELECT d.id FROM jobs d JOIN doomed x ON d.depends_on_job_id = x.id
  WHERE d.state IN ('blocked', 'queued'))
UPDATE jobs d SET state = 'failed', finished_at = $2::timestamptz,
  failure = jsonb_build_object('kind', 'dependency_failed',
    'message', p.kind || ' job ' || p.id || ' failed: ' || coalesce(p.failure->>'message', ''))
FROM jobs p, doomed x
WHERE p.id = $1 AND d.id = x.id
RETURNING d.id)sql";

// A job handed back runs again without using an attempt (or ends, when its
// sweep was cancelled). $1 job, $2 resume checkpoint (nullable),
// $3 gpu seconds, $4 now.
inline constexpr const char* kHandBack = R"sql(
UPDATE jobs SET
  state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
  attempts = CASE WHEN cancel_requested THEN attempts ELSE greatest(attempts - 1, 0) END,
  resume_checkpoint_uri = coalesce($2, resume_checkpoint_uri),
  gpu_seconds = gpu_seconds + $3,
  finished_at = CASE WHEN cancel_requested THEN $4::timestamptz END,
  failure = jsonb_build_object('kind', 'handed_back', 'by', 'hand_back',
                               'fencing_token', fencing_token::text),
  lease_expires_at = NULL, deadline_at = NULL, not_before = NULL
WHERE id = $1
RETURNING state)sql";

// ---- Expiry ------------------------------------------------------------------

// $1 now.
inline constexpr const char* kSelectExpiredLeases = R"sql(
SELECT id, attempts, max_attempts, cancel_requested, coalesce(fencing_token, 0)
FROM jobs
WHERE state IN ('leased', 'running') AND lease_expires_at < $1::timestamptz
ORDER BY id
FOR NO KEY UPDATE SKIP LOCKED)sql";

// $1 now.
inline constexpr const char* kSelectPastDeadline = R"sql(
SELECT id, coalesce(fencing_token, 0), coalesce(deadline_seconds, 0)
FROM jobs
WHERE state IN ('leased', 'running') AND deadline_at < $1::timestamptz
ORDER BY id
FOR NO KEY UPDATE SKIP LOCKED)sql";

// ---- Logs --------------------------------------------------------------------

// $1 job, $2 token.
inline constexpr const char* kLeaseAttempt = R"sql(
SELECT attempts FROM jobs
WHERE id = $1 AND fencing_token = $2 AND state IN ('leased', 'running')
FOR SHARE)sql";

// $1 job, $2 fencing token, $3 attempt, $4 offset, $5 data.
inline constexpr const char* kInsertLogChunk = R"sql(
INSERT INTO job_log_chunks (job_id, fencing_token, attempt, byte_offset, data)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING)sql";

// Keeps the last $3 bytes of lease $2's log and drops older leases' logs
// once the current one has that much. $1 job, $2 fencing token, $3 keep bytes.
inline constexpr const char* kTrimLog = R"sql(
WITH head AS (
  SELECT coalesce(max(byte_offset + length(data)), 0) AS end_offset
  FROM job_log_chunks WHERE job_id = $1 AND fencing_token = $2
)
DELETE FROM job_log_chunks c USING head
WHERE c.job_id = $1
  AND ((c.fencing_token = $2 AND c.byte_offset + length(c.data) <= head.end_offset - $3)
    OR (c.fencing_token < $2 AND head.end_offset >= $3)))sql";

// The latest lease's log. $1 job.
inline constexpr const char* kSelectLog = R"sql(
SELECT attempt, byte_offset, data FROM job_log_chunks
WHERE job_id = $1
  AND fencing_token = (SELECT max(fencing_token) FROM job_log_chunks WHERE job_id = $1)
ORDER BY byte_offset)sql";

// ---- Events ------------------------------------------------------------------

// $1 kind, $2 job, $3 detail json.
inline constexpr const char* kInsertJobEvent = R"sql(
INSERT INTO events (kind, sweep_id, job_id, detail)
SELECT $1, sweep_id, id, $3::jsonb FROM jobs WHERE id = $2)sql";

}  // namespace mixsweep::db::sql
