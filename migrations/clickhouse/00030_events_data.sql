-- +goose Up
-- The event's data (its JSON text as sent, '' for binary data or none), for
-- meters (services/query/README.md, "Meters"). A String read with
-- JSONExtract, not the JSON type: measured on the local engine (chDB 26.9,
-- 2026-11-27, 3,000,000 rows), casting into a JSON column cost about 9 s more
-- per million inserted rows than a String (10.5 s against 1.4 s for 1,000,000
-- rows on the loaded 2-core machine), a price paid by every projected event;
-- a daily sum grouped by one path read 2.5x faster from JSON (0.33 s against
-- 0.84 s for 3,000,000 rows). The projector writes it with the other columns;
-- an erasure blanks it with subject and source (chsink/scrub.go), so it leaves
-- the disk within the bound of migration 00020.
ALTER TABLE events ADD COLUMN IF NOT EXISTS data String DEFAULT '';

-- +goose Down
ALTER TABLE events DROP COLUMN IF EXISTS data;
