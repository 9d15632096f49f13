-- +goose Up
-- Cluster variant of clickhouse/00060: meter_values_local is sharded like
-- events_local (by key), so a view on events_local writes the rows of its
-- shard; meter_builds is small and sharded by tenant. The query service's
-- view DDL is single-node only today (services/query/README.md, "Meters").
CREATE TABLE IF NOT EXISTS meter_values_local ON CLUSTER '{cluster}' (
    tenant_id    LowCardinality(String),
    version      String,
    event_time   DateTime64(3, 'UTC'),
    external_id  String,
    sign         Int8,
    projected_at DateTime64(3, 'UTC'),
    g0           LowCardinality(Nullable(String)),
    g1           LowCardinality(Nullable(String)),
    g2           LowCardinality(Nullable(String)),
    g3           LowCardinality(Nullable(String)),
    g4           LowCardinality(Nullable(String)),
    num          Nullable(Float64),
    h            Nullable(UInt128)
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/meter_values_local', '{replica}')
ORDER BY (tenant_id, version, event_time)
SETTINGS old_parts_lifetime = 40, cleanup_delay_period = 1, max_cleanup_delay_period = 10, cleanup_delay_period_random_add = 1;

CREATE TABLE IF NOT EXISTS meter_values ON CLUSTER '{cluster}' AS meter_values_local
ENGINE = Distributed('{cluster}', currentDatabase(), meter_values_local, cityHash64(tenant_id, external_id));

CREATE TABLE IF NOT EXISTS meter_builds_local ON CLUSTER '{cluster}' (
    tenant_id LowCardinality(String),
    meter     String,
    version   String,
    state     LowCardinality(String),
    cutoff    DateTime64(3, 'UTC'),
    updated   DateTime64(6, 'UTC'),
    detail    String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/meter_builds_local', '{replica}', updated)
ORDER BY (tenant_id, meter, version);

CREATE TABLE IF NOT EXISTS meter_builds ON CLUSTER '{cluster}' AS meter_builds_local
ENGINE = Distributed('{cluster}', currentDatabase(), meter_builds_local, cityHash64(tenant_id));

-- +goose Down
DROP TABLE IF EXISTS meter_builds ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_builds_local ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_values ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_values_local ON CLUSTER '{cluster}';
