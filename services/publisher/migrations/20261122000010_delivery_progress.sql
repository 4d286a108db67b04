-- migrate:up
-- What an attempt keeps for the next ones of the same delivery: an Instagram or Threads container
-- id, so that after a timeout the adapter asks the container's status_code (PUBLISHED means the
-- post is live) instead of guessing from the account's recent posts, and a retry publishes the
-- container already made instead of making another (adapters' Outgoing.progress / save()).
ALTER TABLE publisher.deliveries ADD COLUMN progress jsonb NOT NULL DEFAULT '{}';

-- migrate:down
ALTER TABLE publisher.deliveries DROP COLUMN progress;
