-- migrate:up
-- When a series or event promotion was last submitted for review, as posts record it. Series
-- submitted before this migration keep NULL: the time was not recorded.
ALTER TABLE scheduler.series ADD COLUMN submitted_at timestamptz;

-- migrate:down
ALTER TABLE scheduler.series DROP COLUMN submitted_at;
