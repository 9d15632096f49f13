-- +goose Up
-- Meter values extracted at write time (services/query/README.md, "Meters",
-- and docs/benchmarks.md for the measurements that chose this layout).
-- The query service keeps one materialized view per meter definition
-- (store/meter_build.go): it is created when the definition is first
-- queried, and a backfill INSERT ... SELECT from events fills the rows the
-- view did not see, split at a cutoff on projected_at so that every row of
-- events is read once, by either. From then on the projector's inserts into
-- events feed the view in the same INSERT. One row per row of events that
-- the definition reads: the event's key and rollup_sign (an erasure's -1 row
-- is kept, like in events, so a query can leave out erased keys without
-- FINAL), its time, its dimensions g0..g4 in the order of their names, the
-- numeric value (NULL: missing or not a number) and, for unique_count, the
-- 128-bit SipHash of the value's text, which is what uniqExact keeps of a
-- String itself (NULL: missing). An erasure deletes the key's rows with a
-- mutation (chsink/scrub.go); the cleanup settings are those of migration
-- 00020, for the same 51 s bound.
CREATE TABLE IF NOT EXISTS meter_values (
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
) ENGINE = MergeTree
ORDER BY (tenant_id, version, event_time)
SETTINGS old_parts_lifetime = 40, cleanup_delay_period = 1, max_cleanup_delay_period = 10, cleanup_delay_period_random_add = 1;

-- The state of each definition's view: building (cutoff set), ready
-- (backfilled and checked), failed or dropped (a newer definition replaced
-- it). The newest row per key wins.
CREATE TABLE IF NOT EXISTS meter_builds (
    tenant_id LowCardinality(String),
    meter     String,
    version   String,
    state     LowCardinality(String),
    cutoff    DateTime64(3, 'UTC'),
    updated   DateTime64(6, 'UTC'),
    detail    String
) ENGINE = ReplacingMergeTree(updated)
ORDER BY (tenant_id, meter, version);

-- Per-minute rollup of meter_values' +1 rows (count, sum, min and max
-- need no more), per version and combination of dimensions: a 30-day meter
-- reads 43,200 minutes per group instead of every event. An erasure cannot
-- be taken back out of a minute's min or max, so a meter reads from here only
-- the minutes without erased events of its version (their -1 rows in
-- meter_values name them) and the others, and the partial minutes at the
-- range's ends, from meter_values; an erasure deletes its minutes' rows
-- (chsink/scrub.go), which hold the erased events' dimensions.
CREATE TABLE IF NOT EXISTS meter_minutes (
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
) ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, version, minute, g0, g1, g2, g3, g4)
SETTINGS allow_nullable_key = 1, old_parts_lifetime = 40, cleanup_delay_period = 1, max_cleanup_delay_period = 10, cleanup_delay_period_random_add = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_minutes_mv TO meter_minutes AS
SELECT tenant_id, version, toStartOfMinute(event_time) AS minute, g0, g1, g2, g3, g4,
    count() AS events, countIf(num IS NULL) AS skipped, count(num) AS valued, sum(ifNull(num, 0)) AS total,
    ifNull(min(num), inf) AS lo, ifNull(max(num), -inf) AS hi
FROM meter_values
WHERE sign = 1
GROUP BY tenant_id, version, minute, g0, g1, g2, g3, g4;

-- +goose Down
DROP VIEW IF EXISTS meter_minutes_mv;
DROP TABLE IF EXISTS meter_minutes;
DROP TABLE IF EXISTS meter_builds;
DROP TABLE IF EXISTS meter_values;
