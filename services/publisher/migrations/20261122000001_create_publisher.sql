-- migrate:up
CREATE SCHEMA IF NOT EXISTS publisher;

CREATE TABLE publisher.outbox (
    id             bigserial PRIMARY KEY,
    event_id       text NOT NULL,
    routing_key    text NOT NULL,
    event_type     text NOT NULL,
    correlation_id text NOT NULL,
    body           bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE publisher.inbox (
    source      text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- Platform accounts. credentials is Fernet ciphertext (key from SIAR_CREDENTIALS_KEY); it never
-- leaves this table in clear except inside an adapter call.
CREATE TABLE publisher.accounts (
    account_id    text PRIMARY KEY,
    platform      text NOT NULL,
    handle        text NOT NULL,
    display_name  text,
    base_url      text NOT NULL,
    credentials   bytea NOT NULL,
    settings      jsonb NOT NULL DEFAULT '{}',
    limits        jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reconnect')),
    status_reason text,
    paused_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, base_url, handle)
);

-- One delivery record per target: the state machine that makes "exactly one post per target".
--   pending   -> in_flight (claimed, lease) -> published | failed | pending (retry later)
--   in_flight with an expired lease: the worker died mid-call; reclaimed as "recovering", and the
--             adapter looks on the platform (or relies on its idempotency key) before any retry.
--   pending   -> cancelled (post.cancelled)
CREATE TABLE publisher.deliveries (
    target_id        text PRIMARY KEY,
    post_id          text NOT NULL,
    account_id       text NOT NULL,
    platform         text NOT NULL,
    correlation_id   text NOT NULL,
    due_at           timestamptz NOT NULL,
    text             text NOT NULL,
    media            jsonb NOT NULL DEFAULT '[]',
    title            text,
    state            text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'in_flight', 'published', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_until      timestamptz,
    recovering       boolean NOT NULL DEFAULT false,
    first_attempt_at timestamptz,
    platform_post_id text,
    url              text,
    error_class      text,
    reason           text,
    detail           text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX deliveries_pending ON publisher.deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_leased ON publisher.deliveries (lease_until) WHERE state = 'in_flight';
CREATE INDEX deliveries_account ON publisher.deliveries (account_id, state);

-- migrate:down
DROP SCHEMA publisher CASCADE;
