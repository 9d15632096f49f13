-- +goose Up
-- unique_count from the per-minute rollup (services/query/README.md,
-- "Meters"; docs/benchmarks.md for the measurements that chose it): each
-- minute row of meter_minutes also keeps the distinct 128-bit hashes of its
-- events' values (u; a set: merging two rows of a minute is their union),
-- so a 30-day unique_count reads one array per minute and group instead of
-- one row of meter_values per event, and no longer buckets each event into
-- its window. skipped now counts the rows without a value of the version's
-- kind (num and h both NULL): for numeric versions (h always NULL) that is
-- what it counted before; unique_count versions built before this migration
-- have no hashes here and are built again (their version names the
-- layout: store.MeterVersion). An erasure deletes its minutes' rows, hashes
-- with them (chsink/scrub.go), as before.
ALTER TABLE meter_minutes ADD COLUMN IF NOT EXISTS u SimpleAggregateFunction(groupUniqArrayArray, Array(UInt128));

ALTER TABLE meter_minutes_mv MODIFY QUERY
SELECT tenant_id, version, toStartOfMinute(event_time) AS minute, g0, g1, g2, g3, g4,
    count() AS events, countIf(num IS NULL AND h IS NULL) AS skipped, count(num) AS valued, sum(ifNull(num, 0)) AS total,
    ifNull(min(num), inf) AS lo, ifNull(max(num), -inf) AS hi, groupUniqArrayIf(assumeNotNull(h), h IS NOT NULL) AS u
FROM meter_values
WHERE sign = 1
GROUP BY tenant_id, version, minute, g0, g1, g2, g3, g4;

-- +goose Down
ALTER TABLE meter_minutes_mv MODIFY QUERY
SELECT tenant_id, version, toStartOfMinute(event_time) AS minute, g0, g1, g2, g3, g4,
    count() AS events, countIf(num IS NULL) AS skipped, count(num) AS valued, sum(ifNull(num, 0)) AS total,
    ifNull(min(num), inf) AS lo, ifNull(max(num), -inf) AS hi
FROM meter_values
WHERE sign = 1
GROUP BY tenant_id, version, minute, g0, g1, g2, g3, g4;

ALTER TABLE meter_minutes DROP COLUMN IF EXISTS u;
