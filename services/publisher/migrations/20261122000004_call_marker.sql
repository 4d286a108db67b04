-- migrate:up
-- When the platform call of an attempt began. Platforms that cannot be asked afterwards whether
-- a post went out (Telegram and others without an idempotency key) get this mark just before the
-- call, so that a delivery whose worker died before calling is retried as if fresh instead of
-- being reported as "outcome unknown".
ALTER TABLE publisher.deliveries ADD COLUMN call_started_at timestamptz;

-- migrate:down
ALTER TABLE publisher.deliveries DROP COLUMN call_started_at;
