-- +goose Up
-- Erasure on disk (docs/erasure.md). The projector erases an event's personal
-- columns with a mutation, which writes new parts; the parts it replaced, the
-- only ones still holding the values, become outdated. These settings bound how
-- long an outdated part stays on disk: it is kept old_parts_lifetime seconds
-- (ClickHouse's default 480, which guards against losing the new part's
-- unsynced pages in a power loss; 40 s is past Linux's default writeback of
-- dirty pages: expired after 30 s, flushed every 5 s), then the table's
-- cleanup, which sleeps at most max_cleanup_delay_period (+ up to
-- cleanup_delay_period_random_add) seconds when idle (default 300), deletes it.
-- Bound: 40 + 10 + 1 = 51 s after the mutation.
ALTER TABLE events MODIFY SETTING
    old_parts_lifetime = 40,
    cleanup_delay_period = 1,
    max_cleanup_delay_period = 10,
    cleanup_delay_period_random_add = 1;

-- +goose Down
ALTER TABLE events RESET SETTING old_parts_lifetime, cleanup_delay_period, max_cleanup_delay_period, cleanup_delay_period_random_add;
