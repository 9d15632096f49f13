package outcomes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
)

func pgPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return migratetest.PostgresPool(t)
}

func tenantID(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	tenant := "outcomes-" + hex.EncodeToString(b)
	return tenant
}

func counts(t *testing.T, pool *pgxpool.Pool, tenant string) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT outcome || '@' || to_char(minute AT TIME ZONE 'UTC', 'HH24:MI'), events
		FROM ingest_outcomes WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// Two gateways count into the same rows, per minute; counts added after a
// flush are added to the row, not written over it.
func TestTwoGatewaysAddTheirCountsPerTenantAndMinute(t *testing.T) {
	pool := pgPool(t)
	tenant, other := tenantID(t), tenantID(t)
	clk := &clock{time.Date(2026, 11, 28, 1, 2, 30, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := New(Config{FlushInterval: time.Second}, NewPGStore(pool), log), New(Config{FlushInterval: time.Second}, NewPGStore(pool), log)
	a.now, b.now = clk.now, clk.now
	a.Add(tenant, "accepted", 10)
	a.Add(tenant, "accepted", 5)
	a.Add(tenant, RateLimited, 100)
	b.Add(tenant, "accepted", 7)
	b.Add(tenant, "rejected", 2)
	b.Add(other, "accepted", 1)
	a.Add(tenant, "duplicate", 0) // nothing
	ctx := context.Background()
	for _, c := range []*Counter{a, b} {
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(time.Minute)
	a.Add(tenant, "accepted", 3)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	a.Add(tenant, "accepted", 1) // same minute, second flush: added
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"accepted@01:02": 22, "rate_limited@01:02": 100, "rejected@01:02": 2, "accepted@01:03": 4}
	got := counts(t, pool, tenant)
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if got := counts(t, pool, other); got["accepted@01:02"] != 1 || len(got) != 1 {
		t.Errorf("other tenant: %v", got)
	}
}

type failingStore struct {
	Store
	fail bool
}

func (f *failingStore) Add(ctx context.Context, rows []Row) error {
	if f.fail {
		return errors.New("postgres down")
	}
	return f.Store.Add(ctx, rows)
}

// A flush that fails keeps its counts for the next one, except minutes past
// the retention; and a counter past Retention prunes old rows.
func TestFailedFlushKeepsItsCountsAndOldRowsArePruned(t *testing.T) {
	pool := pgPool(t)
	tenant := tenantID(t)
	now := time.Now().UTC().Truncate(time.Minute)
	clk := &clock{now.Add(-Retention - 2*time.Minute)}
	st := &failingStore{Store: NewPGStore(pool), fail: true}
	c := New(Config{FlushInterval: time.Second}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.now = clk.now
	c.Add(tenant, "accepted", 4) // will be past retention when kept
	clk.t = now
	c.Add(tenant, "rejected", 3)
	ctx := context.Background()
	if err := c.Flush(ctx); err == nil {
		t.Fatal("flush to a failing store reported no error")
	}
	c.Add(tenant, "rejected", 1)
	st.fail = false
	if _, err := pool.Exec(ctx, `INSERT INTO ingest_outcomes VALUES ($1, $2, 'accepted', 9)`, tenant, now.Add(-Retention-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := counts(t, pool, tenant)
	if len(got) != 1 || got["rejected@"+now.Format("15:04")] != 4 {
		t.Fatalf("rows %v, want only rejected=4 at %s (kept across the failed flush; the old row pruned, the stale count dropped)", got, now.Format("15:04"))
	}
}
