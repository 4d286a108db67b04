-- migrate:up
-- Who connected or reconnected which platform account, when (siar_runtime.audit): connecting
-- an account hands Siar the right to post as the library, which the library must be able to
-- account for. Append-only, as the scheduler's: the trigger refuses every UPDATE and DELETE.
-- Credentials are never in it.
CREATE TABLE publisher.audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,
    role      text,
    action    text NOT NULL,
    entity    text NOT NULL,
    entity_id text,
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity ON publisher.audit_log (entity, entity_id, id);

CREATE FUNCTION publisher.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON publisher.audit_log
    FOR EACH ROW EXECUTE FUNCTION publisher.audit_log_append_only();
REVOKE UPDATE, DELETE ON publisher.audit_log FROM PUBLIC;

-- migrate:down
DROP TABLE publisher.audit_log;
DROP FUNCTION publisher.audit_log_append_only();
