-- migrate:up
-- The samples are appended at the ingest's full rate and hardly ever read: each insert into the
-- BRIN index on collected_at still cost PostgreSQL 15 two buffer look-ups (its metapage and its
-- range map), about a seventh of storing a batch (bench/metrics_ingest, docs/benchmarks.md).
-- What read through it: retention's delete (now a scan of the table, hourly and only when
-- SIAR_SAMPLE_RETENTION_DAYS is set) and a post's engagement page for readings stored before
-- readings kept their raw answer. Those readings (no transaction id: never the announcer's) get
-- their raw answer from their samples here, once, as the page read it.
UPDATE metrics.readings r SET raw = s.raw
FROM (SELECT request_id, collected_at, json_object_agg(raw_name, value) AS raw
      FROM metrics.samples GROUP BY request_id, collected_at) AS s
WHERE r.raw IS NULL AND r.txid IS NULL AND s.request_id = r.request_id AND s.collected_at = r.collected_at;
UPDATE metrics.readings SET raw = '{}' WHERE raw IS NULL AND txid IS NULL;  -- answered with no values
DROP INDEX metrics.samples_collected_at;

-- migrate:down
-- (The raw answers filled in stay: the version before reads them first.)
CREATE INDEX samples_collected_at ON metrics.samples USING brin (collected_at);
