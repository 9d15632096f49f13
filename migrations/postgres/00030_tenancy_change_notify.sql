-- +goose Up
-- Instant revocation (issue 20): every committed change to a tenant or an API
-- key sends NOTIFY pulsestream_tenancy, '<table>:<id>'. Every gateway and
-- query replica LISTENs (platform/pgnotify) and drops its cached keys at
-- once; the cache TTL only bounds staleness while a replica's listener is
-- disconnected. A trigger, not the Go store, sends it, so a change made by
-- any process (pulsectl, the admin API, plain SQL) is announced, and only
-- once its transaction commits.
-- +goose StatementBegin
CREATE FUNCTION pulsestream_tenancy_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('pulsestream_tenancy', TG_TABLE_NAME || ':' || OLD.id);
    ELSE
        PERFORM pg_notify('pulsestream_tenancy', TG_TABLE_NAME || ':' || NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER tenants_notify AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION pulsestream_tenancy_notify();
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION pulsestream_tenancy_notify();

-- +goose Down
DROP TRIGGER api_keys_notify ON api_keys;
DROP TRIGGER tenants_notify ON tenants;
DROP FUNCTION pulsestream_tenancy_notify();
