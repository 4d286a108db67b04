-- migrate:up
-- Who last changed what a survey's announcement says or where it goes (title, announcement text
-- or language, the accounts), when not its creator: survey.opened names them, and the scheduler
-- makes them the announcement post's editor, so under review they cannot approve it either.
ALTER TABLE feedback.surveys ADD COLUMN announce_edited_by text;

-- migrate:down
ALTER TABLE feedback.surveys DROP COLUMN announce_edited_by;
