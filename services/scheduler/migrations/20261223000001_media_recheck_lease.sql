-- migrate:up
-- Until when a claimed second look at a post's media links is under way (scheduler.recheck).
-- media_rechecked_at now says the look was done; a scheduler stopped between the claim and the
-- look leaves the lease to run out, and the post is claimed again (it was marked tried at the
-- claim before, so that look was lost).
ALTER TABLE scheduler.posts ADD COLUMN media_recheck_lease timestamptz;

-- migrate:down
ALTER TABLE scheduler.posts DROP COLUMN media_recheck_lease;
