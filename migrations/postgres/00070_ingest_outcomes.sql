-- +goose Up
-- Per-tenant ingestion outcomes per minute (issue 21): what the gateway
-- answered for each event (accepted, duplicate, rejected, rate_limited) and
-- how many requests it refused whole (request_refused). Rejected and
-- rate-limited events never reach Kafka, so the read models cannot count
-- them: every gateway counts outcomes in memory and adds its counts here
-- every few seconds (gateway setting outcomes-flush-interval), off the
-- request path. Several gateways add to the same row. Rows older than two
-- days are pruned by the gateways (services/gateway/outcomes).
CREATE TABLE ingest_outcomes (
    tenant_id text        NOT NULL,
    minute    timestamptz NOT NULL,
    outcome   text        NOT NULL,
    events    bigint      NOT NULL,
    PRIMARY KEY (tenant_id, minute, outcome)
);
CREATE INDEX ingest_outcomes_minute ON ingest_outcomes (minute);

-- +goose Down
DROP TABLE ingest_outcomes;
