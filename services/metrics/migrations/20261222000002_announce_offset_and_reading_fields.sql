-- migrate:up
-- What the events carry, kept on the reading as it was planned (siar_metrics.announce joins only
-- the post, for its campaign): platform_post_id, published_at, correlation_id. Readings stored
-- before this migration have none; their events use the request id as correlation id.
ALTER TABLE metrics.readings ADD COLUMN platform_post_id text, ADD COLUMN published_at timestamptz,
    ADD COLUMN correlation_id text;

-- txid_offset: added to this server's transaction ids, in readings.txid's default and in the
-- announcer's horizon; 0 unless the database was restored into another server, whose ids start
-- again below the old ones (store.rebase_if_restored raises it above every txid stored).
ALTER TABLE metrics.announced ADD COLUMN txid_offset bigint NOT NULL DEFAULT 0;

-- migrate:down
ALTER TABLE metrics.announced DROP COLUMN txid_offset;
ALTER TABLE metrics.readings DROP COLUMN platform_post_id, DROP COLUMN published_at, DROP COLUMN correlation_id;
