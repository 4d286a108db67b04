-- migrate:up
-- The survey page's per-client rate limit: fixed one-minute windows per survey and client, the
-- client being an HMAC of its address (never the address itself), shared by every replica and
-- pruned after ten minutes like rate_windows (which stays as the per-survey safety net).
CREATE TABLE feedback.client_rate_windows (
    survey_id    uuid NOT NULL,
    client       bytea NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (survey_id, client, window_start)
);

-- The nonce of each survey page form token that brought a response: the same form sent twice
-- (a double click, a resent POST) stores one response. Kept longer than a token lives.
CREATE TABLE feedback.form_submissions (
    survey_id uuid NOT NULL,
    nonce     bytea NOT NULL,
    used_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (survey_id, nonce)
);
CREATE INDEX form_submissions_used ON feedback.form_submissions (used_at);

-- The per-survey limit is now a high safety net behind the per-client one (the API's default).
ALTER TABLE feedback.surveys ALTER COLUMN rate_limit_per_minute SET DEFAULT 600;

-- migrate:down
ALTER TABLE feedback.surveys ALTER COLUMN rate_limit_per_minute SET DEFAULT 60;
DROP TABLE feedback.form_submissions;
DROP TABLE feedback.client_rate_windows;
