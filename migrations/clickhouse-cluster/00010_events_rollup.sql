-- +goose Up
-- Cluster variant of clickhouse/00010: the rollup is kept per shard (the
-- materialized view reads the inserts into events_local, which the
-- Distributed events forwards to the shard owning each key) and summed across
-- shards through the Distributed events_per_minute. The column is added to
-- both events tables: a Distributed table's columns are its own.
ALTER TABLE events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS rollup_sign Int8 DEFAULT 0;

ALTER TABLE events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS rollup_sign Int8 DEFAULT 0;

CREATE TABLE IF NOT EXISTS events_per_minute_local ON CLUSTER '{cluster}' (
    tenant_id LowCardinality(String),
    minute    DateTime('UTC'),
    type      LowCardinality(String),
    events    Int64
) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/events_per_minute_local', '{replica}')
ORDER BY (tenant_id, minute, type);

CREATE TABLE IF NOT EXISTS events_per_minute ON CLUSTER '{cluster}' AS events_per_minute_local
ENGINE = Distributed('{cluster}', currentDatabase(), events_per_minute_local, cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS events_per_minute_mv ON CLUSTER '{cluster}' TO events_per_minute_local AS
SELECT tenant_id, toDateTime(toStartOfMinute(event_time), 'UTC') AS minute, type, toInt64(rollup_sign) AS events
FROM events_local
WHERE rollup_sign != 0;

-- +goose Down
DROP VIEW IF EXISTS events_per_minute_mv ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS events_per_minute ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS events_per_minute_local ON CLUSTER '{cluster}';
ALTER TABLE events ON CLUSTER '{cluster}' DROP COLUMN IF EXISTS rollup_sign;
ALTER TABLE events_local ON CLUSTER '{cluster}' DROP COLUMN IF EXISTS rollup_sign;
