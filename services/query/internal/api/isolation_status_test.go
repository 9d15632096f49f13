package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func TestTenantNeverSeesAnotherTenantsEventsThroughAnyEndpointOrParameter(t *testing.T) {
	e, _ := newEnv(t)
	pool := querytest.Postgres(t)
	ch := querytest.ClickHouse(t)
	// Only tenant B has events; they share ids, types and data with what A asks for.
	b := genRows(e.tenantB, 40, time.Minute)
	querytest.InsertPG(t, pool, b)
	querytest.InsertCH(t, ch, b)

	// B pages through its events and gets a genuine cursor.
	var pageB api.SearchPage
	q := url.Values{"limit": {"5"}}
	if st, d, _ := call(t, e.base, e.keyB, "/v1/events", q, &pageB); st != 200 || len(pageB.Events) != 5 || pageB.NextCursor == "" {
		t.Fatalf("tenant B's own search: %d %+v %d events", st, d, len(pageB.Events))
	}

	// A, with every filter and crafted input, sees nothing of B.
	for _, q := range []url.Values{
		{},
		{"type": {"order.paid"}},
		{"type": {"order.paid,user.signup,order.created"}},
		{"source": {"shop"}},
		{"subject": {"sub-1"}},
		{"data": {`{"kind":"odd"}`}},
		{"data.n": {"3"}},
		{"from": {t0.Format(time.RFC3339)}, "to": {t0.Add(time.Hour).Format(time.RFC3339)}},
		{"order": {"asc"}},
		{"type": {"x' OR tenant_id <> '"}},
	} {
		var p api.SearchPage
		if st, d, _ := call(t, e.base, e.keyA, "/v1/events", q, &p); st != 200 || len(p.Events) != 0 {
			t.Errorf("tenant A search %v: %d %+v, %d events (want 200 and none)", q, st, d, len(p.Events))
		}
	}
	// B's cursor is refused for A, whatever filters A repeats.
	st, d, _ := call(t, e.base, e.keyA, "/v1/events", cloneWith(q, "cursor", pageB.NextCursor), nil)
	if st != http.StatusBadRequest || d.Parameter != "cursor" || d.Code != api.CodeCursorMismatch {
		t.Errorf("tenant A with tenant B's cursor: %d %+v, want 400 cursor_mismatch on cursor", st, d)
	}
	// A cursor for another query of the same tenant is refused too.
	st, d, _ = call(t, e.base, e.keyB, "/v1/events", url.Values{"type": {"order.paid"}, "cursor": {pageB.NextCursor}}, nil)
	if st != http.StatusBadRequest || d.Code != api.CodeCursorMismatch {
		t.Errorf("cursor of another query: %d %+v", st, d)
	}
	// A tampered cursor fails the signature.
	raw := []byte(pageB.NextCursor)
	raw[len(raw)/2] ^= 1
	if raw[len(raw)/2] == '-' || raw[len(raw)/2] == '_' {
		raw[len(raw)/2] = 'A'
	}
	st, d, _ = call(t, e.base, e.keyB, "/v1/events", cloneWith(q, "cursor", string(raw)), nil)
	if st != http.StatusBadRequest || d.Code != api.CodeInvalidCursor {
		t.Errorf("tampered cursor: %d %+v", st, d)
	}

	for _, id := range []string{"ev-00001", "ev-00002"} {
		if st, _, _ := call(t, e.base, e.keyA, "/v1/events/"+id, nil, nil); st != 404 {
			t.Errorf("tenant A GET B's %s: %d", id, st)
		}
		if st, _, _ := call(t, e.base, e.keyA, "/v1/events/"+id+"/status", nil, nil); st != 404 {
			t.Errorf("tenant A status of B's %s: %d", id, st)
		}
	}
	var s api.StatsAnswer
	if st, d, _ := call(t, e.base, e.keyA, "/v1/stats", url.Values{"from": {t0.Format(time.RFC3339)}, "to": {t0.Add(48 * time.Hour).Format(time.RFC3339)}}, &s); st != 200 || s.Total != 0 || len(s.Buckets) != 0 || len(s.TopTypes) != 0 {
		t.Errorf("tenant A stats over B's range: %d %+v %+v", st, d, s)
	}
	if st, d, _ := call(t, e.base, e.keyA, "/v1/stats", url.Values{"type": {"x' OR 1=1 OR '"}, "source": {"\\' OR 1=1 --"}, "from": {t0.Format(time.RFC3339)}, "to": {t0.Add(48 * time.Hour).Format(time.RFC3339)}}, &s); st != 200 || s.Total != 0 {
		t.Errorf("tenant A stats with quoting tricks: %d %+v %+v", st, d, s)
	}
	if st, _, _ := call(t, e.base, e.keyB, "/v1/stats", url.Values{"from": {t0.Format(time.RFC3339)}, "to": {t0.Add(48 * time.Hour).Format(time.RFC3339)}}, &s); st != 200 || s.Total != 40 {
		t.Errorf("tenant B's own stats: %d total %d, want 40", st, s.Total)
	}
}

func TestStatusReportsAcceptedStoredProjectedAndDeletedStages(t *testing.T) {
	pool := querytest.Postgres(t)
	ch := querytest.ClickHouse(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "qt-" + hex.EncodeToString(rnd[:]) + ":"
	tenant, other := querytest.Tenant(t), querytest.Tenant(t)
	base := serve(t, api.Deps{
		Events: store.NewPostgres(pool), Stats: store.NewClickHouse(ch), Markers: store.NewMarkers(rdb, prefix),
		Auth: querytest.Auth{"k": tenant, "other": other},
	})
	ctx := context.Background()
	acceptedAt := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range []string{"accepted", "stored", "projected", "deleted"} {
		m := markers.Marker{ContentHash: "ab", AcceptedAt: acceptedAt, Partition: 2, Offset: 41, IngestID: "ing-" + id}
		if err := rdb.Set(ctx, markers.Key(prefix, tenant, id), m.Encode(), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Del(context.Background(), markers.Key(prefix, tenant, id)) })
	}
	row := func(id string, off int64, del bool) querytest.Row {
		return querytest.Row{Tenant: tenant, ID: id, Type: "t", Time: t0, Data: map[string]any{}, Partition: 2, Offset: off, Deleted: del}
	}
	querytest.InsertPG(t, pool, []querytest.Row{row("stored", 41, false), row("projected", 41, false), row("deleted", 41, true), row("pg-only-deleted", 5, true)})
	querytest.InsertCH(t, ch, []querytest.Row{row("projected", 41, false), row("deleted", 41, false)})
	querytest.InsertCH(t, ch, []querytest.Row{row("deleted", 50, true)})

	for _, c := range []struct {
		id, state                      string
		accepted, stored, proj, delete bool
	}{
		{"accepted", "accepted", true, false, false, false},
		{"stored", "stored", true, true, false, false},
		{"projected", "projected", true, true, true, false},
		{"deleted", "deleted", true, true, false, true},
		{"pg-only-deleted", "deleted", false, true, false, true},
	} {
		var s api.Status
		if st, d, _ := call(t, base, "k", "/v1/events/"+c.id+"/status", nil, &s); st != 200 {
			t.Errorf("%s: %d %+v", c.id, st, d)
			continue
		}
		if s.State != c.state || (s.Accepted != nil) != c.accepted || (s.Stored != nil) != c.stored || (s.Projected != nil) != c.proj || (s.Deleted != nil) != c.delete {
			t.Errorf("%s: got %+v", c.id, s)
		}
		if s.Accepted != nil && (!s.Accepted.At.Equal(acceptedAt) || *s.Accepted.Offset != 41 || s.Accepted.IngestID != "ing-"+c.id) {
			t.Errorf("%s: accepted step %+v", c.id, *s.Accepted)
		}
		if s.Stored != nil && (s.Stored.At.IsZero() || *s.Stored.Partition != 2) {
			t.Errorf("%s: stored step %+v", c.id, *s.Stored)
		}
		if s.Projected != nil && (s.Projected.At.IsZero() || *s.Projected.Offset != 41) {
			t.Errorf("%s: projected step %+v", c.id, *s.Projected)
		}
	}
	if st, d, _ := call(t, base, "k", "/v1/events/never/status", nil, nil); st != 404 || d.Code != api.CodeNotFound {
		t.Errorf("never seen: %d %+v", st, d)
	}
	if st, _, _ := call(t, base, "other", "/v1/events/projected/status", nil, nil); st != 404 {
		t.Errorf("other tenant: %d", st)
	}
}

// slowPG runs pg_sleep, tagged so the test can find it in
// pg_stat_activity, before every query: a query that outlives the timeout.
type slowPG struct {
	*pgxpool.Pool
	tag string
}

func (s slowPG) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if _, err := s.Pool.Exec(ctx, "SELECT pg_sleep(30) -- "+s.tag); err != nil {
		return nil, err
	}
	return s.Pool.Query(ctx, sql, args...)
}

func (s slowPG) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if _, err := s.Pool.Exec(ctx, "SELECT pg_sleep(30) -- "+s.tag); err != nil {
		return errRow{err}
	}
	return s.Pool.QueryRow(ctx, sql, args...)
}

func (s slowPG) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return s.Pool.Exec(ctx, sql, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func TestSlowQueryIsCancelledAndAnswered503WithRetryAfter(t *testing.T) {
	pool := querytest.Postgres(t)
	tenant := querytest.Tenant(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tag := "slow-" + hex.EncodeToString(rnd[:])
	base := serve(t, api.Deps{
		Events: store.NewPostgres(slowPG{pool, tag}), Auth: querytest.Auth{"k": tenant},
		QueryTimeout: 300 * time.Millisecond,
	})
	first := time.Now()
	for _, path := range []string{"/v1/events", "/v1/events/x"} {
		start := time.Now()
		st, d, h := call(t, base, "k", path, nil, nil)
		took := time.Since(start)
		if st != http.StatusServiceUnavailable || d.Code != api.CodeQueryTimeout || h.Get("Retry-After") == "" {
			t.Errorf("%s: %d %+v Retry-After %q, want 503 query_timeout with Retry-After", path, st, d, h.Get("Retry-After"))
		}
		if took > 2*time.Second {
			t.Errorf("%s: answered after %s; the timeout is 300ms", path, took)
		}
	}
	// The sleeping statements were cancelled in PostgreSQL, not left running:
	// gone long before their 30 s would be over (the cancel requests are
	// sent on new connections, which a loaded machine may take seconds to
	// open and serve).
	deadline := first.Add(20 * time.Second)
	for {
		var running int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%' || $1 AND query NOT LIKE '%pg_stat_activity%'`, tag).Scan(&running)
		if err != nil {
			t.Fatal(err)
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d timed-out queries still run in PostgreSQL", running)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowCH runs a query that takes about 60 s in the engine before every
// statistics query: far longer than the API's timeout, and than the time
// other tests' statements queued on the shared engine may take.
type slowCH struct{ store.CHQuerier }

func (s slowCH) Query(ctx context.Context, q string, args ...any) (driver.Rows, error) {
	rows, err := s.CHQuerier.Query(ctx, "SELECT sleepEachRow(0.2) FROM numbers(300) SETTINGS max_block_size = 1")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	return s.CHQuerier.Query(ctx, q, args...)
}

func TestSlowStatisticsQueryIsStoppedInClickHouseAndAnswered503(t *testing.T) {
	ch := querytest.ClickHouse(t)
	tenant := querytest.Tenant(t)
	base := serve(t, api.Deps{Stats: store.NewClickHouse(slowCH{ch}), Auth: querytest.Auth{"k": tenant}, QueryTimeout: 500 * time.Millisecond})
	start := time.Now()
	st, d, h := call(t, base, "k", "/v1/stats", nil, nil)
	if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("slow stats: %d %+v, want 503 with Retry-After", st, d)
	}
	t.Logf("answered %s after %s", d.Code, time.Since(start).Round(time.Millisecond))
	// The engine runs one query at a time: a quick query right after gets
	// through once the slow one was stopped by max_execution_time (1 s),
	// long before its 60 s would be over (the margin absorbs other tests'
	// statements queued on the shared engine).
	var one uint8
	if err := ch.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the engine was busy for %s: the slow query was not stopped", took)
	}
}
