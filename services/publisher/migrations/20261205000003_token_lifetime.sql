-- migrate:up
-- When an account's token was issued or last renewed: with token_expires_at it gives the token's
-- lifetime, which decides how early the token is renewed (a fifth of it, at most 14 days, at least
-- SIAR_TOKEN_REFRESH_AHEAD_SECONDS; siar_publisher.tokens). token_expiry_assumed: the platform
-- did not say when the token ends, so its documented lifetime from the connection is assumed and
-- the token is renewed a day later, which tells the real expiry.
ALTER TABLE publisher.accounts
    ADD COLUMN token_refreshed_at timestamptz,
    ADD COLUMN token_expiry_assumed boolean NOT NULL DEFAULT false;

-- Accounts connected before: the connection is the earliest the token can have been renewed (a
-- longer lifetime than the real one at worst, which renews the token once early).
UPDATE publisher.accounts SET token_refreshed_at = created_at WHERE token_expires_at IS NOT NULL;

-- Instagram Login and Threads accounts whose expiry was never learned were never renewed: their
-- 60-day tokens would end without a word. Assume 60 days from the last change to the account
-- (never before its connection, so the token is at least a day old when it is renewed).
UPDATE publisher.accounts
SET token_refreshed_at = updated_at, token_expires_at = updated_at + interval '60 days', token_expiry_assumed = true
WHERE token_expires_at IS NULL AND status = 'active'
  AND (platform = 'threads'
       OR (platform = 'instagram'
           AND CASE WHEN settings->>'login' IN ('instagram', 'facebook') THEN settings->>'login' = 'instagram'
                    ELSE base_url NOT LIKE '%graph.facebook.com%' END));

-- migrate:down
ALTER TABLE publisher.accounts DROP COLUMN token_refreshed_at, DROP COLUMN token_expiry_assumed;
