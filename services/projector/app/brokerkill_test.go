package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// faultPlan is how long load runs and how often the broker dies. `make test`
// kills once; `make soak` sets PULSESTREAM_SOAK_DURATION (e.g. 10m) and kills
// every PULSESTREAM_SOAK_KILL_EVERY (default 20s) until the duration is over.
type faultPlan struct {
	duration  time.Duration
	killEvery time.Duration
}

func planFromEnv(t *testing.T) faultPlan {
	p := faultPlan{duration: 22 * time.Second, killEvery: 6 * time.Second}
	if s := os.Getenv("PULSESTREAM_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PULSESTREAM_SOAK_DURATION: %v", err)
		}
		p.duration, p.killEvery = d, 20*time.Second
	}
	if s := os.Getenv("PULSESTREAM_SOAK_KILL_EVERY"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PULSESTREAM_SOAK_KILL_EVERY: %v", err)
		}
		p.killEvery = d
	}
	return p
}

// loadgen posts batches of fresh events to the gateway and retries every
// event not answered accepted/duplicate (503, transport errors) with the same
// id and content until it is, as a well-behaved producer does.
type loadgen struct {
	urls     []string // gateways, taken in turn by each post
	next     atomic.Int64
	key      string
	client   *http.Client
	mu       sync.Mutex
	acked    map[string]int // id -> times answered accepted or duplicate
	accepted atomic.Int64
	dups     atomic.Int64
	retried  atomic.Int64 // events answered 503 (or lost to a transport error) and sent again
	status   sync.Map     // HTTP status -> *atomic.Int64
}

func (l *loadgen) count(status int) {
	v, _ := l.status.LoadOrStore(status, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// answer is the gateway's answer to one post.
type answer struct {
	status     int
	retryAfter string
	results    []struct{ ID, Status, Code string }
}

// post sends the events once as a JSON array; err is a transport or
// decoding error.
func (l *loadgen) post(evs map[string]string) (answer, error) {
	var body bytes.Buffer
	body.WriteByte('[')
	first := true
	for _, ev := range evs {
		if !first {
			body.WriteByte(',')
		}
		first = false
		body.WriteString(ev)
	}
	body.WriteByte(']')
	url := l.urls[int(l.next.Add(1)-1)%len(l.urls)]
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/events", &body)
	req.Header.Set("Authorization", "Bearer "+l.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	var r struct {
		Results []struct{ ID, Status, Code string } `json:"results"`
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	a.results = r.Results
	return a, err
}

// send posts one batch until every event of it is acknowledged (or stop
// passes the give-up deadline, which fails the test).
func (l *loadgen) send(t *testing.T, giveUp time.Time, evs map[string]string) {
	pending := evs
	for len(pending) > 0 {
		if time.Now().After(giveUp) {
			t.Errorf("%d events still unacknowledged at the give-up deadline", len(pending))
			return
		}
		a, err := l.post(pending)
		if a.status == 0 {
			l.count(0)
			l.retried.Add(int64(len(pending)))
			time.Sleep(200 * time.Millisecond)
			continue
		}
		l.count(a.status)
		if err != nil || (a.status != 200 && a.status != 207 && a.status != 503) {
			t.Errorf("unexpected answer %d (decode: %v)", a.status, err)
			return
		}
		next := map[string]string{}
		for _, res := range a.results {
			switch {
			case res.Status == "accepted" || res.Status == "duplicate":
				if res.Status == "accepted" {
					l.accepted.Add(1)
				} else {
					l.dups.Add(1)
				}
				l.mu.Lock()
				l.acked[res.ID]++
				l.mu.Unlock()
			case res.Code == "unavailable":
				next[res.ID] = pending[res.ID]
			default:
				t.Errorf("event %s: %s %s", res.ID, res.Status, res.Code)
			}
		}
		if len(next) > 0 {
			l.retried.Add(int64(len(next)))
			time.Sleep(300 * time.Millisecond)
		}
		pending = next
	}
}

// TestBrokerSIGKILLDuringIngestionLosesAndDoublesNothing runs the gateway and
// the projector binaries against a private Kafka broker, keeps producers
// posting, SIGKILLs the broker and restarts it, then stops the gateway with
// SIGTERM under load and restarts it: every event answered 2xx is in
// PostgreSQL and in ClickHouse exactly once, and events answered 503 (or
// refused while the gateway was down) and retried end stored exactly once too.
func TestBrokerSIGKILLDuringIngestionLosesAndDoublesNothing(t *testing.T) {
	plan := planFromEnv(t)
	broker := testenv.StartKafka(t)
	t.Setenv("PULSESTREAM_KAFKA_BROKERS", broker.Brokers) // the harness makes its topics there
	h := newHarness(t, 3)

	key := h.ingestKey()
	gw, gwAddr := h.spawnGateway(broker.Brokers, "--kafka-partitions", "3")
	h.holdMerges()
	proj := testenv.Spawn(t, testenv.Build(t, "services/projector"), h.args("--projector-batch-size", "2000", "--projector-linger", "50ms")...)
	waitFor(t, 60*time.Second, "gateway ready", func() bool { code, _ := readyz(gwAddr); return code == 200 })

	lg := newLoadgen(key, gwAddr)
	stopLoad := lg.run(t, time.Now().Add(plan.duration+3*time.Minute), 4, 20, 0)

	injected := 0
	end := time.Now().Add(plan.duration)
	for time.Now().Add(plan.killEvery).Before(end) || injected == 0 {
		time.Sleep(plan.killEvery)
		before := lg.accepted.Load()
		broker.Kill()
		injected++
		down := time.Now()
		broker.Start()
		t.Logf("kill %d: broker down %s, %d events accepted before it", injected, time.Since(down).Round(100*time.Millisecond), before)
		after := lg.accepted.Load()
		waitFor(t, 60*time.Second, "ingestion resumed after the restart", func() bool { return lg.accepted.Load() > after })
	}
	time.Sleep(time.Until(end))
	// Gateway SIGTERM under load: in-flight requests finish (their events
	// count as acknowledged), the producers retry the refused ones against
	// the restarted gateway.
	before := lg.accepted.Load()
	if err := gw.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("gateway exit after SIGTERM under load: %v", err)
	}
	injected++
	gw.Start()
	waitFor(t, 60*time.Second, "gateway ready again", func() bool { code, _ := readyz(gwAddr); return code == 200 })
	waitFor(t, 60*time.Second, "ingestion resumed after the gateway restart", func() bool { return lg.accepted.Load() > before })
	stopLoad()
	if t.Failed() {
		t.Logf("gateway log:\n%s", gw.Log(30))
		t.FailNow()
	}
	if err := gw.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("gateway exit after SIGTERM: %v", err)
	}
	waitFor(t, max(3*time.Minute, plan.duration/2), "both sinks at lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	if err := proj.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("projector exit after SIGTERM: %v", err)
	}

	acked, stored, lost, doubled := h.verifyStored(lg)
	t.Log(lg.summary())
	if lg.retried.Load() == 0 {
		t.Errorf("no event was answered 503 during %d broker kills: the fault did not reach the producers", injected)
	}
	fmt.Printf("faults: %d injected, %d events acknowledged, %d stored, %d lost, %d doubled\n", injected, acked, stored, lost, doubled)
}

// summary is the answers by HTTP status and the event outcomes.
func (l *loadgen) summary() string {
	var codes []string
	l.status.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%v:%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(codes)
	return fmt.Sprintf("answers by HTTP status (0 = transport error): %v; %d accepted, %d duplicate, %d retried after 503/transport errors",
		codes, l.accepted.Load(), l.dups.Load(), l.retried.Load())
}

// newLoadgen posts to the gateways at gwAddrs in turn (a post refused by
// one is retried on the next).
func newLoadgen(key string, gwAddrs ...string) *loadgen {
	l := &loadgen{key: key, client: &http.Client{Timeout: 15 * time.Second}, acked: map[string]int{}}
	for _, a := range gwAddrs {
		l.urls = append(l.urls, "http://"+a)
	}
	return l
}

// run starts workers that each post batches of batch fresh events, pausing
// pause between batches, until the returned stop is called (which waits for
// them); every batch is sent until acknowledged or giveUp passes.
func (l *loadgen) run(t *testing.T, giveUp time.Time, workers, batch int, pause time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				case <-time.After(pause):
				}
				l.send(t, giveUp, l.batch(fmt.Sprintf("w%d-%d", w, n), batch))
			}
		}(w)
	}
	return func() { close(done); wg.Wait() }
}

// batch is n fresh events (id prefix-i) in the shape producers send.
func (l *loadgen) batch(prefix string, n int) map[string]string {
	evs := map[string]string{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		evs[id] = fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":%q,"source":"/faults","data":{"n":%d}}`, id, types[i%len(types)], i)
	}
	return evs
}

// ingestKey creates the harness's tenant (no effective rate limit) and an
// ingest key for it.
func (h *harness) ingestKey() string {
	h.t.Helper()
	ctx := context.Background()
	rate := 1000000
	admin := tenancy.NewAdmin(tenancy.NewPGStore(h.pool))
	if _, err := admin.CreateTenant(ctx, "faulttest", h.tenant, tenancy.TenantSettings{RateLimitPerSec: &rate, RateLimitBurst: &rate}); err != nil {
		h.t.Fatal(err)
	}
	key, err := admin.CreateKey(ctx, "faulttest", h.tenant, tenancy.KeySpec{Name: "ingest", Scopes: []tenancy.Scope{tenancy.ScopeIngest}})
	if err != nil {
		h.t.Fatal(err)
	}
	return key.Key
}

// spawnGateway runs the gateway binary on a free port against brokers and
// the harness's topics and stores (extra flags last: they win).
func (h *harness) spawnGateway(brokers string, extra ...string) (*testenv.Proc, string) {
	h.t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(h.t))
	args := append([]string{"--gateway-addr", addr, "--kafka-brokers", brokers, "--kafka-topic", h.topic, "--kafka-dlq-topic", h.dlq,
		"--kafka-delivery-timeout", "3s", "--retry-after", "1s",
		"--redis-addr", testenv.RedisAddr(h.t), "--redis-key-prefix", "pstest:" + h.suffix + ":",
		"--postgres-url", h.pgURL, "--log-level", "warn", "--log-format", "text"}, extra...)
	return testenv.Spawn(h.t, testenv.Build(h.t, "services/gateway"), args...), addr
}

// verifyStored checks, once both sinks are at lag 0, that every event the
// load generator saw acknowledged is in PostgreSQL and in ClickHouse exactly
// once (per id, raw ClickHouse rows of every key, the per-minute rollup per
// cell) and that nothing is stored that was never acknowledged.
func (h *harness) verifyStored(lg *loadgen) (acked, stored, lost, doubled int) {
	t := h.t
	t.Helper()
	acked = len(lg.acked)
	pg := h.idCounts(`SELECT external_id, count(*) FROM events WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY 1`)
	ch := h.chIDCounts(`SELECT external_id, count() FROM events FINAL WHERE tenant_id = ? GROUP BY external_id`)
	for id := range lg.acked {
		for store, got := range map[string]map[string]int{"postgres": pg, "clickhouse": ch} {
			switch n := got[id]; {
			case n == 0:
				lost++
				if lost <= 5 {
					t.Errorf("%s: acknowledged event %s missing", store, id)
				}
			case n > 1:
				doubled++
				t.Errorf("%s: event %s stored %d times", store, id, n)
			}
		}
	}
	for store, got := range map[string]map[string]int{"postgres": pg, "clickhouse": ch} {
		for id := range got {
			if lg.acked[id] == 0 {
				doubled++
				t.Errorf("%s: event %s stored but never acknowledged", store, id)
			}
		}
	}
	// FINAL folds a doubled key into one row: count the raw rows too.
	for id, what := range h.chRawExcess() {
		doubled++
		t.Errorf("clickhouse: key %s holds %s", id, what)
	}
	rollup := h.chRollup()
	if rollup.total != acked {
		doubled += max(rollup.total-acked, 0)
		t.Errorf("clickhouse per-minute rollup counts %d events, want %d", rollup.total, acked)
	}
	// Per (minute, type) cell, against PostgreSQL (checked per id above).
	equalCounts(t, "clickhouse rollup against postgres", rollup, h.pgCounts().expected)
	return acked, min(len(pg), len(ch)), lost, doubled
}

// idCounts runs a PostgreSQL (external_id, count) query for the tenant.
func (h *harness) idCounts(q string) map[string]int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := h.pool.Query(ctx, q, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	return scanIDCounts[int64](h.t, rows)
}

// chIDCounts runs a ClickHouse (external_id, count) query for the tenant.
func (h *harness) chIDCounts(q string) map[string]int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := h.ch.Query(ctx, q, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	return scanIDCounts[uint64](h.t, rows)
}

// scanIDCounts reads (external_id, count) rows of either database; N is the
// count's type in that database's driver.
func scanIDCounts[N int64 | uint64](t testing.TB, rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}) map[string]int {
	t.Helper()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n N
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = int(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
