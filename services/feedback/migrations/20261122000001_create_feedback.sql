-- migrate:up
CREATE SCHEMA IF NOT EXISTS feedback;

-- Transactional outbox and inbox (see packages/runtime/src/siar_runtime/outbox.py, inbox.py).
CREATE TABLE feedback.outbox (
    id             bigserial PRIMARY KEY,
    event_id       text NOT NULL,
    routing_key    text NOT NULL,
    event_type     text NOT NULL,
    correlation_id text NOT NULL,
    body           bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE feedback.inbox (
    source      text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- status: draft -> scheduled (open asked for, opens_at still ahead) -> open -> closed.
-- Texts are {"id": "...", "en": "..."}: Indonesian always, English where written.
CREATE TABLE feedback.surveys (
    survey_id               uuid PRIMARY KEY,
    slug                    text NOT NULL UNIQUE,
    title                   jsonb NOT NULL,
    intro                   jsonb,
    thank_you               jsonb,
    status                  text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'open', 'closed')),
    opens_at                timestamptz,
    closes_at               timestamptz,
    timezone                text NOT NULL DEFAULT 'Asia/Jakarta',
    channels                text[] NOT NULL DEFAULT '{}',
    one_response_per_patron boolean NOT NULL DEFAULT false,
    rate_limit_per_minute   integer NOT NULL DEFAULT 60 CHECK (rate_limit_per_minute > 0),
    announce                jsonb NOT NULL DEFAULT '[]',
    announce_text           jsonb,
    announce_language       text NOT NULL DEFAULT 'id',
    correlation_id          text NOT NULL,
    created_by              text,
    version                 integer NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    opened_at               timestamptz,
    closed_at               timestamptz,
    close_reason            text,
    CHECK (closes_at IS NULL OR opens_at IS NULL OR closes_at > opens_at)
);
-- The due runner reads only these two small partial indexes.
CREATE INDEX surveys_opening ON feedback.surveys (opens_at) WHERE status = 'scheduled';
CREATE INDEX surveys_closing ON feedback.surveys (closes_at) WHERE status = 'open' AND closes_at IS NOT NULL;

CREATE TABLE feedback.questions (
    survey_id   uuid NOT NULL REFERENCES feedback.surveys ON DELETE CASCADE,
    key         text NOT NULL,
    position    integer NOT NULL,
    kind        text NOT NULL
        CHECK (kind IN ('rating', 'nps', 'single_choice', 'multiple_choice', 'text')),
    required    boolean NOT NULL DEFAULT false,
    text        jsonb NOT NULL,
    help        jsonb,
    options     jsonb NOT NULL DEFAULT '[]',
    identifying boolean NOT NULL DEFAULT false,
    PRIMARY KEY (survey_id, key),
    UNIQUE (survey_id, position)
);

-- No IP address, user agent or patron key is stored. patron_hash is an HMAC of the patron key
-- (a signed cookie or the caller's key) with the survey id, kept only for surveys that allow one
-- response per patron, so it cannot link one patron across surveys.
CREATE TABLE feedback.responses (
    response_id  uuid PRIMARY KEY,
    survey_id    uuid NOT NULL REFERENCES feedback.surveys ON DELETE CASCADE,
    channel      text NOT NULL,
    source       text NOT NULL CHECK (source IN ('page', 'api', 'event')),
    language     text,
    patron_hash  bytea,
    submitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX responses_one_per_patron ON feedback.responses (survey_id, patron_hash)
    WHERE patron_hash IS NOT NULL;
CREATE INDEX responses_survey ON feedback.responses (survey_id, submitted_at);

-- One row per answered question: a score (rating 1-5, NPS 0-10), chosen option keys, or text.
CREATE TABLE feedback.answers (
    response_id  uuid NOT NULL REFERENCES feedback.responses ON DELETE CASCADE,
    survey_id    uuid NOT NULL,
    question_key text NOT NULL,
    score        integer,
    choices      text[],
    text         text,
    PRIMARY KEY (response_id, question_key)
);
CREATE INDEX answers_survey ON feedback.answers (survey_id, question_key);

-- Fixed one-minute windows of accepted page responses per survey (the spam rate limit),
-- shared by every replica.
CREATE TABLE feedback.rate_windows (
    survey_id    uuid NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (survey_id, window_start)
);

-- migrate:down
DROP SCHEMA feedback CASCADE;
