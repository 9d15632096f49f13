package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/testkit/benchdata"
)

// benchTenant holds the benchmark's events. It is a fixed id so the rows
// are loaded once per database and reused; nothing else writes to it.
const benchTenant = "qt-bench-search"

// benchEvents is how many events the benchmark tenant holds
// (PULSESTREAM_BENCH_EVENTS overrides; default one million).
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("PULSESTREAM_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var benchT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// loadBench fills the benchmark tenant up to n events (benchdata: 20
// types, 5 sources, 10,000 subjects, 1,000 customers in data, one event
// per second from benchT0).
func loadBench(b *testing.B, pool *pgxpool.Pool, n int) {
	ctx := context.Background()
	start := time.Now()
	added, err := benchdata.LoadPostgres(ctx, pool, benchdata.Shape{Tenant: benchTenant, N: n, T0: benchT0, Step: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	if added == 0 {
		return
	}
	// VACUUM also flushes the GIN index's pending list, which a bulk load
	// leaves long (data filters scan it until autovacuum does this).
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) events`); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "loaded %d events into %s in %s\n", added, benchTenant, time.Since(start).Round(time.Millisecond))
}

// BenchmarkSearchFirstPage measures GET /v1/events (HTTP, JSON and all)
// against one tenant's many events in the real PostgreSQL; it reports the
// median latency and logs EXPLAIN (ANALYZE) of each query.
func BenchmarkSearchFirstPage(b *testing.B) {
	pool := querytest.Postgres(b)
	n := benchEvents()
	loadBench(b, pool, n)
	pg := store.NewPostgres(pool)
	base := serve(b, api.Deps{Events: pg, Auth: querytest.Auth{"k": benchTenant}})
	mid := benchT0.Add(time.Duration(n/2) * time.Second).Format(time.RFC3339)
	cases := []struct {
		name string
		q    url.Values
	}{
		{"newest", url.Values{}},
		{"one_type", url.Values{"type": {"type-7"}}},
		{"three_types", url.Values{"type": {"type-1,type-2,type-3"}}},
		{"type_and_time_range", url.Values{"type": {"type-7"}, "from": {benchT0.Add(time.Hour).Format(time.RFC3339)}, "to": {mid}}},
		{"source_subject", url.Values{"source": {"source-2"}, "subject": {"sub-42"}}},
		{"data_containment", url.Values{"data": {`{"customer":"c-42"}`}}},
		{"data_half_of_events", url.Values{"data.kind": {"odd"}}},
		{"type_and_data_path", url.Values{"type": {"type-3"}, "data.customer": {"c-3"}}},
		{"no_match", url.Values{"type": {"type-3"}, "data.customer": {"c-4"}}},
		{"oldest_first_limit_1000", url.Values{"order": {"asc"}, "limit": {"1000"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := c.q
			if q.Get("limit") == "" {
				q = cloneWith(q, "limit", "100")
			}
			u := base + "/v1/events?" + q.Encode()
			get := func() {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Authorization", "Bearer k")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", u, resp.StatusCode)
				}
			}
			get() // warm the connection and the cache
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				get()
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(0, "ns/op")
			if os.Getenv("PULSESTREAM_BENCH_EXPLAIN") == "1" {
				p, err := api.SearchQuery(q)
				if err != nil {
					b.Fatal(err)
				}
				plan, err := pg.ExplainSearch(context.Background(), benchTenant, p)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s over %d events:\n%s", c.name, n, plan)
			}
		})
	}
}

// BenchmarkStats measures GET /v1/stats over the benchmark tenant's events
// in the ClickHouse engine (the same events as BenchmarkSearchFirstPage,
// loaded with INSERT ... SELECT FROM numbers()).
func BenchmarkStats(b *testing.B) {
	ch := querytest.ClickHouse(b)
	n := benchEvents()
	ctx := context.Background()
	var have uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM events WHERE tenant_id = ?", benchTenant).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have < uint64(n) {
		start := time.Now()
		err := ch.Exec(ctx, fmt.Sprintf(`INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at, kafka_partition, kafka_offset, version, is_deleted)
			SELECT '%s', concat('ev-', leftPad(toString(number), 8, '0')), concat('type-', toString(number %% 20)), concat('source-', toString(number %% 5)),
				concat('sub-', toString(number %% 10000)), toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number),
				toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number), toInt32(number %% 8), toInt64(number), %d - number, 0
			FROM numbers(%d, %d)`, benchTenant, uint64(1)<<62, have, uint64(n)-have))
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "loaded %d events into ClickHouse in %s\n", uint64(n)-have, time.Since(start).Round(time.Millisecond))
	}
	base := serve(b, api.Deps{Stats: store.NewClickHouse(ch), Auth: querytest.Auth{"k": benchTenant}})
	day := func(d int) string { return benchT0.Add(time.Duration(d) * 24 * time.Hour).Format(time.RFC3339) }
	cases := []struct {
		name string
		q    url.Values
	}{
		{"one_day_hourly", url.Values{"from": {day(1)}, "to": {day(2)}}},
		{"all_days_daily_by_type", url.Values{"from": {day(0)}, "to": {day(12)}, "interval": {"day"}, "group_by": {"type"}}},
		{"all_minutes_one_type", url.Values{"from": {day(0)}, "to": {day(12)}, "interval": {"minute"}, "type": {"type-3"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			u := base + "/v1/stats?" + c.q.Encode()
			times := make([]time.Duration, 0, b.N)
			for range b.N {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Authorization", "Bearer k")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", u, resp.StatusCode)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
