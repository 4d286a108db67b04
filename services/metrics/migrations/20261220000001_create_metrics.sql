-- migrate:up
CREATE SCHEMA IF NOT EXISTS metrics;

-- Transactional outbox and inbox (see packages/runtime/src/siar_runtime/outbox.py, inbox.py).
CREATE TABLE metrics.outbox (
    id             bigserial PRIMARY KEY,
    event_id       text NOT NULL,
    routing_key    text NOT NULL,
    event_type     text NOT NULL,
    correlation_id text NOT NULL,
    body           bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE metrics.inbox (
    source      text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- Read model of the publisher's accounts (account.* events), with the latest audience reading.
CREATE TABLE metrics.accounts (
    account_id   text PRIMARY KEY,
    platform     text NOT NULL,
    handle       text,
    display_name text,
    status       text NOT NULL DEFAULT 'active',
    followers    double precision,
    followers_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Read model of the scheduler's posts (post.scheduled / post.updated): what was said, with
-- which hashtags, in which campaign.
CREATE TABLE metrics.posts (
    post_id      text PRIMARY KEY,
    text         text NOT NULL,
    hashtags     text[] NOT NULL DEFAULT '{}',
    campaign_id  text,
    campaign_hashtags text[] NOT NULL DEFAULT '{}',
    scheduled_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posts_campaign ON metrics.posts (campaign_id) WHERE campaign_id IS NOT NULL;

-- What went out (post.published): one row per target, the unit whose engagement is followed.
CREATE TABLE metrics.targets (
    target_id        text PRIMARY KEY,
    post_id          text NOT NULL,
    account_id       text NOT NULL,
    platform         text NOT NULL,
    platform_post_id text NOT NULL,
    url              text,
    published_at     timestamptz NOT NULL,
    correlation_id   text NOT NULL
);
CREATE INDEX targets_published ON metrics.targets (published_at);
CREATE INDEX targets_post ON metrics.targets (post_id);

-- The readings still to take: a post's engagement at each step of the schedule (stage '1h',
-- '6h', …) or an account's audience (stage 'audience', one a day). request_id is the id the
-- publisher answers to; it stays the same when the reading is asked again.
--   planned   -> requested (insights.requested written; due_at = when to ask again if no answer)
--   requested -> planned (insights.failed, retryable: at retry_at or after a backoff)
--             -> failed (not retryable, or attempts used up; kept, with the reason)
-- An answer (insights.collected) deletes the row and appends the reading: the delete is the
-- deduplication (an answer that finds no row was already stored), and a late answer to a failed
-- reading is still taken.
CREATE TABLE metrics.collections (
    request_id       uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('post', 'account')),
    stage            text NOT NULL,
    target_id        text,
    post_id          text,
    account_id       text NOT NULL,
    platform         text NOT NULL,
    platform_post_id text,
    published_at     timestamptz,
    correlation_id   text NOT NULL,
    planned_at       timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    state            text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'requested', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    requested_at     timestamptz,
    error_class      text,
    reason           text,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'post') = (target_id IS NOT NULL))
);
CREATE UNIQUE INDEX collections_account_planned ON metrics.collections (account_id)
    WHERE kind = 'account' AND state = 'planned';
-- The claim and "next due" read only these small partial indexes.
CREATE INDEX collections_due ON metrics.collections (due_at) WHERE state IN ('planned', 'requested');
CREATE INDEX collections_waiting ON metrics.collections (due_at) WHERE state = 'requested';
CREATE INDEX collections_target ON metrics.collections (target_id) WHERE kind = 'post';
CREATE INDEX collections_failed ON metrics.collections (updated_at) WHERE state = 'failed';

-- Every reading taken, append-only (written with COPY): the normalised values of the answer,
-- the followers of the account at the time (for a post) and the post's engagement
-- (siar_metrics.engagement). The reports read this table.
CREATE TABLE metrics.readings (
    request_id       uuid NOT NULL,
    kind             text NOT NULL,
    stage            text NOT NULL,
    target_id        text,
    post_id          text,
    account_id       text NOT NULL,
    platform         text NOT NULL,
    planned_at       timestamptz NOT NULL,
    collected_at     timestamptz NOT NULL,
    attempts         integer NOT NULL,
    views            double precision,
    reach            double precision,
    likes            double precision,
    comments         double precision,
    shares           double precision,
    saves            double precision,
    clicks           double precision,
    followers        double precision,
    interactions     double precision,
    denominator      double precision,
    basis            text
);
CREATE INDEX readings_target ON metrics.readings (target_id, collected_at DESC) WHERE kind = 'post';
CREATE INDEX readings_account ON metrics.readings (account_id, collected_at) WHERE kind = 'account';

-- Every value every answer carried, the raw name beside its normalised one (NULL where the
-- vocabulary has no place for it). Append-only, written with COPY; one BRIN index on the time
-- serves retention and finding a reading's values (its request_id and collected_at).
CREATE TABLE metrics.samples (
    request_id   uuid NOT NULL,
    collected_at timestamptz NOT NULL,
    platform     text NOT NULL,
    account_id   text NOT NULL,
    target_id    text,
    metric       text,
    raw_name     text NOT NULL,
    value        double precision NOT NULL
);
CREATE INDEX samples_collected_at ON metrics.samples USING brin (collected_at);

-- Per platform: the last successful and the last failed collection (Prometheus reads it).
CREATE TABLE metrics.platforms (
    platform          text PRIMARY KEY,
    last_collected_at timestamptz,
    last_failed_at    timestamptz
);

-- migrate:down
DROP SCHEMA metrics CASCADE;
