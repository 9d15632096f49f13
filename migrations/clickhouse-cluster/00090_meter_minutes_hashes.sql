-- +goose Up
-- Cluster variant of clickhouse/00090: the column on meter_minutes_local and
-- on its Distributed table, the view (on meter_values_local) on every server.
ALTER TABLE meter_minutes_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS u SimpleAggregateFunction(groupUniqArrayArray, Array(UInt128));

ALTER TABLE meter_minutes ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS u SimpleAggregateFunction(groupUniqArrayArray, Array(UInt128));

ALTER TABLE meter_minutes_mv ON CLUSTER '{cluster}' MODIFY QUERY
SELECT tenant_id, version, toStartOfMinute(event_time) AS minute, g0, g1, g2, g3, g4,
    count() AS events, countIf(num IS NULL AND h IS NULL) AS skipped, count(num) AS valued, sum(ifNull(num, 0)) AS total,
    ifNull(min(num), inf) AS lo, ifNull(max(num), -inf) AS hi, groupUniqArrayIf(assumeNotNull(h), h IS NOT NULL) AS u
FROM meter_values_local
WHERE sign = 1
GROUP BY tenant_id, version, minute, g0, g1, g2, g3, g4;

-- +goose Down
ALTER TABLE meter_minutes_mv ON CLUSTER '{cluster}' MODIFY QUERY
SELECT tenant_id, version, toStartOfMinute(event_time) AS minute, g0, g1, g2, g3, g4,
    count() AS events, countIf(num IS NULL) AS skipped, count(num) AS valued, sum(ifNull(num, 0)) AS total,
    ifNull(min(num), inf) AS lo, ifNull(max(num), -inf) AS hi
FROM meter_values_local
WHERE sign = 1
GROUP BY tenant_id, version, minute, g0, g1, g2, g3, g4;

ALTER TABLE meter_minutes ON CLUSTER '{cluster}' DROP COLUMN IF EXISTS u;

ALTER TABLE meter_minutes_local ON CLUSTER '{cluster}' DROP COLUMN IF EXISTS u;
