// SQL of evaluation (robots, requests, batches, trials) and of the stored
// estimates. Parameters are always bound ($1...), never concatenated.
#pragma once

namespace mixsweep::db::sql {

// ---- Robots ------------------------------------------------------------------

#define MIXSWEEP_ROBOT_COLUMNS \
  "id, platform, location, (extract(epoch FROM registered_at) * 1000000)::bigint"

// $1 id, $2 platform, $3 location. No row: the id exists already.
inline constexpr const char* kInsertRobot =
    "INSERT INTO robots (id, platform, location) VALUES ($1, $2, $3) "
    "ON CONFLICT (id) DO NOTHING RETURNING " MIXSWEEP_ROBOT_COLUMNS;
inline constexpr const char* kSelectRobot =
    "SELECT " MIXSWEEP_ROBOT_COLUMNS " FROM robots WHERE id = $1";
inline constexpr const char* kSelectRobots =
    "SELECT " MIXSWEEP_ROBOT_COLUMNS " FROM robots ORDER BY id";

// ---- Evaluation requests ------------------------------------------------------

// A request with its run's mixture and its count of original trials.
#define MIXSWEEP_REQUEST_SELECT                                                          \
  "SELECT q.id, q.sweep_id, q.run_id, q.scenario, q.checkpoint_uri, q.trials_wanted, "   \
  "(SELECT count(*) FROM trials t WHERE t.request_id = q.id "                            \
  "   AND t.supersedes_trial_id IS NULL)::int, "                                         \
  "q.state, q.blind_label, coalesce(q.batch_id, ''), coalesce(q.robot_id, ''), "         \
  "coalesce(q.batch_position, 0), q.platform, r.n_tele, r.source, r.n_nt, r.seed, "      \
  "coalesce(q.batch_reason, ''), q.checkpoint_step, q.evaluator "                        \
  "FROM evaluation_requests q JOIN runs r ON r.id = q.run_id "

inline constexpr const char* kSelectRequest = MIXSWEEP_REQUEST_SELECT "WHERE q.id = $1";
inline constexpr const char* kSelectRequestByLabel =
    MIXSWEEP_REQUEST_SELECT "WHERE q.blind_label = $1";
// The open batch a robot holds: the oldest batch with an open request.
inline constexpr const char* kSelectOpenBatchOfRobot = MIXSWEEP_REQUEST_SELECT R"sql(
WHERE q.batch_id = (SELECT b.batch_id FROM evaluation_requests b
                    WHERE b.robot_id = $1 AND b.state = 'open' AND b.batch_id IS NOT NULL
                    ORDER BY b.batched_at, b.id LIMIT 1)
ORDER BY q.batch_position)sql";
// $1 sweep_id (0: all), optional $2 scenario ('' all).
inline constexpr const char* kSelectSweepRequests = MIXSWEEP_REQUEST_SELECT R"sql(
WHERE q.sweep_id = $1::bigint AND ($2::text = '' OR q.scenario = $2::text)
ORDER BY q.scenario, r.n_tele, r.source, r.n_nt, r.seed, q.id)sql";

// Open requests in no batch, of active sweeps. $1 sweep_id (0: all),
// $2 the robot's platform ('': any).
inline constexpr const char* kSelectUnbatched = R"sql(
SELECT q.id, q.sweep_id, q.scenario, q.platform, r.source, r.n_tele, r.n_nt
FROM evaluation_requests q
JOIN runs r ON r.id = q.run_id
JOIN sweeps s ON s.id = q.sweep_id AND s.state = 'active'
WHERE q.state = 'open' AND q.batch_id IS NULL AND q.evaluator = 'robot'
  AND ($1::bigint = 0 OR q.sweep_id = $1::bigint)
  AND (q.platform = '' OR $2::text = '' OR q.platform = $2::text)
ORDER BY q.id)sql";

// $1 batch_id, $2 robot, $3 operator, $4 reason, $5 request ids in blind
// order (bigint[] text). Takes only requests still open and unbatched: the
// caller compares the count.
inline constexpr const char* kAssignBatch = R"sql(
UPDATE evaluation_requests q
SET batch_id = $1, robot_id = $2, batch_operator = $3, batch_reason = $4,
    batch_position = o.position, batched_at = now()
FROM unnest($5::bigint[]) WITH ORDINALITY AS o(id, position)
WHERE q.id = o.id AND q.state = 'open' AND q.batch_id IS NULL
RETURNING q.id)sql";

// Locks a request for a trial write; $1 id.
inline constexpr const char* kLockRequest =
    "SELECT state, scenario, trials_wanted, evaluator FROM evaluation_requests WHERE id = $1 "
    "FOR UPDATE";

// Trials of one scenario commit in id order (across sweeps: a baseline
// sweep's trials feed another sweep's estimates), so that an estimate's trial
// set is named by its largest id. $1 scenario.
inline constexpr const char* kLockScenarioTrials =
    "SELECT pg_advisory_xact_lock(hashtextextended('mixsweep.trials/' || $1, 0))";

// $1 request. The indices that already have an original trial.
inline constexpr const char* kRecordedIndices =
    "SELECT trial_index FROM trials WHERE request_id = $1 AND supersedes_trial_id IS NULL";

#define MIXSWEEP_TRIAL_COLUMNS                                                              \
  "t.id, t.request_id, t.sweep_id, t.run_id, t.scenario, t.checkpoint_uri, t.trial_index, " \
  "t.achieved::text, t.score, t.success, coalesce(t.duration_ms, -1), t.intervention, "     \
  "t.safety_stop, t.operator, coalesce(t.robot_id, ''), t.notes, t.video_uris::text, "      \
  "t.simulated, coalesce(t.supersedes_trial_id, 0), "                                       \
  "coalesce((SELECT c.id FROM trials c WHERE c.supersedes_trial_id = t.id), 0), "           \
  "coalesce(t.correction_reason, ''), (extract(epoch FROM t.recorded_at) * 1000000)::bigint, " \
  "coalesce(t.episode::text, '')"

// $1 request, $2 trials json [{trial_index, achieved, score, success,
// duration_ms, intervention, safety_stop, operator, robot_id, notes,
// video_uris}], $3 simulated, $4 recorded_by, $5 supersedes (nullable),
// $6 correction_reason (nullable).
inline constexpr const char* kInsertTrials = R"sql(
WITH inserted AS (
  INSERT INTO trials (request_id, sweep_id, run_id, scenario, checkpoint_uri, trial_index,
                      achieved, score, success, duration_ms, intervention, safety_stop,
                      operator, robot_id, notes, video_uris, simulated, supersedes_trial_id,
                      correction_reason, recorded_by, episode)
  SELECT q.id, q.sweep_id, q.run_id, q.scenario, q.checkpoint_uri, t.trial_index,
         t.achieved, t.score, t.success, t.duration_ms, t.intervention, t.safety_stop,
         t.operator, nullif(t.robot_id, ''), t.notes, t.video_uris, $3, $5::bigint, $6, $4,
         t.episode
  FROM evaluation_requests q,
       jsonb_to_recordset($2::jsonb) AS t(trial_index integer, achieved jsonb, score float8,
         success boolean, duration_ms bigint, intervention boolean, safety_stop boolean,
         operator text, robot_id text, notes text, video_uris jsonb, episode jsonb)
  WHERE q.id = $1
  ORDER BY t.trial_index
  RETURNING id)
SELECT coalesce(array_agg(id ORDER BY id), '{}')::text FROM inserted)sql";

// $1 trial ids (bigint[] text).
inline constexpr const char* kSelectTrialsByIds =
    "SELECT " MIXSWEEP_TRIAL_COLUMNS " FROM trials t WHERE t.id = ANY($1::bigint[]) ORDER BY t.id";
inline constexpr const char* kSelectTrial =
    "SELECT " MIXSWEEP_TRIAL_COLUMNS " FROM trials t WHERE t.id = $1";
// $1 sweep, $2 scenario ('' all), $3 include superseded.
inline constexpr const char* kSelectSweepTrials = "SELECT " MIXSWEEP_TRIAL_COLUMNS R"sql(
FROM trials t
WHERE t.sweep_id = $1::bigint AND ($2::text = '' OR t.scenario = $2::text)
  AND ($3::boolean OR NOT EXISTS (SELECT 1 FROM trials c WHERE c.supersedes_trial_id = t.id))
ORDER BY t.request_id, t.trial_index, t.id)sql";

// $1 request. Completes it once every index has a trial.
inline constexpr const char* kCompleteRequestIfDone = R"sql(
UPDATE evaluation_requests q SET state = 'complete', completed_at = now()
WHERE q.id = $1 AND q.state = 'open'
  AND (SELECT count(*) FROM trials t
       WHERE t.request_id = q.id AND t.supersedes_trial_id IS NULL) >= q.trials_wanted
RETURNING q.id)sql";

// Marks the estimates a trial of (sweep $1, scenario $2) feeds as stale: its
// own sweep's and those of sweeps that take their baseline from it.
// $3 the trial that marks them.
inline constexpr const char* kMarkStale = R"sql(
INSERT INTO stale_estimates (sweep_id, scenario, mark, trigger_trial_id)
SELECT s.id, $2, nextval('estimate_marks'), $3
FROM sweeps s WHERE s.id = $1 OR s.baseline_from_sweep = $1
ON CONFLICT (sweep_id, scenario) DO UPDATE
SET mark = excluded.mark, trigger_trial_id = excluded.trigger_trial_id, marked_at = now())sql";

// $1 kind, $2 sweep, $3 run, $4 principal, $5 detail.
inline constexpr const char* kInsertRunEvent = R"sql(
INSERT INTO events (kind, sweep_id, run_id, principal, detail)
VALUES ($1, $2, $3, $4, $5::jsonb))sql";

// ---- Estimates ------------------------------------------------------------------

// $1 limit.
inline constexpr const char* kSelectStale = R"sql(
SELECT sweep_id, scenario, mark, trigger_trial_id FROM stale_estimates
ORDER BY mark LIMIT $1)sql";

// The sweep, its task and its sources; $1 sweep.
// Also how its runs' checkpoints make S, and who evaluates scenario $2.
inline constexpr const char* kSelectEstimateSweep = R"sql(
SELECT s.task, coalesce(s.baseline_from_sweep, 0),
       coalesce((SELECT string_agg(DISTINCT r.source, ',' ORDER BY r.source)
                 FROM runs r WHERE r.sweep_id = s.id AND r.source <> ''), ''),
       s.aggregation,
       coalesce((SELECT c.evaluator FROM sweep_scenarios c
                 WHERE c.sweep_id = s.id AND c.name = $2), 'robot')
FROM sweeps s WHERE s.id = $1)sql";

// The evaluation requests of scenario $3 on the estimate's runs (see
// kSelectEstimateRuns): which checkpoint each evaluates and whether it is
// complete. $1 sweep, $2 baseline sweep.
inline constexpr const char* kSelectEstimateRequests = R"sql(
SELECT q.id, q.run_id, q.checkpoint_step, q.state = 'complete' FROM evaluation_requests q
JOIN runs r ON r.id = q.run_id
WHERE q.scenario = $3 AND q.state <> 'cancelled'
  AND (q.sweep_id = $1 OR (q.sweep_id = $2 AND r.source = ''))
ORDER BY q.id)sql";

// The runs an estimate of sweep $1 uses: its own, and the teleop-only runs
// of its baseline sweep $2 (0: none).
inline constexpr const char* kSelectEstimateRuns = R"sql(
SELECT r.id, r.n_tele, r.source, r.n_nt, r.seed FROM runs r
WHERE r.sweep_id = $1 OR (r.sweep_id = $2 AND r.source = '')
ORDER BY r.id)sql";

// Current trials of scenario $3 on those runs, and the scenario's largest
// trial id. $1 sweep, $2 baseline sweep.
inline constexpr const char* kSelectEstimateTrials = R"sql(
SELECT t.id, t.run_id, t.request_id, t.score FROM trials t
JOIN runs r ON r.id = t.run_id
WHERE t.scenario = $3 AND (t.sweep_id = $1 OR (t.sweep_id = $2 AND r.source = ''))
  AND NOT EXISTS (SELECT 1 FROM trials c WHERE c.supersedes_trial_id = t.id)
ORDER BY t.id)sql";
inline constexpr const char* kSelectScenarioLastTrial = R"sql(
SELECT coalesce(max(t.id), 0) FROM trials t
WHERE t.scenario = $3 AND (t.sweep_id = $1 OR t.sweep_id = $2))sql";

// Saves of one sweep's estimates are serialized, so their row ids commit in
// order and the watch stream can follow them by id. $1 sweep.
inline constexpr const char* kLockSweepEstimates =
    "SELECT pg_advisory_xact_lock(hashtextextended('mixsweep.estimates/' || $1::text, 0))";

// $1 sweep, $2 scenario, $3 source: the latest version and its trial set.
inline constexpr const char* kSelectLatestVersion = R"sql(
SELECT version, last_trial_id, trials_digest FROM utilization_estimates
WHERE sweep_id = $1 AND scenario = $2 AND source = $3
ORDER BY version DESC LIMIT 1)sql";

#define MIXSWEEP_ESTIMATE_COLUMNS                                                      \
  "e.id, e.sweep_id, e.scenario, e.source, e.version, e.estimate::text, e.task, "      \
  "e.trigger_trial_id, e.trials_digest, e.params::text, "                              \
  "(extract(epoch FROM e.computed_at) * 1000000)::bigint"

// $1 sweep, $2 scenario, $3 source, $4 version, $5 estimate json, $6 trial
// count, $7 last trial id, $8 task, $9 trigger trial, $10 digest, $11 params.
inline constexpr const char* kInsertEstimate = R"sql(
INSERT INTO utilization_estimates (sweep_id, scenario, source, version, estimate, trial_count,
                                   last_trial_id, task, trigger_trial_id, trials_digest, params)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11::jsonb)
RETURNING id, (extract(epoch FROM computed_at) * 1000000)::bigint)sql";

// $1 sweep, $2 scenario, $3 mark: cleared only if no trial re-marked it.
inline constexpr const char* kClearStale =
    "DELETE FROM stale_estimates WHERE sweep_id = $1 AND scenario = $2 AND mark = $3";

// The latest version of each estimate. $1 sweep, $2 scenario (''), $3 source ('').
inline constexpr const char* kSelectLatestEstimates = "SELECT " MIXSWEEP_ESTIMATE_COLUMNS R"sql(
FROM (SELECT DISTINCT ON (scenario, source) *
      FROM utilization_estimates
      WHERE sweep_id = $1::bigint AND ($2::text = '' OR scenario = $2::text)
        AND ($3::text = '' OR source = $3::text)
      ORDER BY scenario, source, version DESC) e
ORDER BY e.scenario, e.source)sql";

// $1 sweep, $2 after row id.
inline constexpr const char* kSelectEstimatesAfter = "SELECT " MIXSWEEP_ESTIMATE_COLUMNS R"sql(
FROM utilization_estimates e WHERE e.sweep_id = $1 AND e.id > $2 ORDER BY e.id)sql";

#undef MIXSWEEP_ROBOT_COLUMNS
#undef MIXSWEEP_REQUEST_SELECT
#undef MIXSWEEP_TRIAL_COLUMNS
#undef MIXSWEEP_ESTIMATE_COLUMNS

}  // namespace mixsweep::db::sql
