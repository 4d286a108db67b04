-- migrate:up
CREATE SCHEMA IF NOT EXISTS scheduler;

-- Transactional outbox and inbox (see packages/runtime/src/siar_runtime/outbox.py, inbox.py).
CREATE TABLE scheduler.outbox (
    id             bigserial PRIMARY KEY,
    event_id       text NOT NULL,
    routing_key    text NOT NULL,
    event_type     text NOT NULL,
    correlation_id text NOT NULL,
    body           bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE scheduler.inbox (
    source      text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- Read model of the publisher's accounts, kept from account.* events.
CREATE TABLE scheduler.accounts (
    account_id   text PRIMARY KEY,
    platform     text NOT NULL,
    handle       text NOT NULL,
    display_name text,
    status       text NOT NULL,
    status_reason text,
    limits       jsonb NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scheduler.posts (
    post_id         uuid PRIMARY KEY,
    text            text NOT NULL,
    media           jsonb NOT NULL DEFAULT '[]',
    title           text,
    scheduled_at    timestamptz NOT NULL,
    timezone        text,
    correlation_id  text NOT NULL,
    idempotency_key text UNIQUE,
    created_by      text,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posts_scheduled_at ON scheduler.posts (scheduled_at);

-- One row per (post, account): the unit that goes out, is published or fails on its own.
-- status: scheduled -> due (post.due emitted) -> retrying -> published | failed; or cancelled.
CREATE TABLE scheduler.targets (
    target_id        uuid PRIMARY KEY,
    post_id          uuid NOT NULL REFERENCES scheduler.posts ON DELETE CASCADE,
    account_id       text NOT NULL,
    platform         text NOT NULL,
    due_at           timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'due', 'retrying', 'published', 'failed', 'cancelled')),
    dispatched_at    timestamptz,
    published_at     timestamptz,
    platform_post_id text,
    url              text,
    error_class      text,
    reason           text,
    attempts         integer NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (post_id, account_id)
);
-- The claim and the "next due" query read only this small partial index.
CREATE INDEX targets_due ON scheduler.targets (due_at) WHERE status = 'scheduled';
CREATE INDEX targets_post ON scheduler.targets (post_id);

-- migrate:down
DROP SCHEMA scheduler CASCADE;
