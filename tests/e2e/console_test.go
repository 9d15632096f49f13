package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// chromiumPath is Debian's Chromium, installed by scripts/chromium.sh (make test).
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium driven over the DevTools protocol
// (chromedp), with a fresh profile.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string // where screenshots go
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("%s is missing: run scripts/chromium.sh (make test does)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// The flags this machine needs (no sandbox as root, no GPU, and no
		// background connections, which its closed network refuses).
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	shots := os.Getenv("PULSESTREAM_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	b := &browser{t: t, ctx: ctx, shots: shots}
	// The first Run starts the browser; it lives as long as ctx (no timeout here).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return b
}

// run performs steps, failing the test after stepBound.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	runB(b, what, chromedp.Steps(steps...))
}

// stepBound is how long one browser step may wait for the page: its data
// comes from the query service, whose query timeout in the stack is a
// minute (the shared engine runs one statement at a time, and a loaded
// machine queues it behind other tests'); a step waits at least that long.
// No step here measures speed (make bench-console does).
const stepBound = 2 * time.Minute

// runB runs one action returning a T, failing the test after stepBound.
func runB[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepBound)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v; the page shows: %s", what, err, b.showing())
	}
	return v
}

// text waits for the element sel (CSS) to be visible and returns its text.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(runB(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// open navigates to url (a console page) and waits until that page has
// rendered its data (the page marks main with data-rendered = its hash).
func (b *browser) open(url string) {
	b.t.Helper()
	b.run("open "+url, chromedp.Navigate(url), rendered())
}

// reload loads the page again and waits until the new document has
// rendered its data: the old document's mark is removed first, or the wait
// could end on it (same hash) before the new document has its data.
func (b *browser) reload() {
	b.t.Helper()
	evalJS[bool](b, `document.querySelector("main").removeAttribute("data-rendered"), true`)
	b.run("reload", chromedp.Reload(), rendered())
}

func rendered() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`document.querySelector('main').dataset.rendered === location.hash`)
}

// showing is the page's URL and text, for failure messages.
func (b *browser) showing() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ": " + document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

func evalJS[T any](b *browser, js string) T {
	b.t.Helper()
	return runB(b, "evaluate "+js, chromedp.Evaluate[T](js))
}

// shot saves a screenshot of the whole page as <name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := runB(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// accessible fails the test if a visible control of the page has no
// accessible name: inputs, selects and text areas need a <label> (or
// aria-label), buttons text (or aria-label); or if Tab alone does not reach
// every control and link of the page's main part (tabReaches).
func (b *browser) accessible(page string) {
	b.t.Helper()
	b.tabReaches(page)
	bad := evalJS[[]string](b, `[...document.querySelectorAll('input,select,textarea,button')]
		.filter(e => e.offsetParent !== null)
		.filter(e => e.tagName === 'BUTTON' ? !(e.textContent.trim() || e.getAttribute('aria-label'))
			: !((e.labels && e.labels.length) || e.getAttribute('aria-label')))
		.map(e => e.outerHTML)`)
	if len(bad) > 0 {
		b.t.Errorf("%s: controls without a label: %v", page, bad)
	}
}

// tabbable selects what Tab should reach in the page's main part: visible,
// enabled controls and links, and elements made focusable on purpose.
const tabbable = `[...document.querySelectorAll('main :is(input, select, textarea, button, a[href], [tabindex]:not([tabindex="-1"]))')]
	.filter(e => e.offsetParent !== null && !e.disabled)`

// tabReaches presses Tab, from the top of the page's main part, once more
// than it has controls and links (tabbable), recording every element that
// gets the focus, and fails the test if one of them never had it. Then it
// puts the focus back on main, where a page puts it when it is shown.
func (b *browser) tabReaches(page string) {
	b.t.Helper()
	n := evalJS[int](b, `(() => {
		if (!window.tabSeen) document.addEventListener("focusin", (e) => window.tabSeen.add(e.target));
		window.tabSeen = new Set();
		document.querySelector("main").focus();
		return `+tabbable+`.length;
	})()`)
	for range n + 1 {
		b.run("tab", chromedp.KeyEvent(kb.Tab))
	}
	missed := evalJS[[]string](b, tabbable+`.filter(e => !window.tabSeen.has(e)).map(e => e.outerHTML.slice(0, 200))`)
	if len(missed) > 0 {
		b.t.Errorf("%s: Tab does not reach %d of %d controls and links: %v", page, len(missed), n, missed)
	}
	evalJS[bool](b, `document.querySelector("main").focus(), true`)
}

// signIn reaches the key field with the keyboard alone (Tab from the top
// of the page), types key and submits with Enter.
func (b *browser) signIn(url, key string) {
	b.t.Helper()
	b.open(url)
	b.accessible("sign in")
	focused := ""
	for i := 0; i < 10 && focused != "key"; i++ {
		b.run("tab", chromedp.KeyEvent(kb.Tab))
		focused = evalJS[string](b, `document.activeElement.id`)
	}
	if focused != "key" {
		b.t.Fatal("the key field cannot be reached with Tab")
	}
	b.run("type the key", chromedp.KeyEvent(key))
	if typed := evalJS[string](b, `document.activeElement.id + "=" + document.querySelector('#key').value`); typed != "key="+key {
		b.t.Fatalf("after typing the key, focus and field are %q", typed)
	}
	b.run("sign in", chromedp.KeyEvent(kb.Enter),
		chromedp.Poll[chromedp.Void](`location.hash !== '' && location.hash !== '#/signin'`), rendered())
}

// rows returns the first cell's text of every row of the page's first table.
func (b *browser) rows() []string {
	return evalJS[[]string](b, `[...document.querySelectorAll('main table tbody tr')].map(r => r.cells[0].textContent)`)
}

// The console in real headless Chromium against the real stack: sign in
// with the keyboard, the overview chart reflects events just sent, the
// explorer pages through search results and finds an event by id with its
// timeline, and the operator creates, rotates and revokes keys; every
// page's controls are labelled. Screenshots go to
// PULSESTREAM_CONSOLE_SCREENSHOTS (docs/console.md uses them) or a temp dir.
func TestConsoleInHeadlessChromium(t *testing.T) {
	s := startStack(t)
	b := newBrowser(t)
	// A burst of 50 lets the 30 events below in and refuses a batch of 60
	// whole (rate_limited, however full the bucket is).
	if _, err := s.pool.Exec(context.Background(), `UPDATE tenants SET rate_limit_burst = 50 WHERE id = $1`, s.tenantA); err != nil {
		t.Fatal(err)
	}
	admin := tenancytest.New(t, s.pool, tenancy.OperatorTenant, tenancy.TenantSettings{}).Key(tenancy.ScopeAdmin).Key
	// A meter for the statistics page: the sum of data.n of order.placed.
	if code := s.call(admin, http.MethodPut, s.consoleURL+"/api/admin/v1/admin/tenants/"+s.tenantA+"/meters/n-sum", "application/json",
		`{"event_types":["order.placed"],"aggregation":"sum","value_path":"$.n"}`, nil); code != http.StatusCreated {
		t.Fatalf("create meter: %d", code)
	}

	began := time.Now()
	b.signIn(s.consoleURL+"/", s.keyA)
	if got := b.text("#total"); got != "0" {
		t.Fatalf("overview before any event: total %q", got)
	}
	b.keptForTheSession(true)
	b.accessible("overview")
	const n = 30
	var events []map[string]any
	for i := range n {
		events = append(events, map[string]any{"id": fmt.Sprintf("web-%02d", i), "type": []string{"page.viewed", "order.placed", "cart.updated"}[i%3],
			"source": "browser-test", "subject": fmt.Sprintf("user-%d", i%4), "data": map[string]any{"n": i}})
	}
	s.ingest(s.keyA, events)
	sendRefusedEvents(t, s, events)
	// 30 accepted, 5 duplicate, 2 rejected, 60 rate-limited events.
	outcomes := map[string]int{"accepted": n, "duplicate": 5, "rejected": 2, "rate_limited": 60}
	eventually(t, time.Minute, "the overview shows the events just sent and the gateway's outcomes", func() string {
		b.reload()
		total := b.text("#total") // waits for the page's data; the charts are drawn with it
		charted := chartSum(b, "#stored-chart")
		if total != fmt.Sprint(n) || charted != n {
			return fmt.Sprintf("total %s, %d in the chart", total, charted)
		}
		if subjects := b.text("#subjects"); subjects != "4" { // asked for after the counts, from the events themselves
			return "unique subjects " + subjects + "; the page shows " + b.showing()
		}
		for o, want := range outcomes {
			if card, chart := b.text("#out-"+o), chartSum(b, "#chart-"+o); card != fmt.Sprint(want) || chart != want {
				return fmt.Sprintf("%s: card %s, chart %d, want %d", o, card, chart, want)
			}
		}
		if depth := b.text("#dlq-depth"); depth != "0" {
			return "DLQ depth " + depth
		}
		// Caught up: every read model has written everything (lag 0 s).
		if lag := evalJS[string](b, `[...document.querySelectorAll('tr[data-lag-model]')].map(r => r.dataset.lagModel + "=" + r.querySelector('.lagtime').dataset.seconds).join(",")`); lag != "postgres=0,clickhouse=0" {
			return "lag: " + lag
		}
		return ""
	})
	if got := b.text(`tr[data-lag-model="postgres"] .lagtime`); got != "caught up" {
		t.Errorf("lag shown as %q, want caught up", got)
	}
	checkLagAsOf(t, b, began)
	b.ownOriginOnly("overview")
	b.shot("overview")

	// The last day, per minute too (1,440 bars' worth of buckets), counts the same events.
	b.open(s.consoleURL + "/#/overview?range=day")
	b.accessible("overview, last day")
	for _, c := range []string{"#stored-chart", "#chart-accepted", "#chart-duplicate", "#chart-rejected", "#chart-rate_limited"} {
		if buckets := evalJS[string](b, fmt.Sprintf(`document.querySelector(%q).dataset.buckets`, c+" svg.chart")); buckets != "1440" {
			t.Errorf("last day: %s has %s buckets, want 1440 (one per minute)", c, buckets)
		}
	}
	if total, charted := b.text("#total"), chartSum(b, "#stored-chart"); total != fmt.Sprint(n) || charted != n {
		t.Errorf("last day: total %s, %d in the chart, want %d", total, charted, n)
	}
	for o, want := range outcomes {
		if card, chart := b.text("#out-"+o), chartSum(b, "#chart-"+o); card != fmt.Sprint(want) || chart != want {
			t.Errorf("last day: %s: card %s, chart %d, want %d", o, card, chart, want)
		}
	}
	top := evalJS[[]string](b, `(() => {
		const t = [...document.querySelectorAll('main table')].find(t => t.caption && t.caption.textContent === 'Top event types');
		return t ? [...t.tBodies[0].rows].map(r => r.cells[0].textContent + "=" + r.cells[1].textContent) : [];
	})()`)
	slices.Sort(top)
	if strings.Join(top, ",") != "cart.updated=10,order.placed=10,page.viewed=10" {
		t.Errorf("last day: top event types %v, want the three types with 10 events each", top)
	}
	b.shot("overview-day")

	// Search, paged 10 at a time with the keyset cursor.
	b.open(s.consoleURL + "/#/events?source=browser-test&limit=10")
	b.accessible("events")
	b.shot("events")
	seen := map[string]bool{}
	for page := 1; ; page++ {
		ids := b.rows()
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("page %d repeats %s", page, id)
			}
			seen[id] = true
		}
		more := evalJS[bool](b, `document.querySelector('#next') !== null`)
		if !more {
			break
		}
		if page > 5 {
			t.Fatal("more pages than events")
		}
		// The next page is rendered once its rows, and #count with them, replace these.
		next := evalJS[string](b, `'#' + document.querySelector('#next').href.split('#')[1]`)
		b.run("next page", chromedp.Click(chromedp.CSS("#next")), chromedp.Poll[chromedp.Void](fmt.Sprintf(`location.hash === %q`, next)), rendered())
	}
	if len(seen) != n {
		t.Fatalf("paging showed %d distinct events, want %d", len(seen), n)
	}

	// Find one event by id (keyboard: type, Enter) and see its timeline.
	b.open(s.consoleURL + "/#/events")
	b.run("find by id", chromedp.Focus(chromedp.CSS("#find-id")), chromedp.KeyEvent("web-07"), chromedp.KeyEvent(kb.Enter),
		chromedp.Poll[chromedp.Void](`location.hash === '#/event/web-07'`), rendered())
	eventually(t, time.Minute, "the timeline reaches projected", func() string {
		done := evalJS[[]string](b, `[...document.querySelectorAll('#timeline li.done')].map(li => li.dataset.step)`)
		if strings.Join(done, ",") != "accepted,stored,projected" {
			b.reload()
			return "steps done: " + strings.Join(done, ",")
		}
		return ""
	})
	if js := b.text("#json"); !strings.Contains(js, `"id": "web-07"`) || !strings.Contains(js, `"n": 7`) {
		t.Fatalf("event JSON: %s", js)
	}
	b.accessible("event")
	b.shot("event")

	// Statistics: the chart and top types of the same events.
	b.open(s.consoleURL + "/#/stats?interval=minute&from=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	b.accessible("statistics")
	if got := chartSum(b, "#stats-chart"); got != n {
		t.Fatalf("statistics chart shows %d events, want %d", got, n)
	}
	if total, subjects := b.text("#stats-total"), b.text("#subjects"); total != fmt.Sprint(n) || subjects != "4" {
		t.Fatalf("statistics: %s events, %s unique subjects, want %d and 4", total, subjects, n)
	}
	// The meter over the same range: order.placed are events 1, 4, ..., 28.
	if v, e := b.text(`tr[data-meter="n-sum"] .metervalue`), b.text(`tr[data-meter="n-sum"] .meterevents`); v != "145" || e != "10" {
		t.Fatalf("meter n-sum: value %s of %s events, want 145 of 10", v, e)
	}
	if got := chartSum(b, "#meterchart"); got != 145 {
		t.Fatalf("meter chart sums to %d, want 145", got)
	}
	b.shot("stats")

	// The operator's admin pages.
	b.run("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#key")))
	b.keptForTheSession(false)
	b.signIn(s.consoleURL+"/", admin)
	b.run("tenants", chromedp.WaitVisible(chromedp.CSS("#newtenant")))
	b.accessible("tenants")
	if !strings.Contains(strings.Join(b.rows(), " "), s.tenantA) {
		t.Fatalf("tenants page does not list %s: %v", s.tenantA, b.rows())
	}
	b.shot("tenants")
	testTenantForms(t, s, b, admin)
	testKeys(t, s, b)
	testDLQ(t, s, b, began)

	// The audit log lists what the key pages did.
	b.open(s.consoleURL + "/#/admin/audit")
	actions := strings.Join(evalJS[[]string](b, `[...document.querySelectorAll('main table tbody tr')].map(r => r.cells[2].textContent)`), " ")
	if strings.Count(actions, "key.create") < 2 || strings.Count(actions, "key.revoke") < 2 {
		t.Fatalf("audit log actions: %s; want the two key creations and revocations", actions)
	}
	b.accessible("audit")
	b.shot("audit")
	testErasures(t, s, b)
}

// checkLagAsOf checks the time the page says the lag was measured: a time
// since the test began, not later than now, shown in the page's words.
func checkLagAsOf(t *testing.T, b *browser, began time.Time) {
	t.Helper()
	raw := evalJS[string](b, `document.querySelector("#lag-as-of").dataset.asOf`)
	asOf, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil || asOf.Before(began) || asOf.After(time.Now()) {
		t.Errorf("lag measured at %q (%v), want a time between %v and now", raw, err, began)
		return
	}
	if text, want := b.text("#lag-as-of"), asOf.UTC().Format("2006-01-02 15:04:05Z"); !strings.Contains(text, want) {
		t.Errorf("the page says %q, want the time the lag was measured, %s", text, want)
	}
}

// chartSum is the sum of the counts the chart in the element sel charts;
// it fails the test unless the chart draws one bar per bucket with a
// count above 0.
func chartSum(b *browser, sel string) int {
	b.t.Helper()
	var c struct{ Sum, Positive, Bars int }
	raw := evalJS[string](b, fmt.Sprintf(`(() => {
		const svg = document.querySelector(%q), counts = svg.dataset.counts ? svg.dataset.counts.split(",").map(Number) : [];
		return JSON.stringify({ sum: counts.reduce((s, n) => s + n, 0), positive: counts.filter(n => n > 0).length,
			bars: (svg.querySelector("path").getAttribute("d").match(/M/g) || []).length });
	})()`, sel+" svg.chart"))
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		b.t.Fatalf("chart %s: %v", sel, err)
	}
	if c.Bars != c.Positive {
		b.t.Errorf("chart %s draws %d bars for %d buckets above 0", sel, c.Bars, c.Positive)
	}
	return c.Sum
}

// sendRefusedEvents sends 5 of events again (duplicates), 2 invalid events
// (rejected) and a batch of 60 past the burst of 50 (rate-limited).
func sendRefusedEvents(t *testing.T, s *stack, events []map[string]any) {
	t.Helper()
	ndjson := func(evs []map[string]any) string {
		var b strings.Builder
		for _, e := range evs {
			line, _ := json.Marshal(e)
			b.Write(line)
			b.WriteByte('\n')
		}
		return b.String()
	}
	var ans ingestAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/events", "application/x-ndjson", ndjson(events[:5]), &ans); code != http.StatusOK || ans.Duplicate != 5 {
		t.Fatalf("sending 5 events again: %d %+v", code, ans)
	}
	bad := []map[string]any{{"id": "bad-1", "type": "page.viewed", "source": "browser-test", "time": "yesterday"}, {"id": "bad-2", "type": "page.viewed", "source": "browser-test", "time": "never"}}
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/events", "application/x-ndjson", ndjson(bad), &ans); code != http.StatusBadRequest || ans.Rejected != 2 {
		t.Fatalf("sending 2 invalid events: %d %+v", code, ans)
	}
	var many []map[string]any
	for i := range 60 {
		many = append(many, map[string]any{"id": fmt.Sprintf("limited-%02d", i), "type": "page.viewed", "source": "browser-test"})
	}
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/events", "application/x-ndjson", ndjson(many), nil); code != http.StatusTooManyRequests {
		t.Fatalf("a batch past the burst: %d, want 429", code)
	}
}

// testErasures asks the gateway to erase subject user-1 (events 1, 5, ...,
// 29) and watches the erasures page show it done with its 8 events.
func testErasures(t *testing.T, s *stack, b *browser) {
	var e struct{ ID string }
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/erasures", "application/json", `{"subject":"user-1"}`, &e); code != http.StatusAccepted || e.ID == "" {
		t.Fatalf("request an erasure: %d %+v", code, e)
	}
	row := fmt.Sprintf(`tr[data-erasure=%q]`, e.ID)
	eventually(t, time.Minute, "the erasure done on the erasures page", func() string {
		b.open(s.consoleURL + "/#/admin/erasures?tenant=" + s.tenantA + "&t=" + fmt.Sprint(time.Now().UnixNano()))
		if st, n := b.text(row+" .erasure-state"), b.text(row+" .erased"); st != "done" || n != "8" {
			return fmt.Sprintf("state %s, %s erased", st, n)
		}
		return ""
	})
	b.accessible("erasures")
	if got := b.text("#open-erasures"); got != "0 erasures not done yet" {
		t.Errorf("open erasures: %q", got)
	}
	b.shot("erasures")

	// On the tenant's pages again: an erased event's timeline reaches deleted, and its JSON is gone.
	b.run("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#key")))
	b.signIn(s.consoleURL+"/", s.keyA)
	eventually(t, time.Minute, "web-01's timeline reaches deleted", func() string {
		b.open(s.consoleURL + "/#/event/web-01?t=" + fmt.Sprint(time.Now().UnixNano()))
		done := evalJS[[]string](b, `[...document.querySelectorAll('#timeline li.done')].map(li => li.dataset.step)`)
		if len(done) == 0 || done[len(done)-1] != "deleted" || evalJS[bool](b, `document.querySelector('#json') !== null`) {
			return "steps done: " + strings.Join(done, ",")
		}
		return ""
	})
}

// testDLQ sends a record the projector cannot decode (unknown format
// version): both read models put it in the DLQ, the DLQ page shows the two
// dead letters, and "Re-drive all" puts each back into the topic once.
func testDLQ(t *testing.T, s *stack, b *browser, began time.Time) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(testenv.KafkaBrokers(t), ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	poison := &kgo.Record{Topic: s.topic, Key: []byte(s.tenantA + "/poison-1"), Value: []byte(`{"v":9}`),
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderVersion, Value: []byte("9")}, {Key: schemas.HeaderKind, Value: []byte(schemas.KindEvent)}}}
	if err := cl.ProduceSync(context.Background(), poison).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "both read models' dead letters on the DLQ page", func() string {
		b.open(s.consoleURL + "/#/dlq?t=" + fmt.Sprint(time.Now().UnixNano()))
		if d := b.text("#depth"); d != "2 records waiting to be re-driven" {
			return d
		}
		return ""
	})
	b.accessible("dlq")
	lags := evalJS[[]string](b, `[...document.querySelectorAll('tr[data-read-model]')].map(r => r.dataset.readModel + "=" + r.querySelector('.lag').textContent)`)
	if len(lags) != 2 || !strings.HasPrefix(lags[0], "postgres=") || !strings.HasPrefix(lags[1], "clickhouse=") {
		t.Fatalf("read-model lag on the DLQ page: %v", lags)
	}
	checkLagAsOf(t, b, began)
	// Each dead letter shows its read model and the error header the projector set.
	shown := evalJS[[]string](b, `[...document.querySelectorAll('#dead-letters table tbody tr')].filter(r => r.cells[3].textContent === 'poison-1').map(r => r.cells[4].textContent + ": " + r.cells[5].textContent)`)
	slices.Sort(shown)
	if len(shown) != 2 || !strings.HasPrefix(shown[0], "clickhouse: ") || !strings.HasPrefix(shown[1], "postgres: ") ||
		!strings.Contains(shown[0], "unknown record version") || !strings.Contains(shown[1], "unknown record version") {
		t.Fatalf("the dead letters' read models and errors: %q", shown)
	}
	eventually(t, time.Minute, "the tenant's DLQ depth (the overview's card) counts both dead letters", func() string {
		var lag struct {
			DLQDepth *int `json:"dlq_depth"`
		}
		if code := s.call(s.keyA, http.MethodGet, s.consoleURL+"/api/query/v1/lag", "", "", &lag); code != http.StatusOK || lag.DLQDepth == nil || *lag.DLQDepth != 2 {
			return fmt.Sprintf("%d, depth %v", code, lag.DLQDepth)
		}
		return ""
	})
	b.shot("dlq")
	evalJS[bool](b, `window.confirm = () => true, true`)
	b.run("re-drive all", chromedp.Click(chromedp.CSS("#redrive-all")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#status').textContent === '2 re-driven, 0 already re-driven before'`))
	states := evalJS[[]string](b, `[...document.querySelectorAll('#dead-letters table tbody tr')].filter(r => r.cells[3].textContent === 'poison-1').map(r => r.cells[6].textContent)`)
	redriven := 0
	for _, st := range states {
		if strings.HasPrefix(st, "re-driven ") {
			redriven++
		}
	}
	if redriven != 2 {
		t.Fatalf("after re-drive all, the dead letters' states: %v", states)
	}
	b.shot("dlq-redriven")

	// Re-drive one: the re-driven records fail again (their version is still
	// unknown) and come back as new dead letters; one of them is selected.
	eventually(t, time.Minute, "the re-driven records back in the DLQ", func() string {
		b.open(s.consoleURL + "/#/dlq?t=" + fmt.Sprint(time.Now().UnixNano()))
		if evalJS[int](b, `document.querySelectorAll('#dead-letters input[type=checkbox]').length`) == 0 {
			return b.text("#depth")
		}
		return ""
	})
	pos := evalJS[string](b, `document.querySelector('#dead-letters input[type=checkbox]').closest('tr').dataset.offset`)
	b.run("re-drive selected", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-offset=%q] input[type=checkbox]`, pos))), chromedp.Click(chromedp.CSS("#redrive-selected")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#status').textContent === '1 re-driven, 0 already re-driven before'`))
	if st := b.text(fmt.Sprintf(`tr[data-offset=%q] .dlqstate`, pos)); !strings.HasPrefix(st, "re-driven ") {
		t.Fatalf("record %s after re-drive selected: %q", pos, st)
	}
}

// keptForTheSession checks where the console keeps the key: signed in,
// in sessionStorage (gone with the browser session) and nowhere else (no
// localStorage, no cookie); signed out, nowhere.
func (b *browser) keptForTheSession(signedIn bool) {
	b.t.Helper()
	want := `{"session":false,"local":0,"cookie":""}`
	if signedIn {
		want = `{"session":true,"local":0,"cookie":""}`
	}
	if got := evalJS[string](b, `JSON.stringify({ session: sessionStorage.getItem("key") !== null, local: localStorage.length, cookie: document.cookie })`); got != want {
		b.t.Errorf("the key's storage: %s, want %s", got, want)
	}
}

// ownOriginOnly fails the test if the page loaded anything from another
// origin than the console's (it works with no access to the internet), or
// did not load its own script and style sheet.
func (b *browser) ownOriginOnly(page string) {
	b.t.Helper()
	urls := evalJS[[]string](b, `performance.getEntriesByType("resource").map(e => e.name)`)
	origin := evalJS[string](b, `location.origin`)
	own := 0
	for _, u := range urls {
		if !strings.HasPrefix(u, origin+"/") {
			b.t.Errorf("%s: loaded %s, not from the console's origin %s", page, u, origin)
		}
		if strings.HasSuffix(u, "/app.js") || strings.HasSuffix(u, "/app.css") {
			own++
		}
	}
	if own != 2 {
		b.t.Errorf("%s: the resources loaded do not include app.js and app.css: %v", page, urls)
	}
}

// testTenantForms creates a tenant with the tenants page's form and
// changes its rate limits on its page (keyboard: type, Enter), checking
// both through the admin API.
func testTenantForms(t *testing.T, s *stack, b *browser, admin string) {
	id := s.tenantA + "-web"
	b.run("create a tenant", chromedp.Focus(chromedp.CSS("#tenant-id")), chromedp.KeyEvent(id), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("Made in the console"),
		chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("70"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("90"), chromedp.KeyEvent(kb.Enter),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector('#status').textContent === %q`, "tenant "+id+" created")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll('main table tbody tr')].some(r => r.cells[0].textContent === %q)`, id)))
	var got struct {
		Name      string
		RateLimit int `json:"rate_limit_per_sec"`
		Burst     int `json:"rate_limit_burst"`
	}
	tenantURL := s.consoleURL + "/api/admin/v1/admin/tenants/" + id
	if code := s.call(admin, http.MethodGet, tenantURL, "", "", &got); code != http.StatusOK || got.Name != "Made in the console" || got.RateLimit != 70 || got.Burst != 90 {
		t.Fatalf("the tenant the console created: %d %+v", code, got)
	}
	b.open(s.consoleURL + "/#/admin/tenant/" + id)
	b.run("change the rate limits", chromedp.Focus(chromedp.CSS("#rate")), chromedp.KeyEvent(kb.End), chromedp.KeyEvent("1"),
		chromedp.Focus(chromedp.CSS("#burst")), chromedp.KeyEvent(kb.End), chromedp.KeyEvent("2"), chromedp.KeyEvent(kb.Enter),
		chromedp.Poll[chromedp.Void](`document.querySelector('#status').textContent === 'limits saved'`))
	if code := s.call(admin, http.MethodGet, tenantURL, "", "", &got); code != http.StatusOK || got.RateLimit != 701 || got.Burst != 902 {
		t.Fatalf("rate limits after the form: %d %+v, want 701 and 902", code, got)
	}
}

// testKeys creates a key on the tenant page (keyboard only), rotates it
// and revokes the replacement, checking each key against the query API.
func testKeys(t *testing.T, s *stack, b *browser) {
	b.open(s.consoleURL + "/#/admin/tenant/" + s.tenantA)
	b.accessible("tenant")
	b.run("create a key", chromedp.Focus(chromedp.CSS("#key-name")), chromedp.KeyEvent("browser key"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#newkey-value")))
	first := b.text("#newkey-value")
	b.shot("keys")
	if code := queryStatus(t, s, first); code != http.StatusOK {
		t.Fatalf("the key the console created answers %d", code)
	}
	prefix := first[:strings.LastIndexByte(first, '_')]
	evalJS[bool](b, `window.confirm = () => true, true`)
	b.run("rotate", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[aria-label="Rotate key %s"]`, prefix))),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector('#newkey-value') || {}).textContent !== %q`, first)))
	second := b.text("#newkey-value")
	b.run("old key revoked", statusIs(prefix, "revoked"))
	prefix2 := second[:strings.LastIndexByte(second, '_')]
	evalJS[bool](b, `window.confirm = () => true, true`)
	b.run("revoke", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[aria-label="Revoke key %s"]`, prefix2))), statusIs(prefix2, "revoked"))
	eventually(t, 45*time.Second, "both keys refused", func() string {
		if a, b := queryStatus(t, s, first), queryStatus(t, s, second); a != http.StatusUnauthorized || b != http.StatusUnauthorized {
			return fmt.Sprintf("rotated key %d, revoked key %d", a, b)
		}
		return ""
	})
}

// statusIs waits until the keys table shows the key with prefix in status.
func statusIs(prefix, status string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector('tr[data-prefix="%s"] .keystatus') || {}).textContent === %q`, prefix, status))
}

func queryStatus(t *testing.T, s *stack, key string) int {
	req, _ := http.NewRequest(http.MethodGet, s.queryURL+"/v1/events?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
