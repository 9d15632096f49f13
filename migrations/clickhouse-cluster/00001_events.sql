-- +goose Up
-- Cluster variant of clickhouse/00001 (migrate -clickhouse-schema cluster,
-- docs/scaling.md). It differs from the single-node file only where a cluster
-- needs it (a test holds it to that): every statement runs ON CLUSTER
-- '{cluster}', the rows live in events_local, a ReplicatedReplacingMergeTree
-- (one replica set per shard; '{shard}' and '{replica}' are the server's
-- macros), and events is a Distributed table over them, sharded by the key, so
-- every copy and tombstone of one (tenant_id, external_id) lands on one shard
-- and FINAL, evaluated per shard, still keeps one row per key.
CREATE TABLE IF NOT EXISTS events_local ON CLUSTER '{cluster}' (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/events_local', '{replica}', version, is_deleted)
ORDER BY (tenant_id, external_id);

CREATE TABLE IF NOT EXISTS events ON CLUSTER '{cluster}' AS events_local
ENGINE = Distributed('{cluster}', currentDatabase(), events_local, cityHash64(tenant_id, external_id));

-- +goose Down
DROP TABLE IF EXISTS events ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS events_local ON CLUSTER '{cluster}';
