-- migrate:up
-- Whether the platform answers insights for the account (account.registered/updated "insights"):
-- a LinkedIn member's profile gives neither post statistics nor followers, so nothing is planned
-- for it; before, each of its posts was read six times, answered empty, and counted in the reports
-- as a measured post with no interactions.
ALTER TABLE metrics.accounts ADD COLUMN insights boolean NOT NULL DEFAULT true;

-- migrate:down
ALTER TABLE metrics.accounts DROP COLUMN insights;
