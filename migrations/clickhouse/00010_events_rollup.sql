-- +goose Up
-- Exact per-minute rollup of the ClickHouse read model (written by the
-- projector, see docs/projector.md). The projector inserts a row into events
-- only when it changes the logical state of its key, after asking ClickHouse
-- which keys of the batch already exist:
--   a first event of a key          rollup_sign = +1
--   a tombstone of a live event     rollup_sign = -1 (carrying that event's type and event_time)
--   a tombstone of an unseen key    rollup_sign =  0 (blocks later copies; counts nothing)
-- The materialized view turns each inserted block into signed counts, in the
-- same INSERT, so events and events_per_minute never disagree, and duplicates
-- or replays (skipped by the lookup) add nothing.
ALTER TABLE events ADD COLUMN IF NOT EXISTS rollup_sign Int8 DEFAULT 0;

CREATE TABLE IF NOT EXISTS events_per_minute (
    tenant_id LowCardinality(String),
    minute    DateTime('UTC'),
    type      LowCardinality(String),
    events    Int64
) ENGINE = SummingMergeTree
ORDER BY (tenant_id, minute, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_per_minute_mv TO events_per_minute AS
SELECT tenant_id, toDateTime(toStartOfMinute(event_time), 'UTC') AS minute, type, toInt64(rollup_sign) AS events
FROM events
WHERE rollup_sign != 0;

-- +goose Down
DROP VIEW IF EXISTS events_per_minute_mv;
DROP TABLE IF EXISTS events_per_minute;
ALTER TABLE events DROP COLUMN IF EXISTS rollup_sign;
