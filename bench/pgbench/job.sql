-- One job per pgbench "transaction": a lease, then its completion, each in
-- its own autocommitted statement (so two commits, two WAL flushes, per job,
-- as mixsweep's LeaseJob and CompleteJob). pgbench's tps is jobs/s.
-- The lease takes the lowest pending id nobody holds (FOR UPDATE SKIP LOCKED)
-- and returns it; \gset keeps it for the completion.
UPDATE pgbench_jobs SET state = 'leased', worker = :client_id, leased_at = now()
  WHERE id = (SELECT id FROM pgbench_jobs WHERE state = 'pending'
              ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
  RETURNING id AS job_id \gset
UPDATE pgbench_jobs SET state = 'done', finished_at = now() WHERE id = :job_id;
