package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestRedisSIGKILLDegradesAsDocumentedAndRecoversWithoutRestart kills a
// private redis-server under two gateways and starts it again. As
// documented (services/gateway/README.md, flag rate-limit-fail-closed):
// the default gateway keeps ingesting without dedup or rate limits and stays
// ready; the fail-closed one answers 503 with Retry-After. Both go back to
// dedup and rate limiting once Redis answers, without a restart, and every
// event answered 2xx is in Kafka.
func TestRedisSIGKILLDegradesAsDocumentedAndRecoversWithoutRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	open, env := realGateway(t, 1000, func(c *Config) { c.Redis.Addr = r.Addr }, deps{})
	closed := startGateway(t, env.brokers, env.topic, deps{auth: env.auth}, func(c *Config) {
		c.Redis.Addr = r.Addr
		c.Ingest.RedisKeyPrefix = "pstest:closed-" + env.topic + ":"
		c.Ingest.RateLimitFailClosed = true
	})
	acked := map[string]bool{}
	send := func(g *testGateway, id string) answer {
		t.Helper()
		a := g.post(t, keyA, "application/json", batch(event(id, "t", "1")))
		if a.status == 200 {
			acked[id] = true
		}
		return a
	}
	// Redis up: dedup and rate-limit headers.
	if a := send(open, "before"); a.status != 200 || a.body.Accepted != 1 || a.header.Get("RateLimit-Limit") == "" {
		t.Fatalf("before the kill: %d %v %s", a.status, a.header, a.raw)
	}
	if a := send(open, "before"); a.body.Duplicate != 1 {
		t.Fatalf("repeat before the kill: %s", a.raw)
	}

	r.Kill()
	// Kafka's time is not this test's subject: only the rest is bounded.
	a, took := outsideKafka(t, open.reg, func() answer { return send(open, "during") })
	if a.status != 200 || a.body.Accepted != 1 || took > 2*time.Second {
		t.Fatalf("fail-open gateway with Redis killed: %d after %s outside Kafka: %s", a.status, took, a.raw)
	}
	if a := send(open, "before"); a.status != 200 || a.body.Accepted != 1 {
		t.Fatalf("without Redis a repeat is produced again (no dedup, documented): %d %s", a.status, a.raw)
	}
	if a := send(closed, "during-closed"); a.status != 503 || a.errorCode() != "unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("fail-closed gateway with Redis killed: %d %v %s", a.status, a.header, a.raw)
	}
	for _, g := range []*testGateway{open, closed} {
		resp, err := http.Get(g.url + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz with Redis killed (Redis is not a readiness dependency): %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if got := counter(t, open, "pulsestream_gateway_redis_errors_total"); got < 1 {
		t.Fatalf("redis errors %v, want >= 1", got)
	}

	r.Start()
	// Both recover by themselves (after redis-cooldown): dedup and limits again.
	n := 0
	waitUntil(t, time.Minute, "dedup again after Redis restarted", func() bool {
		n++
		id := fmt.Sprintf("after-%d", n)
		if a := send(open, id); a.status != 200 {
			return false
		}
		a := send(open, id)
		return a.status == 200 && a.body.Duplicate == 1 && a.header.Get("RateLimit-Limit") != ""
	})
	waitUntil(t, time.Minute, "fail-closed gateway accepts again", func() bool {
		return send(closed, fmt.Sprintf("closed-after-%d", n)).status == 200
	})

	recs := readRecords(t, env.brokers, env.topic, int(topicRecords(t, env.brokers, env.topic)))
	copies := map[string]int{}
	for _, rec := range recs {
		copies[string(rec.Key)]++
	}
	lost, extra := 0, 0
	for id := range acked {
		switch n := copies[env.tenantA+"/"+id]; {
		case n == 0:
			lost++
			t.Errorf("event %s was answered 200 but is not in Kafka", id)
		case n > 1:
			extra += n - 1
		}
	}
	// "before" twice: once with Redis, once as a repeat while it was down;
	// "after-*" repeats sent until dedup was back add their copies too.
	if n := copies[env.tenantA+"/before"]; n != 2 {
		t.Errorf("event before: %d copies in Kafka, want 2", n)
	}
	fmt.Printf("faults: 1 injected, %d events acknowledged, %d in Kafka, %d lost, %d re-produced while dedup was down (documented; the projector stores them once)\n",
		len(acked), len(acked)-lost, lost, extra)
}

// TestRedisAnsweringLateFailsOpenOrClosedAsConfigured freezes a private
// redis-server (SIGSTOP: connections open, nothing answered) under a
// fail-open and a fail-closed gateway. While it is frozen every Redis answer
// is late, whatever the machine's speed, so redis-op-timeout always expires:
// the default gateway lets the request through without a decision (200, no
// RateLimit headers, the event in Kafka) and the fail-closed one answers 503
// with Retry-After, each without waiting for Redis to wake up. Once Redis
// answers again both decide in Redis again, without a restart.
func TestRedisAnsweringLateFailsOpenOrClosedAsConfigured(t *testing.T) {
	r := testenv.StartRedis(t)
	late := func(c *Config) {
		c.Redis.Addr = r.Addr
		c.Ingest.RedisTimeout = 200 * time.Millisecond
	}
	open, env := realGateway(t, 1000, late, deps{})
	closed := startGateway(t, env.brokers, env.topic, deps{auth: env.auth}, func(c *Config) {
		late(c)
		c.Ingest.RedisKeyPrefix = "pstest:closed-" + env.topic + ":"
		c.Ingest.RateLimitFailClosed = true
	})
	send := func(g *testGateway, id string) answer {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/v1/events", bytes.NewReader(batch(event(id, "t", "1"))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+keyA)
		req.Header.Set("Content-Type", "application/json")
		return do(t, req) // a gateway waiting for the frozen Redis fails here after 30 s
	}
	for _, g := range []*testGateway{open, closed} {
		if a := send(g, "decided-"+g.url); a.status != 200 || a.header.Get("RateLimit-Limit") != "1000" {
			t.Fatalf("Redis answering: %d %v %s", a.status, a.header, a.raw)
		}
	}

	r.Pause()
	frozen := true
	t.Cleanup(func() {
		if frozen {
			r.Resume()
		}
	})
	a := send(open, "while-frozen")
	if a.status != 200 || a.body.Accepted != 1 || a.header.Get("RateLimit-Limit") != "" || a.header.Get("RateLimit-Remaining") != "" {
		t.Fatalf("fail-open gateway, Redis frozen: %d %v %s; want 200 without a decision", a.status, a.header, a.raw)
	}
	if a := send(closed, "while-frozen-closed"); a.status != 503 || a.errorCode() != "unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("fail-closed gateway, Redis frozen: %d %v %s", a.status, a.header, a.raw)
	}
	for _, g := range []*testGateway{open, closed} {
		if got := counter(t, g, "pulsestream_gateway_redis_errors_total"); got < 1 {
			t.Fatalf("redis errors %v, want >= 1", got)
		}
	}
	r.Resume()
	frozen = false

	n := 0
	waitUntil(t, time.Minute, "decisions again after Redis woke up", func() bool {
		n++
		a := send(open, fmt.Sprintf("after-%d", n))
		b := send(closed, fmt.Sprintf("closed-after-%d", n))
		return a.status == 200 && a.header.Get("RateLimit-Limit") == "1000" && b.status == 200 && b.header.Get("RateLimit-Limit") == "1000"
	})
	found := false
	for _, rec := range readRecords(t, env.brokers, env.topic, int(topicRecords(t, env.brokers, env.topic))) {
		found = found || string(rec.Key) == env.tenantA+"/while-frozen"
		if string(rec.Key) == env.tenantA+"/while-frozen-closed" {
			t.Errorf("the fail-closed gateway's refused event is in Kafka")
		}
	}
	if !found {
		t.Errorf("the event answered 200 while Redis was frozen is not in Kafka")
	}
}

// waitUntil polls cond until it holds; d is generous (each poll sends
// requests that produce to the shared broker), not the recovery's bound.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
