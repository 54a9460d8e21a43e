// SQL of PgSystemStatsStore: whole-system counts for the metrics endpoint.
// Each is one aggregate over a table; together they run in one read-only
// REPEATABLE READ transaction, so a snapshot is consistent.
#pragma once

namespace mixsweep::db::sql {

inline constexpr const char* kJobsByKindState =
    "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state";

inline constexpr const char* kSweepsByState = "SELECT state, count(*) FROM sweeps GROUP BY state";

inline constexpr const char* kActiveSweepJobs = R"sql(
SELECT j.sweep_id, j.state, count(*)
FROM jobs j JOIN sweeps s ON s.id = j.sweep_id
WHERE s.state = 'active'
GROUP BY j.sweep_id, j.state)sql";

inline constexpr const char* kActiveSweepRequests = R"sql(
SELECT r.sweep_id,
       count(*) FILTER (WHERE r.state <> 'cancelled'),
       count(*) FILTER (WHERE r.state = 'complete')
FROM evaluation_requests r JOIN sweeps s ON s.id = r.sweep_id
WHERE s.state = 'active'
GROUP BY r.sweep_id)sql";

// The newest event that is progress: a job done, trials recorded, the sweep
// submitted or extended (a job that keeps failing is activity, not progress).
// A backward scan of events_sweep that stops at the first match.
inline constexpr const char* kActiveSweepLastProgress = R"sql(
SELECT s.id,
       (SELECT (extract(epoch FROM e.at) * 1000000)::bigint
        FROM events e
        WHERE e.sweep_id = s.id
          AND e.kind IN ('job.succeeded', 'trials.recorded', 'sweep.submitted', 'sweep.extended')
        ORDER BY e.id DESC LIMIT 1)
FROM sweeps s WHERE s.state = 'active')sql";

inline constexpr const char* kRequestsByState =
    "SELECT state, count(*) FROM evaluation_requests GROUP BY state";

inline constexpr const char* kWorkersByState = R"sql(
SELECT state, count(*), coalesce(sum(jsonb_array_length(gpus)), 0)
FROM workers GROUP BY state)sql";

inline constexpr const char* kBusyGpus = R"sql(
SELECT coalesce(sum(j.gpus), 0)
FROM jobs j JOIN workers w ON w.id = j.lease_worker_id
WHERE j.state IN ('leased', 'running') AND w.state IN ('alive', 'draining'))sql";

// Counted on the events_kind index (migration 0005).
inline constexpr const char* kEventCounts = R"sql(
SELECT kind, count(*) FROM events
WHERE kind IN ('job.leased', 'job.lease_expired', 'job.retrying', 'job.failed')
GROUP BY kind)sql";

inline constexpr const char* kTrialCounts = R"sql(
SELECT count(*) FILTER (WHERE supersedes_trial_id IS NULL),
       count(*) FILTER (WHERE supersedes_trial_id IS NOT NULL)
FROM trials)sql";

// Histogram buckets of succeeded jobs, computed in the database so that no
// row leaves it. $1 is the bucket bounds negated and in ascending order:
// width_bucket(-x, -bounds) counts the bounds >= x, so the index
// (number of bounds) - that is the number of bounds < x, i.e. the first
// bucket whose bound x does not exceed (Prometheus's `le`).
inline constexpr const char* kJobDurationBuckets = R"sql(
SELECT kind, width_bucket(-x, $1::float8[]) AS b, count(*), sum(x)
FROM (SELECT kind, extract(epoch FROM finished_at - started_at)::float8 AS x
      FROM jobs WHERE state = 'succeeded' AND started_at IS NOT NULL) t
GROUP BY kind, b)sql";

inline constexpr const char* kJobGpuSecondsBuckets = R"sql(
SELECT kind, width_bucket(-gpu_seconds, $1::float8[]) AS b, count(*), sum(gpu_seconds)
FROM jobs WHERE state = 'succeeded'
GROUP BY kind, b)sql";

inline constexpr const char* kEstimateSweeps = R"sql(
SELECT id FROM sweeps
WHERE state = 'active'
   OR (state = 'completed' AND updated_at > now() - make_interval(days => $1::int))
ORDER BY id)sql";

}  // namespace mixsweep::db::sql
