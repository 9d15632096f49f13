-- +goose Up
CREATE TABLE tenants (
    id                 text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name               text NOT NULL UNIQUE,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    rate_limit_per_sec integer NOT NULL DEFAULT 10000 CHECK (rate_limit_per_sec > 0),
    rate_limit_burst   integer NOT NULL DEFAULT 50000 CHECK (rate_limit_burst > 0),
    retention_days     integer NOT NULL DEFAULT 30 CHECK (retention_days > 0),
    max_event_bytes    integer NOT NULL DEFAULT 1048576 CHECK (max_event_bytes > 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each key is stored; prefix is the short public part
-- shown in listings and used to find the row before a constant-time compare.
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    prefix        text NOT NULL UNIQUE,
    hash          bytea NOT NULL CHECK (length(hash) = 32),
    name          text NOT NULL DEFAULT '',
    scopes        text[] NOT NULL CHECK (scopes <@ ARRAY['ingest', 'query', 'admin']::text[] AND cardinality(scopes) > 0),
    allowed_cidrs cidr[] NOT NULL DEFAULT '{}',
    expires_at    timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    tenant_id  text,
    target     text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_keys;
DROP TABLE tenants;
