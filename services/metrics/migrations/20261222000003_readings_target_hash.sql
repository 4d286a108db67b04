-- migrate:up
-- Each target's readings are only ever looked up by equality (the reports join the targets
-- published in a period, a post's engagement asks for its targets); the order within a target
-- is sorted afterwards either way. A hash index answers the same lookups, and storing a reading
-- costs less: one bucket page found by hash instead of a descent through a b-tree of random
-- text keys compared under the database's collation (measured with bench/metrics_ingest's
-- storage path: about 5 % less of PostgreSQL's CPU per answer, docs/benchmarks.md).
DROP INDEX metrics.readings_target;
CREATE INDEX readings_target ON metrics.readings USING hash (target_id) WHERE kind = 'post';

-- migrate:down
DROP INDEX metrics.readings_target;
CREATE INDEX readings_target ON metrics.readings (target_id, collected_at DESC) WHERE kind = 'post';
