-- migrate:up
-- Why an account is paused (a platform's 429 or used-up quota), for the deliveries it holds back:
-- each says so to the scheduler (post.retrying) instead of waiting there without a word.
ALTER TABLE publisher.accounts ADD COLUMN paused_reason text;

-- migrate:down
ALTER TABLE publisher.accounts DROP COLUMN paused_reason;
