package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func randomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type realEnv struct {
	brokers []string
	topic   string
	tenantA string
	tenantB string
	auth    *fakeAuth
}

// realGateway runs a gateway against the real Kafka (a fresh topic, deleted
// afterwards) and Redis (a fresh key prefix), with random tenants.
func realGateway(t *testing.T, rateA int, mod func(*Config), d deps) (*testGateway, realEnv) {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	redisAddr := testenv.RedisAddr(t)
	run := randomID(t)
	env := realEnv{brokers: []string{brokers}, topic: "gw-it-" + run, tenantA: "ta-" + run, tenantB: "tb-" + run}
	env.auth = &fakeAuth{keys: map[string]tenancy.Principal{
		keyA: principal(env.tenantA, rateA, tenancy.ScopeIngest),
		keyB: principal(env.tenantB, rateA, tenancy.ScopeIngest),
	}}
	d.auth = env.auth
	g := startGateway(t, env.brokers, env.topic, d, func(c *Config) {
		c.Redis.Addr = redisAddr
		c.Ingest.RedisKeyPrefix = "pstest:" + run + ":"
		if mod != nil {
			mod(c)
		}
	})
	testenv.DeleteTopicsAtCleanup(t, strings.Join(env.brokers, ","), env.topic, env.topic+".dlq", env.topic+".quarantine")
	return g, env
}

func TestIntegrationBatchWithInvalidEventsStoresExactlyTheValidOnesOnce(t *testing.T) {
	g, env := realGateway(t, 0, nil, deps{})
	var evs []string
	invalid := map[int]bool{}
	for i := 0; i < 1000; i++ {
		if i%100 == 7 {
			invalid[i] = true
			evs = append(evs, fmt.Sprintf(`{"id":"ev-%d","type":42}`, i))
			continue
		}
		evs = append(evs, event(fmt.Sprintf("ev-%d", i), "com.example.created", fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, i)))
	}
	body := batch(evs...)
	a := g.post(t, keyA, "application/json", body)
	if a.status != 207 || a.body.Accepted != 990 || a.body.Rejected != 10 || len(a.body.Results) != 1000 {
		t.Fatalf("first send: %d accepted=%d rejected=%d results=%d", a.status, a.body.Accepted, a.body.Rejected, len(a.body.Results))
	}
	partOf := map[string]int32{}
	for i, r := range a.body.Results {
		if invalid[i] != (r.Status == ingest.StatusRejected) || r.Index != i {
			t.Fatalf("result %d: %+v", i, r)
		}
		if invalid[i] && (r.Code != "invalid_schema" || r.Message == "" || r.ID != fmt.Sprintf("ev-%d", i)) {
			t.Fatalf("rejection %d lacks its reason: %+v", i, r)
		}
		if r.Partition != nil {
			partOf[r.ID] = *r.Partition
		}
	}
	recs := readRecords(t, env.brokers, env.topic, 990)
	if len(recs) != 990 {
		t.Fatalf("%d records read back, want 990", len(recs))
	}
	for _, r := range recs {
		var ev schemas.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != env.tenantA+"/"+ev.ID || partOf[ev.ID] != r.Partition {
			t.Fatalf("record %s on partition %d, answer said %d", r.Key, r.Partition, partOf[ev.ID])
		}
	}

	// The same batch again: nothing new is stored.
	a = g.post(t, keyA, "application/json", body)
	if a.status != 207 || a.body.Duplicate != 990 || a.body.Rejected != 10 || a.body.Accepted != 0 {
		t.Fatalf("repeat: %d dup=%d rej=%d acc=%d", a.status, a.body.Duplicate, a.body.Rejected, a.body.Accepted)
	}
	// Same id, other content: conflict.
	a = g.post(t, keyA, "application/json", batch(event("ev-0", "com.example.created", `{"n":"changed"}`)))
	if a.status != 400 || a.body.Results[0].Code != ingest.CodeConflict {
		t.Fatalf("conflict: %d %s", a.status, a.raw)
	}
	if n := topicRecords(t, env.brokers, env.topic); n != 990 {
		t.Fatalf("%d records in the topic after repeats, want 990", n)
	}
}

// TestIntegrationEveryCopyOfAKeyLandsOnOnePartition produces several copies
// of the same (tenant, id) — dedup markers unavailable so every copy goes
// through, plus tombstones — and checks they share one partition.
func TestIntegrationEveryCopyOfAKeyLandsOnOnePartition(t *testing.T) {
	g, env := realGateway(t, 0, func(c *Config) { c.Kafka.Partitions = 6 }, deps{markers: &memMarkers{fail: true}})
	ids := []string{"k1", "k2", "order/3", "k4"}
	// Every copy first: once an id is deleted, the gateway refuses to
	// produce it again (TestResentDeletedIDIsADuplicateWhileRedisIsDown).
	for round := 0; round < 3; round++ {
		for _, id := range ids {
			if a := g.post(t, keyA, "application/json", []byte(event(id, "t", fmt.Sprint(round)))); a.status != 200 {
				t.Fatalf("%d %s", a.status, a.raw)
			}
		}
	}
	for round := 0; round < 3; round++ {
		for _, id := range ids {
			req, _ := http.NewRequest(http.MethodDelete, g.url+"/v1/events/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+keyA)
			if a := do(t, req); a.status != 202 {
				t.Fatalf("delete %d %s", a.status, a.raw)
			}
		}
	}
	recs := readRecords(t, env.brokers, env.topic, 24)
	if len(recs) != 24 {
		t.Fatalf("%d records, want 24", len(recs))
	}
	part := map[string]int32{}
	used := map[int32]bool{}
	for _, r := range recs {
		k := string(r.Key)
		if p, ok := part[k]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", k, p, r.Partition)
		}
		part[k] = r.Partition
		used[r.Partition] = true
	}
	if len(part) != len(ids) {
		t.Fatalf("keys %v", part)
	}
	t.Logf("4 keys over %d partitions", len(used))
}

// decidedInRedis gives a gateway's Redis calls all the time a loaded machine
// may take, for tests of what the rate limiter decides: with the defaults a
// round trip answered after redis-op-timeout (250 ms) lets the request
// through without a decision (fail-open, no RateLimit headers) and Redis is
// skipped for redis-cooldown after it, which such a test would read as the
// limiter failing. Fail-open on a late Redis has its own test
// (TestRedisAnsweringLateFailsOpenOrClosedAsConfigured).
func decidedInRedis(c *Config) {
	c.Ingest.RedisTimeout = time.Minute
	c.Redis.ReadTimeout = time.Minute
	c.Redis.WriteTimeout = time.Minute
}

func TestIntegrationTenantOverItsRateGets429AndOthersAreUnaffected(t *testing.T) {
	g, _ := realGateway(t, 100, decidedInRedis, deps{})
	start := time.Now()
	var accepted, limited int
	var last429 answer
	var mu sync.Mutex
	// count records one answer; it reports whether the answer was a 429.
	count := func(i int, a answer) bool {
		mu.Lock()
		defer mu.Unlock()
		switch a.status {
		case 200:
			accepted += a.body.Accepted
		case 429:
			limited++
			last429 = a
		default:
			t.Errorf("request %d: %d %s", i, a.status, a.raw)
		}
		if a.header.Get("RateLimit-Limit") != "100" || a.header.Get("RateLimit-Remaining") == "" || a.header.Get("RateLimit-Reset") == "" ||
			a.header.Get("X-RateLimit-Limit") != "100" || a.header.Get("RateLimit-Policy") != "100;w=1;burst=100" {
			t.Errorf("request %d: rate headers missing: %v", i, a.header)
		}
		return a.status == 429
	}
	events := func(i, n int) []byte {
		var evs []string
		for j := 0; j < n; j++ {
			evs = append(evs, event(fmt.Sprintf("r-%d-%d", i, j), "t", "1"))
		}
		return batch(evs...)
	}
	// The bucket starts full (burst 100) and only refills, so whatever the
	// machine's speed the first 10 requests of 10 events are accepted, with
	// Remaining exactly 90 after the first and at least 100-10k after the k-th.
	for i := 0; i < 10; i++ {
		a := g.post(t, keyA, "application/json", events(i, 10))
		count(i, a)
		remaining, err := strconv.Atoi(a.header.Get("RateLimit-Remaining"))
		if a.status != 200 || a.body.Accepted != 10 || err != nil || remaining < 90-10*i || i == 0 && remaining != 90 {
			t.Fatalf("request %d of the first 100 events (the burst): %d, %d accepted, RateLimit-Remaining %q", i, a.status, a.body.Accepted, a.header.Get("RateLimit-Remaining"))
		}
	}
	// Then 8 senders of 50 events at once offer more than the refill of 100
	// events/s as long as a request takes under 4 s, until the first 429 (or
	// a minute).
	var wg sync.WaitGroup
	var next atomic.Int64
	next.Store(10)
	var seen atomic.Bool
	for range 8 {
		wg.Go(func() {
			for !seen.Load() && time.Since(start) < time.Minute {
				i := int(next.Add(1))
				if count(i, g.post(t, keyA, "application/json", events(i, 50))) {
					seen.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	elapsed := time.Since(start)
	if limited == 0 {
		t.Fatalf("no 429 in %s (accepted %d)", elapsed, accepted)
	}
	if max := 100 + int(100*elapsed.Seconds()) + 10; accepted > max {
		t.Fatalf("accepted %d events in %s, the limit allows at most %d", accepted, elapsed, max)
	}
	if last429.header.Get("Retry-After") == "" || last429.errorCode() != "rate_limited" || last429.header.Get("RateLimit-Remaining") == "" {
		t.Fatalf("429 answer: %v %s", last429.header, last429.raw)
	}
	if a := g.post(t, keyB, "application/json", batch(event("other", "t", "1"))); a.status != 200 {
		t.Fatalf("other tenant: %d %s", a.status, a.raw)
	}
	// Request-level errors carry the headers too (a zero-cost look at the bucket).
	if a := g.post(t, keyB, "application/json", []byte(`[{`)); a.status != 400 || a.header.Get("RateLimit-Limit") != "100" || a.header.Get("RateLimit-Remaining") == "" {
		t.Fatalf("malformed request: %d %v", a.status, a.header)
	}
	t.Logf("accepted %d events in %s, %d requests limited", accepted, elapsed, limited)
}

// TestIntegrationUnreachableBrokerAnswers503ThenIngestionResumes sends all of
// the gateway's Kafka traffic through a proxy (franz-go's Dialer: every
// broker address, seed or learned from metadata, is dialled through it), cuts
// it, and restores it. The shared broker itself is never stopped.
func TestIntegrationUnreachableBrokerAnswers503ThenIngestionResumes(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	proxy := testenv.NewCutProxy(t, brokers)
	dialer := kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, proxy.Addr())
	})
	const timeout = 3 * time.Second
	g, env := realGateway(t, 0, func(c *Config) { c.Producer.DeliveryTimeout = timeout }, deps{kafka: []kgo.Opt{dialer}})
	if a := g.post(t, keyA, "application/json", batch(event("before", "t", "1"))); a.status != 200 {
		t.Fatalf("before: %d %s", a.status, a.raw)
	}
	proxy.Cut()
	for i := 0; i < 3; i++ {
		start := time.Now()
		a := g.post(t, keyA, "application/json", batch(event(fmt.Sprint("during-", i), "t", "1")))
		took := time.Since(start)
		if a.status != 503 || a.header.Get("Retry-After") == "" {
			t.Fatalf("during outage: %d %v %s", a.status, a.header, a.raw)
		}
		t.Logf("503 after %s", took)
		if took > timeout+answerMargin { // below the default delivery timeout (10 s)
			t.Fatalf("503 after %s; delivery timeout %s", took, timeout)
		}
	}
	proxy.Restore()
	deadline := time.Now().Add(30 * time.Second)
	var a answer
	for time.Now().Before(deadline) {
		a = g.post(t, keyA, "application/json", batch(event("after", "t", "1")))
		if a.status == 200 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if a.status != 200 || a.body.Accepted+a.body.Duplicate != 1 {
		t.Fatalf("after restore: %d %s", a.status, a.raw)
	}
	_ = env
}

func TestIntegrationUnreachableRedisLetsIngestionGoOnAndReadinessStaysUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	g, env := realGateway(t, 100, nil, deps{})
	_ = env
	g2 := startGateway(t, env.brokers, env.topic, deps{auth: env.auth}, func(c *Config) { c.Redis.Addr = dead })
	// Kafka's time is not this test's subject: only the rest is bounded.
	a, took := outsideKafka(t, g2.reg, func() answer { return g2.post(t, keyA, "application/json", batch(event("nr-1", "t", "1"))) })
	if a.status != 200 || a.body.Accepted != 1 || took > 3*time.Second {
		t.Fatalf("with Redis down: %d after %s outside Kafka: %s", a.status, took, a.raw)
	}
	if got := counter(t, g2, "pulsestream_gateway_redis_errors_total"); got < 3 {
		t.Fatalf("redis errors %v, want >= 3", got)
	}
	resp, err := http.Get(g2.url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	_ = g
}
