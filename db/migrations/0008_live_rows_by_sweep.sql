-- Every job that ends asks whether its sweep is done (MIXSWEEP_SWEEP_DONE in
-- db/sql.h): is any job of the sweep not ended, is any request open? With
-- only jobs (sweep_id, state), that probe steps over every ended job of the
-- sweep, so each completion costs more as the sweep progresses: quadratic
-- over a sweep. These partial indexes hold the live rows only, so the probe
-- costs the same at the first job and the 20,000th.
CREATE INDEX jobs_live_by_sweep ON jobs (sweep_id)
  WHERE state NOT IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX evaluation_requests_open_by_sweep ON evaluation_requests (sweep_id)
  WHERE state = 'open';
