-- migrate:up
-- When a post's media links were last tried again before its time (scheduler.recheck); NULL:
-- not yet, or the post was changed since.
ALTER TABLE scheduler.posts ADD COLUMN media_rechecked_at timestamptz;
CREATE INDEX posts_media_recheck ON scheduler.posts (scheduled_at)
    WHERE media_rechecked_at IS NULL AND media <> '[]'::jsonb;

-- migrate:down
DROP INDEX scheduler.posts_media_recheck;
ALTER TABLE scheduler.posts DROP COLUMN media_rechecked_at;
