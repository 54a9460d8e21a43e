-- Several mixsweepd replicas on one database.
--
-- Each replica wakes its own waiting threads in-process; these triggers tell
-- the other replicas too. PostgreSQL delivers a NOTIFY when (and only if) the
-- transaction commits, and folds repeats of one channel and payload within a
-- transaction into one, so a sweep of 10,000 queued jobs sends one message.
-- Every listener also re-reads on a timer, so a lost message (a listener that
-- was reconnecting) delays a wake-up but loses nothing.
--
--   mixsweep_jobs_ready   a job became queued: waiting LeaseJob calls look again
--   mixsweep_stale        trials marked an estimate stale: the recomputer runs
--   mixsweep_estimates    an estimate was stored: WatchEstimates streams re-read

-- One function for every trigger: the channel is the trigger's argument.
CREATE FUNCTION mixsweep_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END $$;

-- Row triggers with a WHEN clause: leases and completions (the hot path) move
-- jobs out of 'queued' and fire nothing.
CREATE TRIGGER jobs_queued_on_insert AFTER INSERT ON jobs
  FOR EACH ROW WHEN (NEW.state = 'queued')
  EXECUTE FUNCTION mixsweep_notify('mixsweep_jobs_ready');
CREATE TRIGGER jobs_queued_on_update AFTER UPDATE OF state ON jobs
  FOR EACH ROW WHEN (NEW.state = 'queued' AND OLD.state IS DISTINCT FROM 'queued')
  EXECUTE FUNCTION mixsweep_notify('mixsweep_jobs_ready');

CREATE TRIGGER stale_estimates_marked AFTER INSERT OR UPDATE ON stale_estimates
  FOR EACH STATEMENT EXECUTE FUNCTION mixsweep_notify('mixsweep_stale');

CREATE TRIGGER utilization_estimates_stored AFTER INSERT ON utilization_estimates
  FOR EACH STATEMENT EXECUTE FUNCTION mixsweep_notify('mixsweep_estimates');
