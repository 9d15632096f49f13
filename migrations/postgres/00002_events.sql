-- +goose Up
-- The PostgreSQL read model: one row per (tenant_id, external_id), first
-- write wins. kafka_partition/kafka_offset locate the stored copy in the log.
-- A deleted (erased) event keeps only tenant_id, external_id, content_hash
-- and deleted_at, so a re-ingest of the id is refused and the erasure is provable.
CREATE TABLE events (
    tenant_id        text NOT NULL,
    external_id      text NOT NULL,
    ingest_id        text,
    type             text,
    source           text,
    subject          text,
    event_time       timestamptz,
    received_at      timestamptz,
    datacontenttype  text,
    data             jsonb,
    data_base64      text,
    extensions       jsonb,
    content_hash     text,
    kafka_partition  integer NOT NULL,
    kafka_offset     bigint NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (tenant_id, external_id)
);
-- Search: newest first within a tenant, keyset on (event_time, external_id).
CREATE INDEX events_tenant_time ON events (tenant_id, event_time DESC, external_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX events_tenant_type_time ON events (tenant_id, type, event_time DESC, external_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX events_tenant_subject ON events (tenant_id, subject) WHERE deleted_at IS NULL;
CREATE INDEX events_data ON events USING gin (data jsonb_path_ops) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE events;
