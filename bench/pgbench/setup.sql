-- The pgbench reference for dispatch_bench --pgbench (issue 8): PostgreSQL
-- as a bare job queue, in the same database mixsweepd uses. One row per job;
-- a partial index on the pending jobs, which is all a lease has to search.
-- dispatch_bench runs this, fills the table with one pending row per job
-- (INSERT ... generate_series), VACUUM ANALYZEs it, then runs job.sql with
-- pgbench. By hand (a cluster of your own, or the one `dispatch_bench --keep`
-- leaves behind):
--
--   psql -h SOCKDIR -p PORT -U mixsweep mixsweep -f bench/pgbench/setup.sql
--   psql -h SOCKDIR -p PORT -U mixsweep mixsweep \
--     -c "INSERT INTO pgbench_jobs (state) SELECT 'pending' FROM generate_series(1, 10000)" \
--     -c "VACUUM ANALYZE pgbench_jobs"
--   pgbench -n -h SOCKDIR -p PORT -U mixsweep -c 8 -j 2 -t 1250 -f bench/pgbench/job.sql mixsweep
DROP TABLE IF EXISTS pgbench_jobs;
CREATE TABLE pgbench_jobs (
  id          bigserial PRIMARY KEY,
  state       text NOT NULL DEFAULT 'pending',  -- pending -> leased -> done
  worker      int,
  leased_at   timestamptz,
  finished_at timestamptz,
  payload     text NOT NULL DEFAULT 'train n_tele=50 seed=0'
);
CREATE INDEX pgbench_jobs_pending ON pgbench_jobs (id) WHERE state = 'pending';
