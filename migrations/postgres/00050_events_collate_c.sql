-- +goose Up
-- The indexed text columns of events compare bytes (collation "C"), whatever
-- the database's locale (issue 14). Under a linguistic locale such as
-- en_US.UTF-8 every comparison in the primary key, events_tenant_time and
-- events_tenant_subject goes through strcoll, which the projector pays on
-- every row it writes (docs/benchmarks.md, "Projection, fourth pass"). Byte
-- order is the order of the ids' code points, so on a C or C.UTF-8 database
-- no order changes; under a linguistic locale only the order of events with
-- the same event_time changes (keyset paging stays exact: the cursor
-- compares in the index's own collation).
--
-- text to text needs no table rewrite; PostgreSQL rebuilds the three btrees
-- that use these columns, holding an ACCESS EXCLUSIVE lock on events meanwhile
-- (writes and searches wait): 7-8 s per million rows measured, see
-- docs/operations.md, "PostgreSQL settings for the read model".
ALTER TABLE events
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN external_id TYPE text COLLATE "C",
    ALTER COLUMN subject TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE events
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN external_id TYPE text COLLATE "default",
    ALTER COLUMN subject TYPE text COLLATE "default";
