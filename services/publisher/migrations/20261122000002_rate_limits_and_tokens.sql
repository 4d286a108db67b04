-- migrate:up
-- Per-account publishing rate, held across every publisher replica: a sliding log of the sends
-- in the current window, serialised by a row lock on the account.
ALTER TABLE publisher.accounts
    ADD COLUMN rate_limit integer CHECK (rate_limit > 0),
    ADD COLUMN rate_window_seconds integer CHECK (rate_window_seconds > 0),
    ADD COLUMN token_expires_at timestamptz;

CREATE TABLE publisher.account_sends (
    account_id text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX account_sends_account_time ON publisher.account_sends (account_id, sent_at);

-- migrate:down
DROP TABLE publisher.account_sends;
ALTER TABLE publisher.accounts DROP COLUMN rate_limit, DROP COLUMN rate_window_seconds, DROP COLUMN token_expires_at;
