package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// wireLog sits under the client (its http.RoundTripper) and checks what
// crossed the wire: an event answered "rejected" is never sent again; it
// counts answers by status (0: transport error) and keeps the Retry-After
// of each refused request.
type wireLog struct {
	t          *testing.T
	next       http.RoundTripper
	mu         sync.Mutex
	rejected   map[string]bool
	resent     int
	statuses   map[int]int
	retryAfter map[string]int // "status:Retry-After" -> answers
}

func newWireLog(t *testing.T) *wireLog {
	return &wireLog{t: t, next: http.DefaultTransport, rejected: map[string]bool{}, statuses: map[int]int{}, retryAfter: map[string]int{}}
}

func (w *wireLog) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	ids := w.ids(req, body)
	w.mu.Lock()
	for _, id := range ids {
		if w.rejected[id] {
			w.resent++
		}
	}
	w.mu.Unlock()
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		w.mu.Lock()
		w.statuses[0]++
		w.mu.Unlock()
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return resp, nil // the client sees the short body and retries
	}
	var ans ingestAnswer
	_ = json.Unmarshal(raw, &ans)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses[resp.StatusCode]++
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		w.retryAfter[fmt.Sprintf("%d:%s", resp.StatusCode, ra)]++
	}
	for _, r := range ans.Results {
		if r.Status == "rejected" && r.Code != "unavailable" {
			w.rejected[r.ID] = true
		}
	}
	return resp, nil
}

func (w *wireLog) ids(req *http.Request, body []byte) []string {
	var r io.Reader = bytes.NewReader(body)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			w.t.Errorf("request body is not gzip: %v", err)
			return nil
		}
		r = zr
	}
	var evs []struct{ ID string }
	if err := json.NewDecoder(r).Decode(&evs); err != nil {
		w.t.Errorf("request body is not a JSON array of events: %v", err)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// outcomes collects the client's outcomes; a second one for an id fails the test.
type outcomes struct {
	t       *testing.T
	mu      sync.Mutex
	byID    map[string]pulsestream.Outcome
	n       atomic.Int64
	retries []retry
}

type retry struct {
	delay time.Duration
	err   error
}

func newOutcomes(t *testing.T) *outcomes {
	return &outcomes{t: t, byID: map[string]pulsestream.Outcome{}}
}

func (o *outcomes) add(out pulsestream.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev, ok := o.byID[out.ID]; ok {
		o.t.Errorf("event %s: a second outcome %s after %s", out.ID, out.Status, prev.Status)
	}
	o.byID[out.ID] = out
	o.n.Add(1)
}

// outcomes is also the client's Metrics: it keeps every retry decision.
func (o *outcomes) Request(pulsestream.RequestInfo) {}
func (o *outcomes) Outcome(pulsestream.Status)      {}
func (o *outcomes) BufferFull()                     {}
func (o *outcomes) Retry(_ int, d time.Duration, err error) {
	o.mu.Lock()
	o.retries = append(o.retries, retry{d, err})
	o.mu.Unlock()
}

// stored returns the ids answered accepted or duplicate (the gateway holds
// them), and the counts by status.
func (o *outcomes) stored() (map[string]bool, map[pulsestream.Status]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ids, counts := map[string]bool{}, map[pulsestream.Status]int{}
	for id, out := range o.byID {
		counts[out.Status]++
		if out.Status == pulsestream.Accepted || out.Status == pulsestream.Duplicate {
			ids[id] = true
		}
	}
	return ids, counts
}

// retriesAfter returns the delays chosen after gateway answers of status.
func (o *outcomes) retriesAfter(status int) []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []time.Duration
	for _, r := range o.retries {
		var ae *pulsestream.APIError
		if errors.As(r.err, &ae) && ae.StatusCode == status {
			out = append(out, r.delay)
		}
	}
	return out
}

func (s *stack) newClient(t *testing.T, key string, w *wireLog, o *outcomes, mod func(*pulsestream.Config)) *pulsestream.Client {
	cfg := pulsestream.Config{Endpoint: s.gatewayURL, APIKey: key, HTTPClient: &http.Client{Transport: w}, OnOutcome: o.add, Metrics: o,
		BatchMaxEvents: 500, MaxInFlight: 4,
		Retry: pulsestream.RetryPolicy{MaxAttempts: 1000, MaxInterval: 2 * time.Second, MaxElapsedTime: 5 * time.Minute}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := pulsestream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readModelIDs returns the tenant's live ids in PostgreSQL and in ClickHouse
// (FINAL), and ClickHouse's raw row count (doubles before merges show there).
func (s *stack) readModelIDs(tenant string) (pg, ch map[string]bool, chRaw uint64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, ch = map[string]bool{}, map[string]bool{}
	rows, err := s.pool.Query(ctx, `SELECT external_id FROM events WHERE tenant_id = $1 AND deleted_at IS NULL`, tenant)
	if err != nil {
		s.t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			s.t.Fatal(err)
		}
		pg[id] = true
	}
	rows.Close()
	crows, err := s.ch.Query(ctx, `SELECT external_id FROM events FINAL WHERE tenant_id = ?`, tenant)
	if err != nil {
		s.t.Fatal(err)
	}
	for crows.Next() {
		var id string
		if err := crows.Scan(&id); err != nil {
			s.t.Fatal(err)
		}
		ch[id] = true
	}
	crows.Close()
	return pg, ch, s.chRawCount("tenant_id = ?", tenant)
}

// expectReadModels waits until both read models hold as many of the
// tenant's events as want, then requires exactly want's ids in each, once.
func (s *stack) expectReadModels(tenant string, want map[string]bool) {
	s.t.Helper()
	eventually(s.t, 5*time.Minute, "both read models caught up", func() string {
		pg := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1`, tenant)
		ch := s.chRawCount("tenant_id = ?", tenant)
		if pg < int64(len(want)) || ch < uint64(len(want)) {
			return fmt.Sprintf("PostgreSQL %d, ClickHouse %d rows of %d", pg, ch, len(want))
		}
		return ""
	})
	pg, ch, chRaw := s.readModelIDs(tenant)
	for name, got := range map[string]map[string]bool{"postgres": pg, "clickhouse": ch} {
		missing, extra := 0, 0
		for id := range want {
			if !got[id] {
				missing++
			}
		}
		for id := range got {
			if !want[id] {
				extra++
			}
		}
		if missing > 0 || extra > 0 || len(got) != len(want) {
			s.t.Errorf("%s: %d ids, want %d: %d missing, %d never acknowledged", name, len(got), len(want), missing, extra)
		}
	}
	if chRaw != uint64(len(want)) {
		s.t.Errorf("clickhouse: %d raw rows for %d events", chRaw, len(want))
	}
}

// A 200,000-event stream through the client survives a gateway restart and
// a SIGKILL of the (private) Kafka broker in its middle: every event has
// exactly one outcome, none failed, the invalid ones were rejected and never
// sent again, the 503s were retried after the Retry-After they carried, and
// PostgreSQL and ClickHouse hold exactly the events answered accepted or
// duplicate.
func TestClientStreamSurvivesGatewayRestartAndBrokerKill(t *testing.T) {
	broker := testenv.StartKafka(t)
	s := startStackWith(t, stackOptions{brokers: broker.Brokers, noQuery: true,
		gatewayArgs: []string{"-kafka-delivery-timeout", "3s", "-retry-after", "1s"}})
	const n, badEvery = 200000, 1000
	w, o := newWireLog(t), newOutcomes(t)
	c := s.newClient(t, s.keyA, w, o, nil)

	produced := make(chan error, 1)
	go func() {
		for i := range n {
			e := pulsestream.Event{ID: fmt.Sprintf("cs-%06d", i), Type: "client.stream", Source: "e2e", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
			if i%badEvery == 0 {
				e.Extensions = map[string]any{"Not_An_Extension_Name": true}
			}
			if err := c.Enqueue(context.Background(), e); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	waitOutcomes := func(k int64) {
		eventually(t, 5*time.Minute, fmt.Sprintf("%d outcomes", k), func() string {
			if got := o.n.Load(); got < k {
				return fmt.Sprintf("%d outcomes", got)
			}
			return ""
		})
	}

	waitOutcomes(n / 4)
	if err := s.gateway.Signal(syscall.SIGTERM, time.Minute); err != nil {
		t.Errorf("gateway exit after SIGTERM: %v", err)
	}
	s.gateway.Start()
	waitReady(t, s.gatewayURL, s.gateway)
	t.Logf("gateway restarted at %d outcomes", o.n.Load())

	waitOutcomes(n / 2)
	before := o.n.Load()
	broker.Kill()
	broker.Start()
	t.Logf("broker killed at %d outcomes and restarted", before)

	if err := <-produced; err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	ids, counts := o.stored()
	w.mu.Lock()
	t.Logf("outcomes %v; answers by status (0: transport error) %v; Retry-After seen %v", counts, w.statuses, w.retryAfter)
	resent, transportErrors := w.resent, w.statuses[0]
	w.mu.Unlock()
	if len(o.byID) != n || counts[pulsestream.Failed] != 0 || counts[pulsestream.Rejected] != n/badEvery {
		t.Fatalf("%d outcomes for %d events, %d failed, %d rejected (want %d)", len(o.byID), n, counts[pulsestream.Failed], counts[pulsestream.Rejected], n/badEvery)
	}
	for i := 0; i < n; i += badEvery {
		if out := o.byID[fmt.Sprintf("cs-%06d", i)]; out.Status != pulsestream.Rejected || out.Code != "invalid_schema" {
			t.Fatalf("invalid event %d: %+v", i, out)
		}
	}
	if resent != 0 {
		t.Errorf("%d events sent again after the gateway rejected them", resent)
	}
	if transportErrors == 0 {
		t.Errorf("no transport error while the gateway restarted: the restart did not reach the client")
	}
	d503 := o.retriesAfter(http.StatusServiceUnavailable)
	if len(d503) == 0 {
		t.Errorf("no 503 retried while the broker was down: the kill did not reach the client")
	}
	for _, d := range d503 {
		if d != time.Second {
			t.Fatalf("a 503 with Retry-After 1 was retried after %s", d)
		}
	}
	s.expectReadModels(s.tenantA, ids)
}

// The client's tests that need no fault share one stack (on the shared
// broker): starting one costs more than each of them.
func TestClientAndImportOnOneStack(t *testing.T) {
	s := startStackWith(t, stackOptions{noQuery: true, gatewayArgs: []string{"-signing-secret-key", e2eSigningKey}})
	run := func(name string, f func(*testing.T, *stack)) {
		t.Run(name, func(t *testing.T) {
			parent := s.t
			s.t = t // the stack's helpers fail the subtest
			defer func() { s.t = parent }()
			f(t, s)
		})
	}
	run("rate limit", clientHonoursTheRateLimit)
	run("import killed and resumed", importKilledHalfWayAndResumed)
	run("signed client", clientSignsForAKeyThatMustSign)
}

// A tenant whose rate limit the client exceeds: batches larger than its
// burst are split, 429s are retried after the Retry-After they carry, and
// every event is accepted exactly once.
func clientHonoursTheRateLimit(t *testing.T, s *stack) {
	rate, burst := 2000, 500
	tn := tenancytest.New(t, s.pool, "rl-"+randomHex(t, 4), tenancy.TenantSettings{RateLimitPerSec: &rate, RateLimitBurst: &burst})
	key := tn.Key(tenancy.ScopeIngest).Key
	w, o := newWireLog(t), newOutcomes(t)
	c := s.newClient(t, key, w, o, func(c *pulsestream.Config) { c.BatchMaxEvents = 1000 })
	const n = 8000
	want := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("rl-%05d", i)
		want[id] = true
		if err := c.Enqueue(context.Background(), pulsestream.Event{ID: id, Type: "rate.limited", Data: i}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ids, counts := o.stored()
	w.mu.Lock()
	t.Logf("outcomes %v; answers by status %v; Retry-After seen %v", counts, w.statuses, w.retryAfter)
	limited, advertised := w.statuses[http.StatusTooManyRequests], w.retryAfter
	w.mu.Unlock()
	if counts[pulsestream.Accepted] != n || len(ids) != n {
		t.Fatalf("outcomes %v, want %d accepted", counts, n)
	}
	if limited == 0 {
		t.Fatal("no 429: the client never exceeded the rate it was meant to exceed")
	}
	for _, d := range o.retriesAfter(http.StatusTooManyRequests) {
		if d < time.Second || advertised[fmt.Sprintf("429:%d", int(d/time.Second))] == 0 || d%time.Second != 0 {
			t.Fatalf("a 429 was retried after %s, not a Retry-After the gateway sent (%v)", d, advertised)
		}
	}
	if len(o.retriesAfter(http.StatusTooManyRequests)) == 0 {
		t.Fatal("429 answers but no retry after them")
	}
	s.expectReadModels(tn.ID, want)
}
