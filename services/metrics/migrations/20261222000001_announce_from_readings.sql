-- migrate:up
-- The engagement.sampled / audience.sampled events are published from the readings themselves
-- (siar_metrics.announce), no longer copied into the outbox as each reading is stored: the
-- readings are an append-only log, and the announcer follows it with a cursor.
--
-- txid: the transaction that stored the reading (pg_current_xact_id, 64 bits: it never wraps).
-- Readings are taken in (txid, request_id) order, and only those of transactions older than
-- every transaction still running (pg_snapshot_xmin): a transaction that started earlier can
-- still commit readings with a smaller txid, but never once the horizon has passed it, so the
-- cursor never skips one. raw: the platform's own names and values as answered (the events
-- carry them; the samples keep them one per row).
-- Readings stored by the version before (before this migration: no txid; during a rolling
-- upgrade, by a replica still running it: a txid but no raw answer) had their events written to
-- the outbox; the announcer leaves them out.
ALTER TABLE metrics.readings ADD COLUMN txid bigint, ADD COLUMN raw json;
ALTER TABLE metrics.readings ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX readings_announce ON metrics.readings (txid, request_id) WHERE txid IS NOT NULL;

-- Where the announcer is: the last reading whose event the broker confirmed.
CREATE TABLE metrics.announced (
    log        text PRIMARY KEY,
    txid       bigint NOT NULL,
    request_id uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO metrics.announced (log, txid, request_id) VALUES ('readings', 0, '00000000-0000-0000-0000-000000000000');

-- migrate:down
-- Readings not announced yet lose their event (the outbox held none of them).
DROP TABLE metrics.announced;
DROP INDEX metrics.readings_announce;
ALTER TABLE metrics.readings DROP COLUMN txid, DROP COLUMN raw;
