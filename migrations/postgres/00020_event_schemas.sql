-- +goose Up
-- Event schema registry (issue 19, tenancy/eventschemas): per tenant, one
-- JSON Schema (draft 2020-12) per event type, in immutable versions.
CREATE TABLE event_schemas (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    type       text NOT NULL CHECK (length(type) BETWEEN 1 AND 256),
    version    integer NOT NULL CHECK (version > 0),
    document   text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, type, version)
);

-- One row per (tenant, type) with a schema or a mode of its own: the
-- current version (the newest unless set back) and the type's mode (NULL:
-- the tenant's mode applies).
CREATE TABLE event_types (
    tenant_id       text NOT NULL REFERENCES tenants (id),
    type            text NOT NULL CHECK (length(type) BETWEEN 1 AND 256),
    mode            text CHECK (mode IN ('off', 'warn', 'enforce')),
    current_version integer,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, type),
    FOREIGN KEY (tenant_id, type, current_version) REFERENCES event_schemas (tenant_id, type, version)
);

-- A tenant's schema settings: the mode of types without one, whether events
-- refused by the envelope checks are quarantined too, and how long
-- quarantined events are kept.
CREATE TABLE schema_settings (
    tenant_id          text PRIMARY KEY REFERENCES tenants (id),
    mode               text NOT NULL DEFAULT 'off' CHECK (mode IN ('off', 'warn', 'enforce')),
    quarantine_invalid boolean NOT NULL DEFAULT false,
    quarantine_days    integer NOT NULL DEFAULT 7 CHECK (quarantine_days BETWEEN 1 AND 3650),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Every change tells the gateways at once (LISTEN pulsestream_event_schemas,
-- payload: the tenant id); they also poll, in case a notification is lost.
-- +goose StatementBegin
CREATE FUNCTION notify_event_schemas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pulsestream_event_schemas', COALESCE(NEW.tenant_id, OLD.tenant_id));
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER event_types_notify AFTER INSERT OR UPDATE OR DELETE ON event_types
    FOR EACH ROW EXECUTE FUNCTION notify_event_schemas();
CREATE TRIGGER schema_settings_notify AFTER INSERT OR UPDATE OR DELETE ON schema_settings
    FOR EACH ROW EXECUTE FUNCTION notify_event_schemas();

-- The quarantine read model: events refused by a schema (or, as a tenant
-- option, by the envelope checks), projected from the quarantine topic by
-- the gateway (services/gateway/quarantine). original is the event's bytes
-- as sent; state goes quarantined -> replayed once a replay ingested it.
CREATE TABLE quarantine (
    tenant_id      text NOT NULL,
    id             text NOT NULL, -- ULID, time-ordered: the keyset cursor
    external_id    text NOT NULL DEFAULT '',
    type           text NOT NULL DEFAULT '',
    subject        text NOT NULL DEFAULT '',
    code           text NOT NULL,
    message        text NOT NULL DEFAULT '',
    pointer        text NOT NULL DEFAULT '',
    schema_version integer,
    original       bytea NOT NULL,
    received_at    timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'quarantined' CHECK (state IN ('quarantined', 'replayed')),
    replayed_at    timestamptz,
    ingest_id      text,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX quarantine_subject ON quarantine (tenant_id, subject) WHERE subject <> '';
CREATE INDEX quarantine_received ON quarantine (received_at);

-- +goose Down
DROP TABLE quarantine;
DROP TABLE schema_settings;
DROP TABLE event_types;
DROP TABLE event_schemas;
DROP FUNCTION notify_event_schemas();
