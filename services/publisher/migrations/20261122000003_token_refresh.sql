-- migrate:up
-- Token refresh ahead of expiry: a lease so that one replica refreshes an account at a time.
ALTER TABLE publisher.accounts ADD COLUMN refresh_lease_until timestamptz;
CREATE INDEX accounts_token_expiry ON publisher.accounts (token_expires_at)
    WHERE status = 'active' AND token_expires_at IS NOT NULL;

-- migrate:down
DROP INDEX publisher.accounts_token_expiry;
ALTER TABLE publisher.accounts DROP COLUMN refresh_lease_until;
