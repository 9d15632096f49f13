package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/benchdata"
)

// TestConsoleFirstPaintBenchmark is a benchmark, not a test (make
// bench-console; it runs only when PULSESTREAM_CONSOLE_BENCH_EVENTS is
// set): it loads that many events of one tenant (benchdata, the search
// benchmark's shape) into the stack's read models, spread over the last 24
// hours so that every default range of the console holds them all, plus a
// day of gateway outcome counts and a meter; then it opens each console
// page in headless Chromium, each time as a fresh page load, and reports
// per page the median and worst first contentful paint (the browser's
// paint timing), first data (the first chart, table, cards, timeline or JSON
// in the page, seen by a MutationObserver the benchmark adds to every
// document: it reads any version of the console alike) and all data (the
// page's "rendered" mark, set when all its data is on screen), in ms from
// navigation start. It asserts nothing about time: the figures are the
// result.
func TestConsoleFirstPaintBenchmark(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("PULSESTREAM_CONSOLE_BENCH_EVENTS"))
	if err != nil || n <= 0 {
		t.Skip("a benchmark: set PULSESTREAM_CONSOLE_BENCH_EVENTS (make bench-console)")
	}
	runs := 5
	s := startStack(t)
	loadConsoleBench(t, s, n)
	admin := tenancytest.New(t, s.pool, tenancy.OperatorTenant, tenancy.TenantSettings{}).Key(tenancy.ScopeAdmin).Key
	if code := s.call(admin, http.MethodPut, s.consoleURL+"/api/admin/v1/admin/tenants/"+s.tenantA+"/meters/n-sum", "application/json",
		`{"event_types":["type-3"],"aggregation":"sum","value_path":"$.n"}`, nil); code != http.StatusCreated {
		t.Fatalf("create meter: %d", code)
	}
	b := newBrowser(t)
	b.run("observe first data", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: firstDataObserver})
		return err
	}))
	pages := []struct{ key, hash string }{
		{s.keyA, "#/overview"}, {s.keyA, "#/overview?range=day"}, {s.keyA, "#/events"}, {s.keyA, "#/event/ev-00000042"},
		{s.keyA, "#/events?type=type-7&limit=100"}, {s.keyA, "#/stats"},
		{admin, "#/dlq"}, {admin, "#/admin/tenants"}, {admin, "#/admin/tenant/" + s.tenantA}, {admin, "#/admin/audit"}, {admin, "#/admin/erasures"},
	}
	signedIn := ""
	fmt.Printf("console-bench: %d events, %d loads per page\n", n, runs)
	fmt.Printf("console-bench: %-36s %12s %12s %12s %12s %12s %12s\n", "page", "fcp median", "fcp max", "first data", "max", "all data", "max")
	for _, p := range pages {
		if p.key != signedIn {
			b.signInAs(s.consoleURL, p.key)
			signedIn = p.key
		}
		var fcp, first, all []float64
		before := s.routeSeconds(t)
		for i := range runs {
			// A new query string each time: a whole new document, not a hash change.
			m := b.firstPaint(fmt.Sprintf("%s/?load=%d%s", s.consoleURL, i, p.hash))
			fcp, first, all = append(fcp, m[0]), append(first, m[1]), append(all, m[2])
		}
		fmt.Printf("console-bench: %-36s %9.0f ms %9.0f ms %9.0f ms %9.0f ms %9.0f ms %9.0f ms\n", p.hash,
			median(fcp), slices.Max(fcp), median(first), slices.Max(first), median(all), slices.Max(all))
		fmt.Printf("console-bench: %-36s server: %s\n", "", serverTimes(before, s.routeSeconds(t), runs))
	}
}

// loadConsoleBench writes n events of tenant A straight into both read
// models (spread over the 24 hours before now) and a day of outcome counts.
func loadConsoleBench(t *testing.T, s *stack, n int) {
	ctx := context.Background()
	start := time.Now()
	step := 24 * time.Hour / time.Duration(n)
	shape := benchdata.Shape{Tenant: s.tenantA, N: n, T0: start.Add(-24 * time.Hour).Truncate(time.Millisecond), Step: step.Truncate(time.Microsecond)}
	if _, err := benchdata.LoadPostgres(ctx, s.pool, shape); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM (ANALYZE) events`); err != nil {
		t.Fatal(err)
	}
	for _, q := range benchdata.ClickHouseInserts(shape, 0) {
		if err := s.ch.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ingest_outcomes (tenant_id, minute, outcome, events)
		SELECT $1, date_trunc('minute', now()) - m * interval '1 minute', o, 700 + (m % 13) * (length(o))
		FROM generate_series(0, 1439) m, unnest(ARRAY['accepted', 'duplicate', 'rejected', 'rate_limited']) o`, s.tenantA); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("console-bench: loaded %d events (one every %s) in %s\n", n, shape.Step, time.Since(start).Round(time.Second))
}

// signInAs puts key in the console's session storage (the sign-in page's
// own work, measured by the browser test, not here).
func (b *browser) signInAs(consoleURL, key string) {
	b.t.Helper()
	b.openFresh(consoleURL + "/?load=signin#/signin")
	evalJS[bool](b, fmt.Sprintf(`sessionStorage.setItem("key", %q), sessionStorage.setItem("query", "1"), sessionStorage.setItem("admin", "1"), true`, key))
}

// firstDataObserver marks (performance mark "first-data") the moment the
// page's main element first holds data: a chart, a table, the overview's
// cards, an event's timeline or JSON.
const firstDataObserver = `new MutationObserver((_, o) => {
	if (document.querySelector("main svg.chart, main table, main .cards, main ol.timeline, main pre")) { performance.mark("first-data"); o.disconnect(); }
}).observe(document, { childList: true, subtree: true });`

// firstPaint loads url (a new document) and returns its first contentful
// paint, first data and all data, in ms.
func (b *browser) firstPaint(url string) []float64 {
	b.t.Helper()
	b.openFresh(url)
	marks := []string{"first-contentful-paint", "first-data", "rendered"}
	b.run("paint timing", chromedp.Poll[chromedp.Void](`["first-contentful-paint", "first-data", "rendered"].every(m => performance.getEntriesByName(m).length > 0)`))
	got := evalJS[[]float64](b, `["first-contentful-paint", "first-data", "rendered"].map(m => performance.getEntriesByName(m)[0].startTime)`)
	if errs := evalJS[int](b, `document.querySelectorAll('main .error').length`); errs > 0 {
		b.t.Fatalf("%s shows an error: %s", url, b.showing())
	}
	if len(got) != len(marks) {
		b.t.Fatalf("%s: marks %v", url, got)
	}
	return got
}

// openFresh navigates to url, a new document, and waits until its page
// has rendered its data. It waits on the DOM (chromedp's queries follow the
// new document) rather than polling a script, whose execution context the
// navigation can replace under it.
func (b *browser) openFresh(url string) {
	b.t.Helper()
	b.run("open "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(`main[data-rendered]`)))
}

// routeDuration matches the query service's request durations per route
// (sum and count of its histogram).
var routeDuration = regexp.MustCompile(`^pulsestream_query_http_request_duration_seconds_(sum|count)\{route="([^"]+)"\} (\S+)$`)

// routeSeconds reads the query service's request time and count per route
// (every listener's, the console's included) from its /metrics.
func (s *stack) routeSeconds(t *testing.T) map[string][2]float64 {
	t.Helper()
	resp, err := http.Get(s.queryURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		m := routeDuration.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		e := out[m[2]]
		if m[1] == "sum" {
			e[0] = v
		} else {
			e[1] = v
		}
		out[m[2]] = e
	}
	return out
}

// serverTimes renders what the query service spent per page load on each
// route between two readings: requests and mean ms per request.
func serverTimes(before, after map[string][2]float64, loads int) string {
	var parts []string
	for route, a := range after {
		b := before[route]
		if n := a[1] - b[1]; n > 0 && route != "/metrics" {
			parts = append(parts, fmt.Sprintf("%s %.4g/load %.0f ms", route, n/float64(loads), (a[0]-b[0])/n*1000))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
