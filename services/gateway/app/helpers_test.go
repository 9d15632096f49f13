package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/tenancy"
)

// fakeAuth knows a fixed set of keys.
type fakeAuth struct{ keys map[string]tenancy.Principal }

func (f *fakeAuth) Authenticate(_ context.Context, raw string, _ netip.Addr, need tenancy.Scope) (tenancy.Principal, error) {
	if raw == "" {
		return tenancy.Principal{}, &tenancy.AuthError{Status: 401, Code: tenancy.CodeMissingKey, Message: "no key"}
	}
	p, ok := f.keys[raw]
	if !ok {
		return tenancy.Principal{}, &tenancy.AuthError{Status: 401, Code: tenancy.CodeInvalidKey, Message: "bad key"}
	}
	if !p.Has(need) {
		return tenancy.Principal{}, &tenancy.AuthError{Status: 403, Code: tenancy.CodeMissingScope, Message: "scope"}
	}
	return p, nil
}

func principal(tenant string, ratePerSec int, scopes ...tenancy.Scope) tenancy.Principal {
	return tenancy.Principal{Tenant: tenancy.Tenant{ID: tenant, Status: tenancy.StatusActive, RateLimitPerSec: ratePerSec, RateLimitBurst: ratePerSec, MaxEventBytes: 1 << 20}, Scopes: scopes}
}

// memMarkers is an in-memory MarkerStore; fail makes it act as a down Redis.
type memMarkers struct {
	mu   sync.Mutex
	m    map[string]markers.Marker
	fail bool
}

func newMemMarkers() *memMarkers { return &memMarkers{m: map[string]markers.Marker{}} }

func (s *memMarkers) Lookup(_ context.Context, tenant string, ids []string) ([]markers.Marker, []bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return nil, nil, fmt.Errorf("redis down")
	}
	ms, ok := make([]markers.Marker, len(ids)), make([]bool, len(ids))
	for i, id := range ids {
		ms[i], ok[i] = s.m[tenant+"/"+id]
	}
	return ms, ok, nil
}

func (s *memMarkers) SaveErased(_ context.Context, tenant string, ids []string, m markers.Marker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return fmt.Errorf("redis down")
	}
	for _, id := range ids {
		s.m[tenant+"/"+id] = m
	}
	return nil
}

func (s *memMarkers) Save(_ context.Context, tenant string, ids []string, ms []markers.Marker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return fmt.Errorf("redis down")
	}
	for i, id := range ids {
		if _, ok := s.m[tenant+"/"+id]; !ok {
			s.m[tenant+"/"+id] = ms[i]
		}
	}
	return nil
}

// memLimiter is a fixed-window-free token counter: burst units, no refill.
type memLimiter struct {
	mu   sync.Mutex
	used map[string]int
	fail bool
}

func (l *memLimiter) AllowN(_ context.Context, tenant string, rate, burst, n int) (ingest.Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return ingest.Decision{}, fmt.Errorf("redis down")
	}
	if l.used == nil {
		l.used = map[string]int{}
	}
	d := ingest.Decision{Limit: burst, Rate: rate, ResetAfter: time.Second}
	if l.used[tenant]+n <= burst {
		l.used[tenant] += n
		d.Allowed = true
	} else {
		d.RetryAfter = time.Second
	}
	d.Remaining = burst - l.used[tenant]
	return d, nil
}

type testGateway struct {
	app     *App
	url     string
	brokers []string
	topic   string
	markers *memMarkers
	limiter *memLimiter
	reg     *prometheus.Registry
}

const (
	keyA       = "key-a"
	keyB       = "key-b"
	keyNoScope = "key-query-only"
)

func testAuth() *fakeAuth {
	return &fakeAuth{keys: map[string]tenancy.Principal{
		keyA:       principal("tenant-a", 0, tenancy.ScopeIngest),
		keyB:       principal("tenant-b", 0, tenancy.ScopeIngest),
		keyNoScope: principal("tenant-a", 0, tenancy.ScopeQuery),
	}}
}

// patientKafka gives the producer all the time a loaded machine's broker may
// take to acknowledge (the first records of a new topic wait for its
// partitions' leaders), so that a test not about the delivery timeout never
// sees a 503 for a slow ack. Tests about the timeout set a short one after
// it and allow answerMargin on top.
func patientKafka(c *Config) { c.Producer.DeliveryTimeout = time.Minute }

// answerMargin is what a loaded machine may add to a bounded wait before the
// answer reaches the test (scheduling, the HTTP round trip): a test of a
// timeout T accepts an answer within T+answerMargin, and picks T so that a
// gateway not bounding its wait by T cannot answer that soon.
const answerMargin = 5 * time.Second

// produceSeconds is the time the gateway's requests have waited for Kafka so
// far (pulsestream_gateway_produce_latency_seconds): a test of how long the
// gateway takes without Kafka subtracts the difference across a request.
func produceSeconds(t testing.TB, reg prometheus.Gatherer) time.Duration {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "pulsestream_gateway_produce_latency_seconds" {
			return time.Duration(mf.GetMetric()[0].GetHistogram().GetSampleSum() * float64(time.Second))
		}
	}
	return 0
}

// outsideKafka runs send and returns how long it took minus the time the
// gateway spent waiting for Kafka meanwhile (reg: the gateway's registry).
func outsideKafka[A any](t testing.TB, reg prometheus.Gatherer, send func() A) (A, time.Duration) {
	t.Helper()
	before, start := produceSeconds(t, reg), time.Now()
	a := send()
	took := time.Since(start)
	return a, took - (produceSeconds(t, reg) - before)
}

// startGateway runs a gateway against brokers with d's fakes (nil: real
// Redis) and returns its base URL. It stops with the test.
func startGateway(t testing.TB, brokers []string, topic string, d deps, mod func(*Config)) *testGateway {
	t.Helper()
	if d.auth != nil && d.erasures == nil { // fake auth, no PostgreSQL: no erasure worker either
		d.erasures = &memErasures{}
	}
	cfg := Defaults()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Kafka.Brokers = strings.Join(brokers, ",")
	cfg.Kafka.Topic = topic
	cfg.Kafka.DLQTopic = topic + ".dlq"
	cfg.Quarantine.Topic, cfg.Quarantine.Group = topic+".quarantine", topic+"-quarantine"
	cfg.Kafka.Partitions = 3
	patientKafka(&cfg)
	cfg.Ingest.RetryAfter = time.Second
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := build(cfg, slog.New(slog.DiscardHandler), reg, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway run: %v", err)
			}
		case <-time.After(cfg.Producer.DeliveryTimeout + 30*time.Second): // the stop flushes the producer
			t.Errorf("gateway did not stop")
		}
	})
	g := &testGateway{app: a, url: "http://" + a.Addr(), brokers: brokers, topic: topic, reg: reg}
	if m, ok := d.markers.(*memMarkers); ok {
		g.markers = m
	}
	if l, ok := d.limiter.(*memLimiter); ok {
		g.limiter = l
	}
	return g
}

type answer struct {
	status int
	header http.Header
	body   ingest.Response
	raw    []byte
}

func (g *testGateway) post(t testing.TB, key, contentType string, body []byte, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// errorCode is the apierror code of an answer.
func (a answer) errorCode() string {
	var b struct {
		Error struct {
			Code   string `json:"code"`
			Offset *int64 `json:"offset"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.raw, &b)
	return b.Error.Code
}

func event(id, typ string, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":%q,"source":"/test","data":%s}`, id, typ, data)
}

func batch(events ...string) []byte { return []byte("[" + strings.Join(events, ",") + "]") }

// topicRecords counts the records in topic (sum of end offsets).
func topicRecords(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		n += o.Offset
	})
	return n
}

// readRecords consumes the whole topic (want records, or until quiet).
func readRecords(t testing.TB, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(time.Minute) // a loaded broker's first fetch of a new topic is slow
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// memErasures records deletions and erasure requests in memory.
type memErasures struct {
	mu       sync.Mutex
	deletes  []string // tenant/id
	requests map[string]erasure.Erasure
	fail     bool // PostgreSQL down
}

func (m *memErasures) RecordDelete(_ context.Context, tenant, eventID, _, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return fmt.Errorf("postgres down")
	}
	m.deletes = append(m.deletes, tenant+"/"+eventID)
	return nil
}

func (m *memErasures) ErasedIDs(_ context.Context, tenant string, ids []string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, fmt.Errorf("postgres down")
	}
	out := map[string]bool{}
	for _, id := range ids {
		if slices.Contains(m.deletes, tenant+"/"+id) {
			out[id] = true
		}
	}
	return out, nil
}

func (m *memErasures) Request(_ context.Context, id, tenant, subject, _ string) (erasure.Erasure, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[string]erasure.Erasure{}
	}
	e := erasure.Erasure{ID: id, State: erasure.StatePending, SubjectSHA256: erasure.SubjectHash(subject), RequestedAt: time.Now()}
	m.requests[tenant+"/"+id] = e
	return e, nil
}

func (m *memErasures) Get(_ context.Context, tenant, id string) (erasure.Erasure, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.requests[tenant+"/"+id]
	if !ok {
		return erasure.Erasure{}, erasure.ErrNotFound
	}
	return e, nil
}
