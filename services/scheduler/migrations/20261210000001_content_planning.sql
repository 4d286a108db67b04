-- migrate:up
-- Content planning: campaigns, series (recurrence and event countdowns), review before
-- publishing, posting rhythm per account, and an append-only audit log.

CREATE TABLE scheduler.campaigns (
    campaign_id uuid PRIMARY KEY,
    name        text NOT NULL,
    hashtags    text[] NOT NULL DEFAULT '{}',  -- without '#', in the order they are added
    starts_on   date,
    ends_on     date,
    goal        text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_on IS NULL OR ends_on IS NULL OR ends_on >= starts_on)
);
CREATE UNIQUE INDEX campaigns_name ON scheduler.campaigns (lower(name));

-- A series makes posts: 'recurrence' from an RRULE evaluated in its zone, 'countdown' from one
-- event (days before it). Its occurrences are ordinary posts (posts.series_id), materialised up
-- to materialised_until; the due runner "series-extend" extends recurrences at extend_at.
CREATE TABLE scheduler.series (
    series_id          uuid PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('recurrence', 'countdown')),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    text               text NOT NULL,              -- recurrence: the text; countdown: the template
    media              jsonb NOT NULL DEFAULT '[]',
    title              text,
    targets            text[] NOT NULL,
    campaign_id        uuid REFERENCES scheduler.campaigns,
    timezone           text NOT NULL,
    starts_local       timestamp NOT NULL,         -- recurrence: DTSTART; countdown: the event's start
    rrule              text,                       -- recurrence only (RFC 5545 RRULE value)
    exdates            date[] NOT NULL DEFAULT '{}',
    countdown          jsonb,                      -- countdown only: event, days, templates
    review_state       text NOT NULL DEFAULT 'approved'
        CHECK (review_state IN ('draft', 'in_review', 'approved')),
    created_by         text NOT NULL,
    edited_by          text,
    submitted_by       text,
    reviewed_by        text,
    reviewed_at        timestamptz,
    review_comment     text,
    cancel_reason      text,
    materialised_until timestamptz,
    extend_at          timestamptz,
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- The series-extend runner's claim and "next due" query read only this partial index.
CREATE INDEX series_extend ON scheduler.series (extend_at) WHERE status = 'active' AND extend_at IS NOT NULL;

ALTER TABLE scheduler.posts
    ADD COLUMN campaign_id    uuid REFERENCES scheduler.campaigns,
    ADD COLUMN series_id      uuid REFERENCES scheduler.series,
    ADD COLUMN occurrence_key text,        -- recurrence: local date; countdown: days before
    ADD COLUMN detached       boolean NOT NULL DEFAULT false,  -- edited alone: keeps its own content
    ADD COLUMN review_state   text NOT NULL DEFAULT 'approved'
        CHECK (review_state IN ('draft', 'in_review', 'approved')),
    ADD COLUMN edited_by      text,
    ADD COLUMN submitted_by   text,
    ADD COLUMN submitted_at   timestamptz,
    ADD COLUMN reviewed_by    text,
    ADD COLUMN reviewed_at    timestamptz,
    ADD COLUMN review_comment text,
    ADD COLUMN findings       jsonb NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX posts_occurrence ON scheduler.posts (series_id, occurrence_key) WHERE series_id IS NOT NULL;
CREATE INDEX posts_campaign ON scheduler.posts (campaign_id) WHERE campaign_id IS NOT NULL;

-- The text this target sends when it differs from the post's (campaign hashtags per platform).
ALTER TABLE scheduler.targets ADD COLUMN text text;

-- A target rhythm per account: so many posts a week or a month.
CREATE TABLE scheduler.rhythms (
    account_id text PRIMARY KEY,
    posts      integer NOT NULL CHECK (posts > 0),
    per        text NOT NULL CHECK (per IN ('week', 'month')),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who did what, when. Append-only: the trigger refuses every UPDATE and DELETE.
CREATE TABLE scheduler.audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,
    role      text,
    action    text NOT NULL,
    entity    text NOT NULL,
    entity_id text,
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity ON scheduler.audit_log (entity, entity_id, id);

CREATE FUNCTION scheduler.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON scheduler.audit_log
    FOR EACH ROW EXECUTE FUNCTION scheduler.audit_log_append_only();
REVOKE UPDATE, DELETE ON scheduler.audit_log FROM PUBLIC;

-- migrate:down
DROP TABLE scheduler.audit_log;
DROP FUNCTION scheduler.audit_log_append_only();
DROP TABLE scheduler.rhythms;
ALTER TABLE scheduler.targets DROP COLUMN text;
ALTER TABLE scheduler.posts
    DROP COLUMN campaign_id, DROP COLUMN series_id, DROP COLUMN occurrence_key, DROP COLUMN detached,
    DROP COLUMN review_state, DROP COLUMN edited_by, DROP COLUMN submitted_by, DROP COLUMN submitted_at,
    DROP COLUMN reviewed_by, DROP COLUMN reviewed_at, DROP COLUMN review_comment, DROP COLUMN findings;
DROP TABLE scheduler.series;
DROP TABLE scheduler.campaigns;
