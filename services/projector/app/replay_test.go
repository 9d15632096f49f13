package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// pgSnapshot is every stored column of the tenant's rows (stored_at aside).
func (h *harness) pgSnapshot() string {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT (to_jsonb(e) - 'stored_at')::text
		FROM events e WHERE tenant_id = $1 ORDER BY external_id`, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return b.String()
}

// chSnapshot is the logical content of the ClickHouse read model: the
// winning row of every key (deleted ones included) and the rollup.
func (h *harness) chSnapshot() string {
	h.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	rows, err := h.ch.Query(ctx, `SELECT external_id, argMax(type, version), argMax(event_time, version), argMax(kafka_offset, version),
		argMax(is_deleted, version), max(version) FROM events WHERE tenant_id = ? GROUP BY external_id ORDER BY external_id`, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	for rows.Next() {
		var (
			id, typ string
			at      time.Time
			off     int64
			del     uint8
			ver     uint64
		)
		if err := rows.Scan(&id, &typ, &at, &off, &del, &ver); err != nil {
			h.t.Fatal(err)
		}
		fmt.Fprintln(&b, id, typ, at.UTC().Format(time.RFC3339Nano), off, del, ver)
	}
	rows.Close()
	rollup := h.chRollup()
	fmt.Fprintln(&b, rollup.total, rollup.byType, rollup.byMin)
	return b.String()
}

func TestDroppedReadModelsReplayedFromTheTopicHoldTheSameRows(t *testing.T) {
	h := newHarness(t, 3)
	recs, exp := h.dupLog(5000, 0.1)
	// Erase a few keys, one of them never seen, and re-send an erased one.
	recs = append(recs, h.tombstoneRecord("evt-0000001"), h.tombstoneRecord("evt-0000100"), h.tombstoneRecord("never-seen"),
		h.eventRecord(h.event("evt-0000001", "order.created", baseTime)))
	h.produce(recs...)
	_, stop := h.startStoppable()
	waitFor(t, 60*time.Second, "both sinks at lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	stop() // a replay needs the sink's group to be empty
	pgBefore, chBefore := h.pgSnapshot(), h.chSnapshot()
	if n := strings.Count(pgBefore, "\n"); n != exp.total+1 {
		t.Fatalf("postgres holds %d rows before the replay, want %d", n, exp.total+1)
	}

	// Rows the topic does not hold, and the time the replay begins: --drop
	// must remove the first, and every row must be written after the second
	// (a drop that truncates nothing would otherwise look the same).
	h.plantSentinels()
	since := h.storeClocks()
	h.replay("postgres", "--drop")
	if got := h.pgSnapshot(); got != pgBefore {
		t.Fatalf("postgres after drop+replay differs:\n%s", firstDiff(pgBefore, got))
	}
	h.replay("clickhouse", "--drop")
	if got := h.chSnapshot(); got != chBefore {
		t.Fatalf("clickhouse after drop+replay differs:\n%s", firstDiff(chBefore, got))
	}
	h.requireRewritten(since)
	// Replaying over the existing rows (no drop, from a timestamp) changes nothing either.
	h.replay("clickhouse", "--from-timestamp", time.Now().Add(-time.Hour).Format(time.RFC3339))
	h.replay("postgres")
	if h.pgSnapshot() != pgBefore || h.chSnapshot() != chBefore {
		t.Fatal("a replay without --drop changed the read models")
	}
	// The projector resumes where the replay left the groups.
	h.produce(h.eventRecord(h.event("after-replay", "order.created", baseTime)))
	h.start()
	waitFor(t, 60*time.Second, "the new record in both stores", func() bool {
		return h.lag("postgres") == 0 && h.lag("clickhouse") == 0
	})
	if n := strings.Count(h.pgSnapshot(), "\n"); n != exp.total+2 {
		t.Fatalf("postgres rows %d after the new record, want %d", n, exp.total+2)
	}
}

// sentinel is an id the topic never holds.
const sentinel = "sentinel-not-in-the-log"

// plantSentinels stores a copy of one of the tenant's rows under the
// sentinel id in PostgreSQL and in ClickHouse's events table (so its rollup
// counts it too), plus a rollup row of a sentinel type.
func (h *harness) plantSentinels() {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.pool.Exec(ctx, `INSERT INTO events SELECT (jsonb_populate_record(NULL::events, to_jsonb(e) || jsonb_build_object('external_id', $2::text))).*
		FROM events e WHERE tenant_id = $1 AND deleted_at IS NULL LIMIT 1`, h.tenant, sentinel); err != nil {
		h.t.Fatal(err)
	}
	if err := h.ch.Exec(ctx, "INSERT INTO events SELECT * REPLACE (? AS external_id) FROM events WHERE tenant_id = ? AND rollup_sign = 1 LIMIT 1", sentinel, h.tenant); err != nil {
		h.t.Fatal(err)
	}
	if err := h.ch.Exec(ctx, "INSERT INTO events_per_minute VALUES (?, '2001-01-01 00:00:00', ?, 1)", h.tenant, sentinel); err != nil {
		h.t.Fatal(err)
	}
	if h.pgCount("external_id = $2", sentinel) != 1 || h.chCount("events", "external_id = ?", sentinel) != 1 || h.chCount("events_per_minute", "type = ?", sentinel) != 1 {
		h.t.Fatal("the sentinels were not stored")
	}
}

// clocks are the stores' own clocks at one moment.
type clocks struct{ pg, ch time.Time }

func (h *harness) storeClocks() clocks {
	h.t.Helper()
	var c clocks
	if err := h.pool.QueryRow(context.Background(), "SELECT clock_timestamp()").Scan(&c.pg); err != nil {
		h.t.Fatal(err)
	}
	if err := h.ch.QueryRow(context.Background(), "SELECT now64(3)").Scan(&c.ch); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// requireRewritten fails unless the sentinels are gone and every row of
// both read models (ClickHouse's raw rows, before merges) was written after
// since.
func (h *harness) requireRewritten(since clocks) {
	h.t.Helper()
	if n := h.pgCount("external_id = $2", sentinel); n != 0 {
		h.t.Fatalf("postgres still holds the sentinel after replay --drop (%d rows)", n)
	}
	if n := h.pgCount("stored_at < $2", since.pg); n != 0 {
		h.t.Fatalf("%d postgres rows were stored before the replay began", n)
	}
	if n := h.chCount("events", "external_id = ?", sentinel); n != 0 {
		h.t.Fatalf("clickhouse still holds the sentinel after replay --drop (%d rows)", n)
	}
	if n := h.chCount("events_per_minute", "type = ?", sentinel); n != 0 {
		h.t.Fatalf("the clickhouse rollup still holds the sentinel after replay --drop (%d rows)", n)
	}
	if n := h.chCount("events", "projected_at < ?", since.ch); n != 0 {
		h.t.Fatalf("%d clickhouse rows were written before the replay began", n)
	}
}

// pgCount counts the tenant's PostgreSQL rows matching where ($1 is the tenant).
func (h *harness) pgCount(where string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM events WHERE tenant_id = $1 AND "+where, append([]any{h.tenant}, args...)...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// chCount counts the tenant's raw rows of a ClickHouse table matching where.
func (h *harness) chCount(table, where string, args ...any) uint64 {
	h.t.Helper()
	var n uint64
	if err := h.ch.QueryRow(context.Background(), "SELECT count() FROM "+table+" WHERE tenant_id = ? AND "+where, append([]any{h.tenant}, args...)...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n before: %s\n after:  %s", i, x, y)
		}
	}
	return "(same lines, different length)"
}
