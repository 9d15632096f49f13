-- +goose Up
-- Every secondary index of events is paid on each projected row (issue 14:
-- a plain COPY ran at 32,500 rows/s with all of them, 102,600 with the
-- primary key alone). Searches by type no longer get their own time-ordered
-- btree: they walk events_tenant_time (newest or oldest first, the order
-- they return) and filter on type, which reads about limit / (share of the
-- type) rows for a first page. services/query/README.md has the measured
-- plans and medians; docs/benchmarks.md the projection rates.
DROP INDEX IF EXISTS events_tenant_type_time;

-- +goose Down
CREATE INDEX IF NOT EXISTS events_tenant_type_time ON events (tenant_id, type, event_time DESC, external_id DESC) WHERE deleted_at IS NULL;
