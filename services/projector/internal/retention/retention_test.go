package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for goose
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/pgsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// stores are a private, migrated PostgreSQL schema and ClickHouse database.
func stores(t *testing.T) (*pgxpool.Pool, driver.Conn) {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "retention_" + hex.EncodeToString(b[:])
	pool, err := pgxpool.New(context.Background(), migratetest.PrivatePostgres(t, testenv.PostgresURL(t), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	addr := testenv.ClickHouseAddr(t)
	migratetest.PrivateClickHouse(t, addr, name)
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return pool, ch
}

func item(tenant, id string, offset int64, at time.Time) record.Item {
	return record.Item{Kind: record.KindEvent, TenantID: tenant, ExternalID: id, Offset: offset, Timestamp: at,
		Event: &schemas.Event{Version: 1, TenantID: tenant, ID: id, Type: "t", Time: at, ReceivedAt: at, Data: json.RawMessage(`{"n":1}`)}}
}

// ids is what each read model holds: live ids per tenant, and ClickHouse's
// per-minute rollup total per tenant.
func ids(t *testing.T, pool *pgxpool.Pool, ch driver.Conn) (pg, chIDs map[string][]string, rollup map[string]int64) {
	t.Helper()
	ctx := context.Background()
	pg, chIDs, rollup = map[string][]string{}, map[string][]string{}, map[string]int64{}
	rows, err := pool.Query(ctx, `SELECT tenant_id, external_id FROM events WHERE deleted_at IS NULL ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tn, id string
		if err := rows.Scan(&tn, &id); err != nil {
			t.Fatal(err)
		}
		pg[tn] = append(pg[tn], id)
	}
	rows.Close()
	crows, err := ch.Query(ctx, `SELECT tenant_id, external_id FROM events FINAL ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for crows.Next() {
		var tn, id string
		if err := crows.Scan(&tn, &id); err != nil {
			t.Fatal(err)
		}
		chIDs[tn] = append(chIDs[tn], id)
	}
	crows.Close()
	rrows, err := ch.Query(ctx, `SELECT tenant_id, sum(events) FROM events_per_minute GROUP BY tenant_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rrows.Next() {
		var tn string
		var n int64
		if err := rrows.Scan(&tn, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			rollup[tn] = n
		}
	}
	rrows.Close()
	return pg, chIDs, rollup
}

// TestRetentionRemovesExactlyTheExpiredEventsAndAReplayDoesNotRestoreThem:
// tenant a keeps 10 days, b 30. One sweep removes a's two events older than
// 10 days from PostgreSQL, ClickHouse and its rollup, and nothing else; the
// same records written again through the filtered sinks (a replay) restore
// none of them, and count as duplicates.
func TestRetentionRemovesExactlyTheExpiredEventsAndAReplayDoesNotRestoreThem(t *testing.T) {
	pool, ch := stores(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO tenants (id, name, retention_days) VALUES ('a', 'a', 10), ('b', 'b', 30)`); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	items := []record.Item{
		item("a", "old1", 0, now.AddDate(0, 0, -20)),
		item("a", "old2", 1, now.AddDate(0, 0, -10).Add(-2*time.Minute)),
		item("a", "recent", 2, now.AddDate(0, 0, -10).Add(2*time.Minute)),
		item("a", "new", 3, now.Add(-time.Hour)),
		item("b", "old1", 4, now.AddDate(0, 0, -20)),
	}
	sinks := []consumer.Sink{pgsink.New(pool), chsink.New(ch)}
	for _, s := range sinks {
		if _, err := s.Write(ctx, items); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
	}
	want := map[string][]string{"a": {"new", "old1", "old2", "recent"}, "b": {"old1"}}
	if pg, c, r := ids(t, pool, ch); !maps.EqualFunc(pg, want, slices.Equal) || !maps.EqualFunc(c, want, slices.Equal) || r["a"] != 4 || r["b"] != 1 {
		t.Fatalf("before the sweep: PostgreSQL %v, ClickHouse %v, rollup %v", pg, c, r)
	}

	reg := prometheus.NewRegistry()
	p := NewPolicy(pool, reg)
	sw := NewSweeper(Config{Interval: time.Minute, Batch: 1}, p, pool, ch, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{"a": {"new", "recent"}, "b": {"old1"}}
	if pg, c, r := ids(t, pool, ch); !maps.EqualFunc(pg, want, slices.Equal) || !maps.EqualFunc(c, want, slices.Equal) || r["a"] != 2 || r["b"] != 1 {
		t.Fatalf("after the sweep: PostgreSQL %v, ClickHouse %v, rollup %v; want %v and rollup a 2, b 1", pg, c, r, want)
	}
	if n := testutil.ToFloat64(sw.deleted.WithLabelValues("postgres")); n != 2 {
		t.Fatalf("PostgreSQL deletions counted %v, want 2", n)
	}

	for _, s := range sinks { // the replay
		st, err := NewFilter(s, p).Write(ctx, items)
		if err != nil {
			t.Fatalf("%s replay: %v", s.Name(), err)
		}
		if st.Rows != 0 || st.Duplicates != len(items) {
			t.Fatalf("%s replay: %+v, want 0 rows and %d duplicates", s.Name(), st, len(items))
		}
	}
	if pg, c, r := ids(t, pool, ch); !maps.EqualFunc(pg, want, slices.Equal) || !maps.EqualFunc(c, want, slices.Equal) || r["a"] != 2 || r["b"] != 1 {
		t.Fatalf("after the replay: PostgreSQL %v, ClickHouse %v, rollup %v; want %v", pg, c, r, want)
	}
	if n := testutil.ToFloat64(p.skipped.WithLabelValues("postgres")); n != 2 {
		t.Fatalf("expired events skipped by the PostgreSQL filter: %v, want 2", n)
	}
}

// TestFilterLeavesTheSharedBatchAlone: dropping expired events never
// changes the slice the other sink reads.
func TestFilterLeavesTheSharedBatchAlone(t *testing.T) {
	p := NewPolicy(nil, prometheus.NewRegistry())
	p.days = map[string]int{"a": 1}
	now := time.Now()
	items := []record.Item{item("a", "x", 0, now), item("a", "old", 1, now.AddDate(0, 0, -2)), item("a", "y", 2, now)}
	var got []string
	f := NewFilter(recordingSink{func(its []record.Item) {
		for _, it := range its {
			got = append(got, it.ExternalID)
		}
	}}, p)
	if _, err := f.Write(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"x", "y"}) || items[1].ExternalID != "old" || items[2].ExternalID != "y" {
		t.Fatalf("sink got %v; batch now %v %v %v", got, items[0].ExternalID, items[1].ExternalID, items[2].ExternalID)
	}
}

type recordingSink struct{ got func([]record.Item) }

func (recordingSink) Name() string             { return "recording" }
func (recordingSink) Permanent(err error) bool { return false }
func (s recordingSink) Write(_ context.Context, items []record.Item) (consumer.Stats, error) {
	s.got(items)
	return consumer.Stats{Rows: len(items)}, nil
}
