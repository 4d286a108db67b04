-- migrate:up
-- Targets the scheduler cancelled (post.cancelled), kept whether or not their delivery exists
-- yet: a post.due handled after the cancellation (redelivered, or overtaken by it) records the
-- delivery as cancelled instead of sending it, and an attempt under way when the cancellation
-- came does not plan a retry. A row is a target id and a reason: a library's cancellations are
-- a few a day.
CREATE TABLE publisher.cancellations (
    target_id    text PRIMARY KEY,
    reason       text NOT NULL,
    cancelled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- migrate:down
DROP TABLE publisher.cancellations;
