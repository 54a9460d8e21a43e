-- 0003: what evaluation and the estimates need.

-- A sweep's evaluation scenarios, so that SQL can queue one evaluation
-- request per scenario the moment a run's checkpoint lands.
CREATE TABLE sweep_scenarios (
  sweep_id      bigint NOT NULL REFERENCES sweeps (id),
  name          text NOT NULL,
  position      integer NOT NULL,
  trials_wanted integer NOT NULL CHECK (trials_wanted > 0),
  platform      text NOT NULL DEFAULT '',
  PRIMARY KEY (sweep_id, name)
);

ALTER TABLE evaluation_requests ADD COLUMN platform text NOT NULL DEFAULT '';
ALTER TABLE evaluation_requests ADD COLUMN batch_position integer;
ALTER TABLE evaluation_requests ADD COLUMN batched_at timestamptz;
ALTER TABLE evaluation_requests ADD COLUMN batch_operator text;
ALTER TABLE evaluation_requests ADD COLUMN batch_reason text;
ALTER TABLE evaluation_requests ADD COLUMN completed_at timestamptz;
-- What NextEvaluationBatch looks at: open requests in no batch, and the
-- batch a robot already holds.
CREATE INDEX evaluation_requests_unbatched ON evaluation_requests (sweep_id, scenario, id)
  WHERE state = 'open' AND batch_id IS NULL;
CREATE INDEX evaluation_requests_robot ON evaluation_requests (robot_id, batch_position)
  WHERE state = 'open' AND batch_id IS NOT NULL;
CREATE INDEX evaluation_requests_run ON evaluation_requests (run_id);
CREATE INDEX trials_request ON trials (request_id, trial_index);

-- Estimates whose trials changed. A trial write upserts its (sweep,
-- scenario) with a new mark in the same transaction; the recomputer deletes
-- the row only if the mark is still the one it computed from.
CREATE SEQUENCE estimate_marks;
CREATE TABLE stale_estimates (
  sweep_id         bigint NOT NULL REFERENCES sweeps (id),
  scenario         text NOT NULL,
  mark             bigint NOT NULL,
  trigger_trial_id bigint NOT NULL DEFAULT 0,
  marked_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sweep_id, scenario)
);

ALTER TABLE utilization_estimates ADD COLUMN task text NOT NULL DEFAULT '';
ALTER TABLE utilization_estimates ADD COLUMN trigger_trial_id bigint NOT NULL DEFAULT 0;
ALTER TABLE utilization_estimates ADD COLUMN trials_digest text NOT NULL DEFAULT '';
ALTER TABLE utilization_estimates ADD COLUMN params jsonb NOT NULL DEFAULT '{}';
CREATE INDEX utilization_estimates_sweep ON utilization_estimates (sweep_id, id);
