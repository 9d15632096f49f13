-- +goose Up
-- Cluster variant of clickhouse/00080 (insert deduplication for the
-- projector's retries). Replicated tables deduplicate by default, keeping the
-- tokens of their last replicated_deduplication_window blocks (default 10,000)
-- for at most replicated_deduplication_window_seconds (default 3,600 s); the
-- window is pinned here so a server's merge_tree configuration cannot turn it
-- off. The parts live in the _local tables. Not tested on a cluster (the local
-- engine runs none): that the projector's token, sent with its INSERT into the
-- Distributed events, reaches the shards' inserts.
ALTER TABLE events_local ON CLUSTER '{cluster}' MODIFY SETTING replicated_deduplication_window = 10000;

ALTER TABLE events_per_minute_local ON CLUSTER '{cluster}' MODIFY SETTING replicated_deduplication_window = 10000;

ALTER TABLE meter_values_local ON CLUSTER '{cluster}' MODIFY SETTING replicated_deduplication_window = 10000;

ALTER TABLE meter_minutes_local ON CLUSTER '{cluster}' MODIFY SETTING replicated_deduplication_window = 10000;

-- +goose Down
ALTER TABLE meter_minutes_local ON CLUSTER '{cluster}' RESET SETTING replicated_deduplication_window;

ALTER TABLE meter_values_local ON CLUSTER '{cluster}' RESET SETTING replicated_deduplication_window;

ALTER TABLE events_per_minute_local ON CLUSTER '{cluster}' RESET SETTING replicated_deduplication_window;

ALTER TABLE events_local ON CLUSTER '{cluster}' RESET SETTING replicated_deduplication_window;
