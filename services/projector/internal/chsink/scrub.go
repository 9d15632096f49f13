package chsink

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// Erasure on disk. A tombstone row hides its key's event rows under FINAL,
// but those rows, with their subject and source, stay in their parts until a
// merge happens to combine them with the tombstone. So after inserting a
// batch, the sink rewrites the personal columns of the batch's erased keys:
// ALTER TABLE events UPDATE subject = '', source = '', data = '' (a mutation: ClickHouse
// writes new parts without the values, synchronously with mutations_sync = 2,
// before the batch's offsets are committed). The parts it replaced are
// outdated and removed from disk by the table's cleanup within
// old_parts_lifetime + max_cleanup_delay_period (+ random add), set by
// migration clickhouse/00020. A lightweight DELETE or UPDATE only masks rows
// (the bytes stay until a merge), and OPTIMIZE ... FINAL would rewrite the
// whole table (it has one partition); see docs/erasure.md for the costs.
//
// Every tombstone of the batch counts, also those the plan skipped as
// duplicates: after a crash between the INSERT and the mutation, the replayed
// batch finds its keys already deleted, and the scrub still runs. A SELECT
// first keeps batches whose keys are clean (replays, repeated tombstones)
// from starting a mutation at all.

// scrubSettings: wait until every replica has applied the mutation; the IN
// lists can exceed the default query size.
var scrubSettings = clickhouse.Settings{"mutations_sync": 2, "max_query_size": 64 << 20}

// scrub blanks the personal columns of every non-deleted row of the keys the
// batch's tombstones erase.
func (s *Sink) scrub(ctx context.Context, items []record.Item) error {
	keys := tombstoned(items)
	chunk := max(s.LookupChunk, 1)
	for start := 0; start < len(keys); start += chunk {
		if err := s.scrubChunk(ctx, keys[start:min(start+chunk, len(keys))]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) scrubChunk(ctx context.Context, keys []key) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(scrubSettings))
	where := "is_deleted = 0 AND (subject != '' OR source != '' OR data != '') AND " + keyFilter(keys)
	var dirty uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM events WHERE "+where).Scan(&dirty); err != nil {
		return fmt.Errorf("find erased rows in clickhouse: %w", err)
	}
	if dirty == 0 {
		return nil
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE events UPDATE subject = '', source = '', data = '' WHERE "+where); err != nil {
		return fmt.Errorf("erase personal columns of %d clickhouse rows: %w", dirty, err)
	}
	return scrubMeterValues(ctx, s.conn, keys)
}

// meterValuesDirty: rows of meter_values (migration clickhouse/00060) still
// holding an event's extracted values.
const meterValuesDirty = "sign = 1 AND (g0 IS NOT NULL OR g1 IS NOT NULL OR g2 IS NOT NULL OR g3 IS NOT NULL OR g4 IS NOT NULL OR num IS NOT NULL OR h IS NOT NULL) AND "

// scrubMeterValues blanks the values the meters' views extracted from the
// erased events (the rows stay, as in events, so counts of rows still
// agree; meters leave the keys out by their -1 rows).
func scrubMeterValues(ctx context.Context, conn driver.Conn, keys []key) error {
	where := meterValuesDirty + keyFilter(keys)
	var dirty uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM meter_values WHERE "+where).Scan(&dirty); err != nil {
		return fmt.Errorf("find erased meter values in clickhouse: %w", err)
	}
	if dirty == 0 {
		return nil
	}
	if err := conn.Exec(ctx, "ALTER TABLE meter_values UPDATE g0 = NULL, g1 = NULL, g2 = NULL, g3 = NULL, g4 = NULL, num = NULL, h = NULL WHERE "+where); err != nil {
		return fmt.Errorf("erase meter values of %d clickhouse rows: %w", dirty, err)
	}
	return scrubMeterMinutes(ctx, conn, keys)
}

// scrubMeterMinutes deletes the per-minute meter rollup rows (migration
// clickhouse/00060) of the minutes holding the erased events, which carry
// their dimensions; meters compute those minutes from meter_values.
func scrubMeterMinutes(ctx context.Context, conn driver.Conn, keys []key) error {
	minutes := "SELECT DISTINCT tenant_id, version, toDateTime(toStartOfMinute(event_time), 'UTC') FROM meter_values WHERE sign = -1 AND " + keyFilter(keys)
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM meter_minutes WHERE (tenant_id, version, minute) IN ("+minutes+")").Scan(&n); err != nil {
		return fmt.Errorf("find erased meter minutes in clickhouse: %w", err)
	}
	if n == 0 {
		return nil
	}
	if err := conn.Exec(ctx, "ALTER TABLE meter_minutes DELETE WHERE (tenant_id, version, minute) IN ("+minutes+")"); err != nil {
		return fmt.Errorf("delete %d erased meter minutes in clickhouse: %w", n, err)
	}
	return nil
}

// tombstoned returns the distinct keys of the batch's tombstones.
func tombstoned(items []record.Item) []key {
	seen := map[key]struct{}{}
	var keys []key
	for i := range items {
		if items[i].Kind != record.KindTombstone {
			continue
		}
		k := key{items[i].TenantID, items[i].ExternalID}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	return keys
}

// keyFilter is a WHERE condition matching exactly keys (never empty).
func keyFilter(keys []key) string {
	var q strings.Builder
	q.WriteString("(tenant_id, external_id) IN (")
	for i, k := range keys {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		quote(&q, k.tenant)
		q.WriteByte(',')
		quote(&q, k.id)
		q.WriteByte(')')
	}
	q.WriteString(")")
	return q.String()
}
