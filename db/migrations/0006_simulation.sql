-- 0006: seed 001's protocol (DexMimicGen): generated sources, evaluation by
-- simulation jobs, several checkpoints per run, scaling sweeps.

-- The sweep's design and how a run's checkpoints make its S.
ALTER TABLE sweeps ADD COLUMN design text NOT NULL DEFAULT 'mixture'
  CHECK (design IN ('mixture', 'scaling'));
ALTER TABLE sweeps ADD COLUMN aggregation text NOT NULL DEFAULT 'last'
  CHECK (aggregation IN ('last', 'max_over_checkpoints'));

-- A scaling sweep's runs train on the source alone: no teleop demos.
ALTER TABLE runs DROP CONSTRAINT runs_n_tele_check;
ALTER TABLE runs ADD CONSTRAINT runs_n_tele_check CHECK (n_tele >= 0);

-- Who evaluates a scenario; a simulation scenario's command (the spec's
-- template as jsonb) runs as an `evaluate` job per request.
ALTER TABLE sweep_scenarios ADD COLUMN evaluator text NOT NULL DEFAULT 'robot'
  CHECK (evaluator IN ('robot', 'simulation'));
ALTER TABLE sweep_scenarios ADD COLUMN command jsonb;
ALTER TABLE sweep_scenarios ADD COLUMN eval_seed bigint NOT NULL DEFAULT 0;
ALTER TABLE sweep_scenarios ADD CONSTRAINT sweep_scenarios_command
  CHECK ((evaluator = 'simulation') = (command IS NOT NULL));

-- Which checkpoint a request evaluates (the training step; "last" takes the
-- highest), and whether a job or an operator evaluates it.
ALTER TABLE evaluation_requests ADD COLUMN checkpoint_step bigint NOT NULL DEFAULT 0
  CHECK (checkpoint_step >= 0);
ALTER TABLE evaluation_requests ADD COLUMN evaluator text NOT NULL DEFAULT 'robot'
  CHECK (evaluator IN ('robot', 'simulation'));

-- Training jobs: the intermediate checkpoints simulation scenarios evaluate.
-- Evaluate jobs: the one request each serves.
ALTER TABLE jobs ADD COLUMN checkpoint_steps bigint[] NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN evaluation_request_id bigint REFERENCES evaluation_requests (id);
CREATE UNIQUE INDEX jobs_evaluation_request ON jobs (evaluation_request_id)
  WHERE evaluation_request_id IS NOT NULL;

-- What a generate job produced, by the generator's own account; stored in
-- the job's completion transaction. Its time over its successes is the
-- source's measured collection cost per demo.
CREATE TABLE generations (
  job_id       bigint PRIMARY KEY REFERENCES jobs (id),
  sweep_id     bigint NOT NULL REFERENCES sweeps (id),
  source       text NOT NULL,
  dataset_uri  text NOT NULL,
  num_success  bigint NOT NULL CHECK (num_success > 0),
  num_attempts bigint NOT NULL CHECK (num_attempts >= num_success),
  seconds      double precision NOT NULL CHECK (seconds >= 0 AND seconds < 'Infinity'),
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX generations_sweep ON generations (sweep_id);

-- A simulated trial's episode as its result file gave it:
-- {"seed": .., "sum_reward": .., "max_reward": ..}; NULL for robot trials.
ALTER TABLE trials ADD COLUMN episode jsonb;
