-- 0005: what the metrics endpoint reads.

-- Event counts by kind (lease grants, expiries, retries, failures) as an
-- index-only scan instead of a pass over the whole log.
CREATE INDEX events_kind ON events (kind);
