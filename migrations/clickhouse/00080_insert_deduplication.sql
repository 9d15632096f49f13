-- +goose Up
-- Insert deduplication for the projector's retries (docs/projector.md, "ClickHouse:
-- exact counts"). An INSERT into events writes the events part and each
-- materialized view's part (events_per_minute; meter_values through the query
-- service's meter views, and meter_minutes behind it) as separate parts, not
-- in one transaction: an engine that dies in the middle commits some of them
-- only (the claim of 00010 that they change together is wrong). The projector
-- sends a failed block again with the same insert_deduplication_token
-- (services/projector/internal/chsink/resend.go); each of these tables keeps
-- the tokens of its last 10,000 blocks, so a table that committed its part
-- skips it and a table that did not writes it. 10,000 is ReplicatedMergeTree's
-- default window: a block is sent again by the next retry of its partition,
-- long before 10,000 other blocks reach a table (meter_values gets one block
-- per meter definition per INSERT). A plain MergeTree deduplicates nothing
-- without it (window 0). An INSERT without a token is deduplicated by its
-- content: the same rows inserted twice into one of these tables store once.
ALTER TABLE events MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE events_per_minute MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE meter_values MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE meter_minutes MODIFY SETTING non_replicated_deduplication_window = 10000;

-- +goose Down
ALTER TABLE meter_minutes RESET SETTING non_replicated_deduplication_window;

ALTER TABLE meter_values RESET SETTING non_replicated_deduplication_window;

ALTER TABLE events_per_minute RESET SETTING non_replicated_deduplication_window;

ALTER TABLE events RESET SETTING non_replicated_deduplication_window;
