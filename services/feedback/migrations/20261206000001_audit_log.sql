-- migrate:up
-- Who created, changed, opened and closed which survey, when (siar_runtime.audit); a survey's
-- dates opening or closing it are Siar's own entries (actor "siar"). Append-only, as the
-- scheduler's: the trigger refuses every UPDATE and DELETE. Patrons' answers are never in it.
CREATE TABLE feedback.audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,
    role      text,
    action    text NOT NULL,
    entity    text NOT NULL,
    entity_id text,
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity ON feedback.audit_log (entity, entity_id, id);

CREATE FUNCTION feedback.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON feedback.audit_log
    FOR EACH ROW EXECUTE FUNCTION feedback.audit_log_append_only();
REVOKE UPDATE, DELETE ON feedback.audit_log FROM PUBLIC;

-- migrate:down
DROP TABLE feedback.audit_log;
DROP FUNCTION feedback.audit_log_append_only();
