package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// meterBenchTenant holds the meter benchmark's events, loaded once per
// database and reused (a fixed id; nothing else writes to it).
const meterBenchTenant = "qt-bench-meters"

// meterBenchEvents is how many events the tenant holds
// (PULSESTREAM_BENCH_METER_EVENTS overrides; default ten million).
func meterBenchEvents() uint64 {
	if n, err := strconv.ParseUint(os.Getenv("PULSESTREAM_BENCH_METER_EVENTS"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}

// loadMeterBench fills the tenant up to n events spread evenly over the 30
// days from benchT0, as the projector lays them out (rollup_sign 1, one row
// per key): data {"tokens": 0..999, "model": m0..m7, "user": u0..u99999}.
func loadMeterBench(b *testing.B, n uint64) {
	ch := querytest.ClickHouse(b)
	ctx := context.Background()
	var have uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM events WHERE tenant_id = ?", meterBenchTenant).Scan(&have); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	step := 30 * 24 * 3600 * 1000 / n // milliseconds between events
	for have < n {
		chunk := min(n-have, 2_000_000)
		err := ch.Exec(ctx, fmt.Sprintf(`INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at, kafka_partition,
				kafka_offset, version, is_deleted, rollup_sign, data)
			SELECT '%s', concat('m-', leftPad(toString(number), 9, '0')), 'llm.call', 'bench', concat('sub-', toString(number %% 10000)),
				fromUnixTimestamp64Milli(toInt64(%d + number * %d), 'UTC'), fromUnixTimestamp64Milli(toInt64(%d + number * %d), 'UTC'),
				toInt32(number %% 8), toInt64(number), %d - number, 0, 1,
				concat('{"tokens":', toString(number * 7919 %% 1000), ',"model":"m', toString(number %% 8), '","user":"u', toString(number * 31 %% 100000), '"}')
			FROM numbers(%d, %d)`, meterBenchTenant, benchT0.UnixMilli(), step, benchT0.UnixMilli(), step, uint64(1)<<62, have, chunk))
		if err != nil {
			b.Fatal(err)
		}
		have += chunk
	}
	fmt.Fprintf(os.Stderr, "meter benchmark tenant holds %d events (load %s)\n", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkMeters measures GET /v1/meters/{slug}/query (HTTP, JSON and
// all) over meterBenchEvents events of one tenant in the ClickHouse engine:
// a 30-day daily sum grouped by one dimension, and a 30-day daily
// unique_count, each from the values extracted at write time (source
// extracted: the meters' views are discarded and built again first, and the
// build time printed) and parsing data at query time (source events, the
// path a meter answers from while its view is built). It reports the median
// latency and the engine's CPU seconds per query (from /proc of the process
// in $PULSESTREAM_LOCAL/clickhouse.pid, when the engine runs on this
// machine; it runs other clients' queries too).
func BenchmarkMeters(b *testing.B) {
	n := meterBenchEvents()
	loadMeterBench(b, n)
	pool := querytest.Postgres(b)
	admin := tenancy.NewAdmin(tenancy.NewPGStore(pool))
	ctx := context.Background()
	if _, _, err := admin.EnsureTenant(ctx, "bench", meterBenchTenant, tenancy.TenantSettings{}); err != nil {
		b.Fatal(err)
	}
	ch := querytest.ClickHouse(b)
	builds := store.NewMeterBuilds(ch, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Second, nil)
	dims := map[string]string{"model": "$.model"}
	for _, slug := range []string{"tokens", "users"} {
		spec := tenancy.MeterSpec{EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggSum, ValuePath: "$.tokens", GroupBy: dims}
		if slug == "users" {
			spec = tenancy.MeterSpec{EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggUniqueCount, ValuePath: "$.user", GroupBy: dims}
		}
		m, _, err := admin.PutMeter(ctx, "bench", meterBenchTenant, slug, spec)
		if err != nil {
			b.Fatal(err)
		}
		rebuildMeterView(b, builds, m, n)
	}
	waitMerges(b, ch)
	sources := map[string]string{
		"extracted": serve(b, api.Deps{MeterDefs: tenancy.NewPGStore(pool), Meters: store.NewClickHouse(ch).WithMeterBuilds(builds),
			Auth: querytest.Auth{"k": meterBenchTenant}, QueryTimeout: time.Minute}),
		"events": serve(b, api.Deps{MeterDefs: tenancy.NewPGStore(pool), Meters: store.NewClickHouse(ch),
			Auth: querytest.Auth{"k": meterBenchTenant}, QueryTimeout: time.Minute}),
	}
	month := url.Values{"from": {benchT0.Format(time.RFC3339)}, "to": {benchT0.Add(30 * 24 * time.Hour).Format(time.RFC3339)}, "window": {"day"}}
	cases := []struct {
		name, slug string
		q          url.Values
	}{
		{"sum_30_days_daily_by_model", "tokens", cloneWith(month, "group_by", "model")},
		{"unique_count_30_days_daily", "users", month},
	}
	for _, c := range cases {
		for _, src := range []string{"extracted", "events"} {
			b.Run(c.name+"/source="+src, func(b *testing.B) {
				benchMeterQuery(b, sources[src]+"/v1/meters/"+c.slug+"/query?"+c.q.Encode(), n)
			})
		}
	}
}

// rebuildMeterView discards m's view and builds it again, printing how long
// the build (view, backfill of n events, check) took.
func rebuildMeterView(b *testing.B, builds *store.MeterBuilds, m tenancy.Meter, n uint64) {
	ctx := context.Background()
	if err := builds.Discard(ctx, meterBenchTenant, m); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := builds.Build(ctx, meterBenchTenant, m); err != nil {
		b.Fatal(err)
	}
	if ok, err := builds.Ready(ctx, meterBenchTenant, m); !ok || err != nil {
		b.Fatalf("meter %s not ready after its build: %v", m.Slug, err)
	}
	took := time.Since(start)
	fmt.Fprintf(os.Stderr, "meter %s: view built over %d events in %s (%.1f s per million events)\n",
		m.Slug, n, took.Round(time.Millisecond), took.Seconds()/(float64(n)/1e6))
}

// waitMerges waits (up to 5 minutes) until the engine merges no part of
// the tables the builds just filled, so that the queries measure the
// steady state rather than share the engine with those merges (whose CPU
// the engine figure would count), and prints how long that took.
func waitMerges(b *testing.B, ch driver.Conn) {
	start := time.Now()
	for time.Since(start) < 5*time.Minute {
		var n uint64
		if err := ch.QueryRow(context.Background(), "SELECT count() FROM system.merges WHERE database = currentDatabase() AND table IN ('meter_values', 'meter_minutes')").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			fmt.Fprintf(os.Stderr, "meter tables' merges done %s after the builds\n", time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(os.Stderr, "meter tables still merging 5 minutes after the builds: measuring anyway\n")
}

func benchMeterQuery(b *testing.B, u string, n uint64) {
	get := func() {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"events":%d,`, n)) {
			b.Fatalf("%s: %d %.300s", u, resp.StatusCode, body)
		}
	}
	get() // warm the connection and the engine's caches
	cpu0 := engineCPU()
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
	if cpu1 := engineCPU(); cpu0 >= 0 && cpu1 >= 0 {
		b.ReportMetric((cpu1-cpu0)/float64(b.N), "engine-cpu-s/query")
	}
	b.ReportMetric(0, "ns/op")
}

// engineCPU is the user+system CPU seconds of the local ClickHouse engine
// process, or -1 when it is not on this machine.
func engineCPU() float64 {
	raw, err := os.ReadFile(filepath.Join(os.Getenv("PULSESTREAM_LOCAL"), "clickhouse.pid"))
	if err != nil {
		return -1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return -1
	}
	s, err := testenv.ProcessCPUSeconds(pid)
	if err != nil {
		return -1
	}
	return s
}
