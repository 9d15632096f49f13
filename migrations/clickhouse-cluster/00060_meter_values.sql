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

-- Per-minute rollup of meter_values' +1 rows (count, sum, min and max
-- need no more), per version and combination of dimensions: a 30-day meter
-- reads 43,200 minutes per group instead of every event. An erasure cannot
-- be taken back out of a minute's min or max, so a meter reads from here only
-- the minutes without erased events of its version (their -1 rows in
-- meter_values name them) and the others, and the partial minutes at the
-- range's ends, from meter_values; an erasure deletes its minutes' rows
-- (chsink/scrub.go), which hold the erased events' dimensions.
CREATE TABLE IF NOT EXISTS meter_minutes_local ON CLUSTER '{cluster}' (
    tenant_id LowCardinality(String),
    version   String,
    minute    DateTime('UTC'),
    g0        LowCardinality(Nullable(String)),
    g1        LowCardinality(Nullable(String)),
    g2        LowCardinality(Nullable(String)),
    g3        LowCardinality(Nullable(String)),
    g4        LowCardinality(Nullable(String)),
    events    SimpleAggregateFunction(sum, UInt64),
    skipped   SimpleAggregateFunction(sum, UInt64),
    valued    SimpleAggregateFunction(sum, UInt64),
    total     SimpleAggregateFunction(sum, Float64),
    lo        SimpleAggregateFunction(min, Float64),
    hi        SimpleAggregateFunction(max, Float64)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/meter_minutes_local', '{replica}')
ORDER BY (tenant_id, version, minute, g0, g1, g2, g3, g4)
SETTINGS allow_nullable_key = 1, old_parts_lifetime = 40, cleanup_delay_period = 1, max_cleanup_delay_period = 10, cleanup_delay_period_random_add = 1;

CREATE TABLE IF NOT EXISTS meter_minutes ON CLUSTER '{cluster}' AS meter_minutes_local
ENGINE = Distributed('{cluster}', currentDatabase(), meter_minutes_local, cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_minutes_mv ON CLUSTER '{cluster}' TO meter_minutes_local AS
SELECT tenant_id, version, toStartOfMinute(event_time) AS minute, g0, g1, g2, g3, g4,
    count() AS events, countIf(num IS NULL) AS skipped, count(num) AS valued, sum(ifNull(num, 0)) AS total,
    ifNull(min(num), inf) AS lo, ifNull(max(num), -inf) AS hi
FROM meter_values_local
WHERE sign = 1
GROUP BY tenant_id, version, minute, g0, g1, g2, g3, g4;

-- +goose Down
DROP VIEW IF EXISTS meter_minutes_mv ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_minutes ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_minutes_local ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_builds ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_builds_local ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_values ON CLUSTER '{cluster}';
DROP TABLE IF EXISTS meter_values_local ON CLUSTER '{cluster}';
