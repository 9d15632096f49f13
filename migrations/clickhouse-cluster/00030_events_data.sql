-- +goose Up
-- Cluster variant of clickhouse/00030 (the event's data for meters): the
-- column is added to both events tables, as a Distributed table's columns
-- are its own.
ALTER TABLE events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS data String DEFAULT '';

ALTER TABLE events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS data String DEFAULT '';

-- +goose Down
ALTER TABLE events ON CLUSTER '{cluster}' DROP COLUMN IF EXISTS data;

ALTER TABLE events_local ON CLUSTER '{cluster}' DROP COLUMN IF EXISTS data;
