-- +goose Up
-- Meter definitions per tenant (tenancy/meter.go, admin API and pulsectl;
-- every change audited). definition holds the validated spec as JSON; a meter
-- is computed from the stored events at query time, so a changed definition
-- applies to all history.
CREATE TABLE meters (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    slug       text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, slug)
);

-- +goose Down
DROP TABLE meters;
