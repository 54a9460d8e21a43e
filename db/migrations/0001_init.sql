-- 0001: the whole loop's tables.
--
-- States are text with CHECK constraints rather than enum types: they read
-- well in psql and a later migration can widen a CHECK in one statement.
-- Times come from the database's clock (now()), the one clock that every
-- scheduler replica shares.

CREATE TABLE sweeps (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                text NOT NULL,
  owner               text NOT NULL,
  state               text NOT NULL DEFAULT 'active'
                      CHECK (state IN ('active', 'completed', 'cancelled')),
  task                text NOT NULL,
  policy              text NOT NULL,
  code_version        text NOT NULL,
  total_steps         bigint NOT NULL,
  pretrain_steps      bigint NOT NULL,
  finetune_steps      bigint NOT NULL,
  priority            integer NOT NULL DEFAULT 0,
  max_attempts        integer NOT NULL CHECK (max_attempts >= 1),
  revision            integer NOT NULL DEFAULT 1,
  baseline_from_sweep bigint REFERENCES sweeps (id),
  cancel_reason       text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sweeps_owner ON sweeps (owner, id DESC);
CREATE INDEX sweeps_task ON sweeps (task, policy);

-- Every revision of a sweep's spec, as submitted (provenance; extension
-- re-parses the latest one).
CREATE TABLE sweep_revisions (
  sweep_id   bigint NOT NULL REFERENCES sweeps (id),
  revision   integer NOT NULL,
  spec_yaml  text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sweep_id, revision)
);

CREATE TABLE jobs (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sweep_id            bigint NOT NULL REFERENCES sweeps (id),
  key                 text NOT NULL,
  kind                text NOT NULL
                      CHECK (kind IN ('train', 'pretrain', 'finetune', 'generate', 'evaluate')),
  state               text NOT NULL
                      CHECK (state IN ('blocked', 'queued', 'leased', 'running',
                                       'succeeded', 'failed', 'cancelled')),
  source              text NOT NULL,
  dataset_uri         text NOT NULL,
  dataset_hash        text NOT NULL DEFAULT '',
  dataset_episodes    bigint NOT NULL,
  n_demos             bigint NOT NULL CHECK (n_demos >= 0),
  seed                bigint NOT NULL,
  steps               bigint NOT NULL CHECK (steps >= 0),
  -- The unrendered template: {"argv": [...], "shell": "", "env": {...},
  -- "checkpoint": "...", "no_retry_exit_codes": [...]}.
  command             jsonb NOT NULL,
  subset_episodes     bigint[] NOT NULL,
  depends_on_job_id   bigint REFERENCES jobs (id),
  priority            integer NOT NULL DEFAULT 0,
  gpus                integer NOT NULL DEFAULT 1,
  min_gpu_memory_gib  double precision NOT NULL DEFAULT 0,
  labels              jsonb NOT NULL DEFAULT '{}',
  attempts            integer NOT NULL DEFAULT 0,
  max_attempts        integer NOT NULL,
  not_before          timestamptz,
  lease_worker_id     bigint,
  lease_expires_at    timestamptz,
  fencing_token       bigint,
  cancel_requested    boolean NOT NULL DEFAULT false,
  output_uri          text,
  checkpoint_uri      text,
  failure             jsonb,
  progress            jsonb,
  provenance          jsonb,
  gpu_seconds         double precision NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  finished_at         timestamptz,
  UNIQUE (sweep_id, key)
);
-- The lease query's index: only ready jobs, in the order they are handed out.
CREATE INDEX jobs_ready ON jobs (priority DESC, sweep_id, id) WHERE state = 'queued';
-- The expiry sweep's index: only jobs that hold a lease.
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state IN ('leased', 'running');
CREATE INDEX jobs_sweep ON jobs (sweep_id, state);
CREATE INDEX jobs_depends_on ON jobs (depends_on_job_id) WHERE depends_on_job_id IS NOT NULL;

-- Fencing tokens grow with every lease grant of any job, across replicas.
CREATE SEQUENCE fencing_tokens;

CREATE TABLE runs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sweep_id        bigint NOT NULL REFERENCES sweeps (id),
  key             text NOT NULL,
  n_tele          bigint NOT NULL CHECK (n_tele > 0),
  source          text NOT NULL DEFAULT '',  -- '' for the teleop-only baseline
  source_kind     text NOT NULL CHECK (source_kind IN ('teleop', 'simulation', 'human_video')),
  n_nt            bigint NOT NULL CHECK (n_nt >= 0),
  seed            bigint NOT NULL,
  train_job_id    bigint REFERENCES jobs (id),
  pretrain_job_id bigint REFERENCES jobs (id),
  finetune_job_id bigint REFERENCES jobs (id),
  checkpoint_uri  text,
  revision_added  integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sweep_id, key),
  CHECK ((train_job_id IS NOT NULL AND pretrain_job_id IS NULL AND finetune_job_id IS NULL)
      OR (train_job_id IS NULL AND pretrain_job_id IS NOT NULL AND finetune_job_id IS NOT NULL))
);
CREATE INDEX runs_sweep ON runs (sweep_id);
CREATE INDEX runs_train ON runs (train_job_id) WHERE train_job_id IS NOT NULL;
CREATE INDEX runs_pretrain ON runs (pretrain_job_id) WHERE pretrain_job_id IS NOT NULL;
CREATE INDEX runs_finetune ON runs (finetune_job_id) WHERE finetune_job_id IS NOT NULL;

CREATE TABLE workers (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name              text NOT NULL,
  host              text NOT NULL,
  gpus              jsonb NOT NULL DEFAULT '[]',
  labels            jsonb NOT NULL DEFAULT '{}',
  version           text NOT NULL DEFAULT '',
  synthetic         boolean NOT NULL DEFAULT false,
  state             text NOT NULL DEFAULT 'alive'
                    CHECK (state IN ('alive', 'draining', 'lost', 'gone')),
  registered_at     timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The last MiB of each job's log, in chunks keyed by the lease that wrote
-- them (a handed-back attempt and its rerun share an attempt number, never a
-- fencing token) and the byte offset, so that a re-sent chunk is stored once.
CREATE TABLE job_log_chunks (
  job_id        bigint NOT NULL REFERENCES jobs (id),
  fencing_token bigint NOT NULL,
  attempt       integer NOT NULL,
  byte_offset   bigint NOT NULL,
  data          bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, fencing_token, byte_offset)
);

CREATE TABLE robots (
  id            text PRIMARY KEY,
  platform      text NOT NULL,
  location      text NOT NULL DEFAULT '',
  registered_at timestamptz NOT NULL DEFAULT now()
);

-- One per (run, scenario, checkpoint): what an operator or an evaluation job
-- is asked to evaluate. `blind_label` is all the operator sees.
CREATE TABLE evaluation_requests (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sweep_id       bigint NOT NULL REFERENCES sweeps (id),
  run_id         bigint NOT NULL REFERENCES runs (id),
  scenario       text NOT NULL,
  checkpoint_uri text NOT NULL,
  trials_wanted  integer NOT NULL CHECK (trials_wanted > 0),
  state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'complete', 'cancelled')),
  blind_label    text NOT NULL UNIQUE,
  batch_id       text,
  robot_id       text REFERENCES robots (id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, scenario, checkpoint_uri)
);

-- Trials are never updated: a correction is a new row that supersedes one.
CREATE TABLE trials (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id          bigint NOT NULL REFERENCES evaluation_requests (id),
  sweep_id            bigint NOT NULL REFERENCES sweeps (id),
  run_id              bigint NOT NULL REFERENCES runs (id),
  scenario            text NOT NULL,
  checkpoint_uri      text NOT NULL,
  trial_index         integer NOT NULL CHECK (trial_index >= 0),
  achieved            jsonb NOT NULL DEFAULT '[]',
  score               double precision NOT NULL CHECK (score >= 0 AND score <= 1),
  success             boolean NOT NULL,
  duration_ms         bigint,
  intervention        boolean NOT NULL DEFAULT false,
  safety_stop         boolean NOT NULL DEFAULT false,
  operator            text NOT NULL DEFAULT '',
  robot_id            text,
  notes               text NOT NULL DEFAULT '',
  video_uris          jsonb NOT NULL DEFAULT '[]',
  simulated           boolean NOT NULL DEFAULT false,
  supersedes_trial_id bigint UNIQUE REFERENCES trials (id),
  correction_reason   text,
  recorded_by         text NOT NULL,
  recorded_at         timestamptz NOT NULL DEFAULT now()
);
-- One original trial per index of a request; corrections chain from it.
CREATE UNIQUE INDEX trials_original ON trials (request_id, trial_index)
  WHERE supersedes_trial_id IS NULL;
CREATE INDEX trials_sweep ON trials (sweep_id, scenario, id);

-- Every computation of an estimate is kept, with the trials it came from.
CREATE TABLE utilization_estimates (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sweep_id      bigint NOT NULL REFERENCES sweeps (id),
  scenario      text NOT NULL,
  source        text NOT NULL,
  version       bigint NOT NULL,
  estimate      jsonb NOT NULL,
  trial_count   integer NOT NULL,
  last_trial_id bigint NOT NULL DEFAULT 0,
  computed_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sweep_id, scenario, source, version)
);

-- The append-only event log: what happened, when, by whom.
CREATE TABLE events (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  kind      text NOT NULL,
  sweep_id  bigint,
  run_id    bigint,
  job_id    bigint,
  principal text NOT NULL DEFAULT '',
  detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_sweep ON events (sweep_id, id) WHERE sweep_id IS NOT NULL;

-- Retried writes: the first answer under (principal, method, key) is kept and
-- replayed; the same key with a different request is refused.
CREATE TABLE idempotency_keys (
  principal   text NOT NULL,
  method      text NOT NULL,
  key         text NOT NULL,
  request_md5 text NOT NULL,
  result      jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, method, key)
);

-- History is never rewritten: the event log and the trials refuse UPDATE and
-- DELETE, whoever connects.
CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER trials_append_only BEFORE UPDATE OR DELETE ON trials
  FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
