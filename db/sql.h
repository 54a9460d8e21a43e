// Every SQL statement of mixsweep, as named constants. Parameters are always
// bound ($1, $2, ...), never concatenated into the text.
//
// Bulk inserts take one JSON document (jsonb_to_recordset) instead of one
// statement per row: a 10,000-run sweep is stored in a handful of statements.
#pragma once

namespace mixsweep::db::sql {

// ---- Migrations ------------------------------------------------------------

// "mixsweep" as an int64 key for pg_advisory_xact_lock.
inline constexpr long long kMigrationLockId = 0x6d69787377656570LL;
inline constexpr const char* kLockMigrations = "SELECT pg_advisory_xact_lock($1)";
inline constexpr const char* kCreateSchemaMigrations = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  sql_md5    text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";
inline constexpr const char* kSelectAppliedMigrations =
    "SELECT version, name, sql_md5 FROM schema_migrations ORDER BY version";
inline constexpr const char* kInsertMigration =
    "INSERT INTO schema_migrations (version, name, sql_md5) VALUES ($1, $2, $3)";
inline constexpr const char* kMd5 = "SELECT md5($1)";

// ---- Idempotency -----------------------------------------------------------

// $1 principal, $2 method, $3 key, $4 the request's text.
inline constexpr const char* kFindIdempotencyKey = R"sql(
SELECT result::text, request_md5 = md5($4) AS same_request
FROM idempotency_keys WHERE principal = $1 AND method = $2 AND key = $3)sql";
// $1 principal, $2 method, $3 key, $4 the request's text, $5 result (json).
inline constexpr const char* kInsertIdempotencyKey = R"sql(
INSERT INTO idempotency_keys (principal, method, key, request_md5, result)
VALUES ($1, $2, $3, md5($4), $5::jsonb))sql";

// ---- Events ----------------------------------------------------------------

// $1 kind, $2 sweep_id, $3 principal, $4 detail (json).
inline constexpr const char* kInsertSweepEvent = R"sql(
INSERT INTO events (kind, sweep_id, principal, detail) VALUES ($1, $2, $3, $4::jsonb))sql";
inline constexpr const char* kLatestSweepEventId =
    "SELECT coalesce(max(id), 0) FROM events WHERE sweep_id = $1";

// ---- Sweeps ----------------------------------------------------------------

// $1 name, $2 owner, $3 task, $4 policy, $5 code_version, $6 total_steps,
// $7 pretrain_steps, $8 finetune_steps, $9 priority, $10 max_attempts,
// $11 baseline_from_sweep (nullable).
inline constexpr const char* kInsertSweep = R"sql(
INSERT INTO sweeps (name, owner, task, policy, code_version, total_steps,
                    pretrain_steps, finetune_steps, priority, max_attempts,
                    baseline_from_sweep, design, aggregation)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING id)sql";

// $1 sweep_id, $2 revision, $3 spec_yaml, $4 created_by.
inline constexpr const char* kInsertRevision = R"sql(
INSERT INTO sweep_revisions (sweep_id, revision, spec_yaml, created_by)
VALUES ($1, $2, $3, $4))sql";

// Locks the sweep row alone: with a join, a writer that waited for the lock
// would re-check the join against the new revision number and see no row.
inline constexpr const char* kLockSweepRevision =
    "SELECT revision, state FROM sweeps WHERE id = $1 FOR UPDATE";

inline constexpr const char* kSelectSweepRevision = R"sql(
SELECT s.revision, s.state, r.spec_yaml
FROM sweeps s JOIN sweep_revisions r ON r.sweep_id = s.id AND r.revision = s.revision
WHERE s.id = $1)sql";

// An extension gives a completed sweep new work: it is active again.
inline constexpr const char* kBumpSweepRevision =
    "UPDATE sweeps SET revision = $2, updated_at = now(), "
    "state = CASE WHEN state = 'completed' THEN 'active' ELSE state END WHERE id = $1";

// A sweep completes when nothing is left to do: every job ended and every
// evaluation request complete. Returns the id when it completed now.
#define MIXSWEEP_SWEEP_DONE(SWEEP)                                                    \
  "UPDATE sweeps s SET state = 'completed', updated_at = now() "                      \
  "WHERE s.id = " SWEEP " AND s.state = 'active' "                                    \
  "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.sweep_id = s.id "                     \
  "  AND j.state NOT IN ('succeeded', 'failed', 'cancelled')) "                       \
  "AND NOT EXISTS (SELECT 1 FROM evaluation_requests q WHERE q.sweep_id = s.id "      \
  "  AND q.state = 'open') "                                                          \
  "RETURNING s.id"
// $1 sweep.
inline constexpr const char* kCompleteSweepIfDone = MIXSWEEP_SWEEP_DONE("$1");
// $1 a job of the sweep that just ended.
inline constexpr const char* kCompleteSweepOfJobIfDone =
    MIXSWEEP_SWEEP_DONE("(SELECT sweep_id FROM jobs WHERE id = $1)");
#undef MIXSWEEP_SWEEP_DONE


// Columns of a sweep as read back; times as Unix microseconds.
#define MIXSWEEP_SWEEP_COLUMNS                                              \
  "s.id, s.name, s.owner, s.state, s.revision, r.spec_yaml, "               \
  "coalesce(s.cancel_reason, ''), "                                         \
  "(extract(epoch FROM s.created_at) * 1000000)::bigint, "                  \
  "(extract(epoch FROM s.updated_at) * 1000000)::bigint"

inline constexpr const char* kSelectSweep =
    "SELECT " MIXSWEEP_SWEEP_COLUMNS
    " FROM sweeps s JOIN sweep_revisions r ON r.sweep_id = s.id AND r.revision = s.revision"
    " WHERE s.id = $1";

// $1 owner ('' any), $2 task ('' any), $3 states (text[] literal, '{}' any),
// $4 before_id (0: newest), $5 limit.
inline constexpr const char* kListSweeps =
    "SELECT " MIXSWEEP_SWEEP_COLUMNS
    " FROM sweeps s JOIN sweep_revisions r ON r.sweep_id = s.id AND r.revision = s.revision"
    " WHERE ($1 = '' OR s.owner = $1) AND ($2 = '' OR s.task = $2)"
    "   AND (cardinality($3::text[]) = 0 OR s.state = ANY($3::text[]))"
    "   AND ($4 = 0 OR s.id < $4)"
    " ORDER BY s.id DESC LIMIT $5";

#undef MIXSWEEP_SWEEP_COLUMNS

inline constexpr const char* kLockSweep =
    "SELECT state FROM sweeps WHERE id = $1 FOR UPDATE";

// $1 sweep_id, $2 reason.
inline constexpr const char* kMarkSweepCancelled = R"sql(
UPDATE sweeps SET state = 'cancelled', cancel_reason = $2, updated_at = now()
WHERE id = $1)sql";

// Blocked and queued jobs stop at once.
inline constexpr const char* kCancelWaitingJobs = R"sql(
UPDATE jobs SET state = 'cancelled', finished_at = now()
WHERE sweep_id = $1 AND state IN ('blocked', 'queued'))sql";

// Leased and running jobs are asked to stop; the worker learns it from its
// next heartbeat or report.
inline constexpr const char* kRequestStopOfRunningJobs = R"sql(
UPDATE jobs SET cancel_requested = true
WHERE sweep_id = $1 AND state IN ('leased', 'running'))sql";

// ---- Jobs and runs ---------------------------------------------------------

// $1 sweep_id, $2 a JSON array of jobs. Finetunes start blocked; their
// dependency is resolved by kLinkDependencies.
inline constexpr const char* kInsertJobs = R"sql(
INSERT INTO jobs (sweep_id, key, kind, state, source, dataset_uri, dataset_hash,
                  dataset_episodes, n_demos, seed, steps, command, subset_episodes,
                  checkpoint_steps, priority, gpus, min_gpu_memory_gib, labels, max_attempts,
                  deadline_seconds)
SELECT $1, j.key, j.kind, CASE WHEN j.depends_on = '' THEN 'queued' ELSE 'blocked' END,
       j.source, j.dataset_uri, j.dataset_hash, j.dataset_episodes, j.n_demos, j.seed,
       j.steps, j.command, j.subset_episodes, j.checkpoint_steps, j.priority, j.gpus,
       j.min_gpu_memory_gib, j.labels, j.max_attempts, j.deadline_seconds
FROM jsonb_to_recordset($2::jsonb) AS j(
  key text, kind text, depends_on text, source text, dataset_uri text, dataset_hash text,
  dataset_episodes bigint, n_demos bigint, seed bigint, steps bigint, command jsonb,
  subset_episodes bigint[], checkpoint_steps bigint[], priority integer, gpus integer,
  min_gpu_memory_gib double precision, labels jsonb, max_attempts integer,
  deadline_seconds bigint))sql";

// $1 sweep_id, $2 JSON array of {key, depends_on}. A dependency that already
// succeeded (an extension reusing a finished pretrain) makes the job ready at
// once; one that failed or was cancelled ends it the same way.
inline constexpr const char* kLinkDependencies = R"sql(
UPDATE jobs f
SET depends_on_job_id = p.id,
    state = CASE p.state WHEN 'succeeded' THEN 'queued'
                         WHEN 'failed' THEN 'failed'
                         WHEN 'cancelled' THEN 'cancelled'
                         ELSE 'blocked' END,
    failure = CASE WHEN p.state = 'failed' THEN jsonb_build_object(
                'kind', 'dependency_failed',
                'message', p.kind || ' job ' || p.id || ' failed: ' ||
                           coalesce(p.failure->>'message', '')) END,
    finished_at = CASE WHEN p.state IN ('failed', 'cancelled') THEN now() END
FROM jsonb_to_recordset($2::jsonb) AS d(key text, depends_on text), jobs p
WHERE f.sweep_id = $1 AND f.key = d.key AND d.depends_on <> ''
  AND p.sweep_id = $1 AND p.key = d.depends_on)sql";

// $1 sweep_id, $2 JSON array of runs (job references by key), $3 revision.
inline constexpr const char* kInsertRuns = R"sql(
INSERT INTO runs (sweep_id, key, n_tele, source, source_kind, n_nt, seed,
                  train_job_id, pretrain_job_id, finetune_job_id, revision_added)
SELECT $1, r.key, r.n_tele, r.source, r.source_kind, r.n_nt, r.seed,
       t.id, p.id, f.id, $3
FROM jsonb_to_recordset($2::jsonb) AS r(
  key text, n_tele bigint, source text, source_kind text, n_nt bigint, seed bigint,
  train_job text, pretrain_job text, finetune_job text)
LEFT JOIN jobs t ON t.sweep_id = $1 AND t.key = r.train_job
LEFT JOIN jobs p ON p.sweep_id = $1 AND p.key = r.pretrain_job
LEFT JOIN jobs f ON f.sweep_id = $1 AND f.key = r.finetune_job)sql";

// A cancelled sweep asks no operator for more trials. $1 sweep_id.
inline constexpr const char* kCancelOpenEvaluations =
    "UPDATE evaluation_requests SET state = 'cancelled' WHERE sweep_id = $1 AND state = 'open'";

// $1 sweep_id, $2 scenarios json [{name, position, trials_wanted, platform,
// evaluator, command, eval_seed}]. An extension repeats them: they cannot
// change, so existing rows stay.
inline constexpr const char* kInsertScenarios = R"sql(
INSERT INTO sweep_scenarios (sweep_id, name, position, trials_wanted, platform, evaluator,
                             command, eval_seed)
SELECT $1, s.name, s.position, s.trials_wanted, s.platform, s.evaluator, s.command, s.eval_seed
FROM jsonb_to_recordset($2::jsonb) AS s(name text, position integer, trials_wanted integer,
                                         platform text, evaluator text, command jsonb,
                                         eval_seed bigint)
ON CONFLICT (sweep_id, name) DO NOTHING)sql";

// A sweep's generate jobs with what their generators reported. $1 sweep_id.
inline constexpr const char* kSelectGenerations = R"sql(
SELECT j.id, j.source, j.state, g.job_id IS NOT NULL, coalesce(g.dataset_uri, ''),
       coalesce(g.num_success, 0), coalesce(g.num_attempts, 0), coalesce(g.seconds, 0)
FROM jobs j LEFT JOIN generations g ON g.job_id = j.id
WHERE j.sweep_id = $1 AND j.kind = 'generate'
ORDER BY j.id)sql";

// Runs with the states of their jobs, for run states and counts.
inline constexpr const char* kSelectRuns = R"sql(
SELECT r.id, r.sweep_id, r.key, r.n_tele, r.source, r.source_kind, r.n_nt, r.seed,
       coalesce(r.train_job_id, 0), coalesce(r.pretrain_job_id, 0),
       coalesce(r.finetune_job_id, 0), coalesce(r.checkpoint_uri, ''),
       r.revision_added, t.state, p.state, f.state,
       (SELECT count(*) FILTER (WHERE e.state = 'open') FROM evaluation_requests e
        WHERE e.run_id = r.id),
       (SELECT count(*) FILTER (WHERE e.state = 'complete') FROM evaluation_requests e
        WHERE e.run_id = r.id)
FROM runs r
LEFT JOIN jobs t ON t.id = r.train_job_id
LEFT JOIN jobs p ON p.id = r.pretrain_job_id
LEFT JOIN jobs f ON f.id = r.finetune_job_id
WHERE r.sweep_id = $1
ORDER BY r.id)sql";

inline constexpr const char* kCountJobs = R"sql(
SELECT state, kind, count(*) FROM jobs WHERE sweep_id = $1 GROUP BY state, kind)sql";

// Columns of a job as read back (kSelectJobs / kSelectJob).
#define MIXSWEEP_JOB_COLUMNS                                                   \
  "j.id, j.sweep_id, j.key, j.kind, j.state, j.source, j.dataset_uri, "        \
  "j.dataset_hash, j.dataset_episodes, j.n_demos, j.seed, j.steps, "           \
  "coalesce(j.depends_on_job_id, 0), j.attempts, j.max_attempts, j.priority, " \
  "coalesce(j.lease_worker_id, 0), coalesce(j.fencing_token, 0), "             \
  "(extract(epoch FROM j.lease_expires_at) * 1000000)::bigint, "               \
  "j.cancel_requested, coalesce(j.output_uri, ''), "                          \
  "coalesce(j.checkpoint_uri, ''), coalesce(j.failure->>'message', ''), "      \
  "j.gpu_seconds, (extract(epoch FROM j.created_at) * 1000000)::bigint, "      \
  "(extract(epoch FROM j.started_at) * 1000000)::bigint, "                     \
  "(extract(epoch FROM j.finished_at) * 1000000)::bigint, "                    \
  "coalesce(j.failure->>'kind', ''), coalesce((j.failure->>'exit_code')::int, 0), "   \
  "coalesce((j.failure->>'signal')::int, 0), "                                   \
  "(extract(epoch FROM j.not_before) * 1000000)::bigint, "                       \
  "coalesce(j.progress::text, ''), coalesce(j.provenance::text, '')"

inline constexpr const char* kSelectJobs =
    "SELECT " MIXSWEEP_JOB_COLUMNS " FROM jobs j WHERE j.sweep_id = $1 ORDER BY j.id";

inline constexpr const char* kSelectJob =
    "SELECT " MIXSWEEP_JOB_COLUMNS
    ", array_to_string(j.subset_episodes, ',') FROM jobs j WHERE j.id = $1";

#undef MIXSWEEP_JOB_COLUMNS

// The runs that use each job of a sweep (a shared pretrain has several).
inline constexpr const char* kSelectRunIdsOfJobs = R"sql(
SELECT job_id, run_id FROM (
  SELECT train_job_id AS job_id, id AS run_id FROM runs WHERE sweep_id = $1 AND train_job_id IS NOT NULL
  UNION ALL
  SELECT pretrain_job_id, id FROM runs WHERE sweep_id = $1 AND pretrain_job_id IS NOT NULL
  UNION ALL
  SELECT finetune_job_id, id FROM runs WHERE sweep_id = $1 AND finetune_job_id IS NOT NULL
) uses ORDER BY job_id, run_id)sql";

inline constexpr const char* kSelectRunIdsOfJob = R"sql(
SELECT id FROM runs WHERE train_job_id = $1
UNION SELECT id FROM runs WHERE pretrain_job_id = $1
UNION SELECT id FROM runs WHERE finetune_job_id = $1
ORDER BY 1)sql";

}  // namespace mixsweep::db::sql
