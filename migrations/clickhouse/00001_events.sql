-- +goose Up
-- The ClickHouse read model. One logical row per (tenant_id, external_id):
-- ReplacingMergeTree keeps the row with the highest version and drops it when
-- that row has is_deleted = 1. The projector derives version from the Kafka
-- offset so the first copy in the log wins (as in PostgreSQL) and a tombstone
-- beats every copy; queries read with FINAL, which makes counts exact before
-- background merges happen.
CREATE TABLE IF NOT EXISTS events (
    tenant_id       LowCardinality(String),
    external_id     String,
    type            LowCardinality(String),
    source          LowCardinality(String),
    subject         String,
    event_time      DateTime64(3, 'UTC'),
    received_at     DateTime64(3, 'UTC'),
    kafka_partition Int32,
    kafka_offset    Int64,
    projected_at    DateTime64(3, 'UTC') DEFAULT now64(3),
    version         UInt64,
    is_deleted      UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (tenant_id, external_id);

-- +goose Down
DROP TABLE IF EXISTS events;
