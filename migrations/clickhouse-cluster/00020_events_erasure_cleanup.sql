-- +goose Up
-- Cluster variant of clickhouse/00020 (the bound on erased values' lifetime
-- on disk, docs/erasure.md): the parts live in events_local, on every replica.
ALTER TABLE events_local ON CLUSTER '{cluster}' MODIFY SETTING
    old_parts_lifetime = 40,
    cleanup_delay_period = 1,
    max_cleanup_delay_period = 10,
    cleanup_delay_period_random_add = 1;

-- +goose Down
ALTER TABLE events_local ON CLUSTER '{cluster}' RESET SETTING old_parts_lifetime, cleanup_delay_period, max_cleanup_delay_period, cleanup_delay_period_random_add;
