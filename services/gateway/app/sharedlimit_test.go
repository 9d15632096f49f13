package app

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIntegrationTwoGatewaysShareOneTenantLimit runs two gateways on one
// Redis key prefix (two replicas) and offers one tenant far more events than
// its limit through both at once, until both have answered 429. GCRA runs in Redis for every
// request (the coalesced pipeline changes how commands travel, not what they
// decide), so the combined accepted count stays within what one bucket
// allows: burst + rate × elapsed, tolerance 1 event for rounding. Had each
// replica its own bucket, about twice that would be accepted.
func TestIntegrationTwoGatewaysShareOneTenantLimit(t *testing.T) {
	const rate = 50 // events/s; burst = rate (principal)
	// Redis as patient (decidedInRedis): a late answer would let a request
	// through without a decision, which is not what this test measures.
	g1, env := realGateway(t, rate, decidedInRedis, deps{})
	g2 := startGateway(t, env.brokers, env.topic, deps{auth: env.auth}, func(c *Config) {
		decidedInRedis(c)
		c.Redis.Addr = g1.app.cfg.Redis.Addr
		c.Ingest.RedisKeyPrefix = g1.app.cfg.Ingest.RedisKeyPrefix
	})
	var accepted, limited [2]atomic.Int64
	var seq atomic.Int64
	var wg sync.WaitGroup
	// Until both gateways have answered 429 (a minute at most): requests of
	// 10 events from 16 workers offer more than the refill of 50 events/s as
	// long as a request takes under 3 s, however loaded the machine.
	done := func() bool { return limited[0].Load() > 0 && limited[1].Load() > 0 }
	start := time.Now()
	for w := range 16 {
		wg.Go(func() {
			g := []*testGateway{g1, g2}[w%2]
			for !done() && time.Since(start) < time.Minute {
				var evs []string
				for range 10 {
					evs = append(evs, event(fmt.Sprintf("s-%d", seq.Add(1)), "t", "1"))
				}
				a := g.post(t, keyA, "application/json", batch(evs...))
				switch a.status {
				case 200:
					accepted[w%2].Add(int64(a.body.Accepted))
				case 429:
					limited[w%2].Add(1)
				default:
					t.Errorf("gateway %d: %d %s", w%2+1, a.status, a.raw)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := accepted[0].Load() + accepted[1].Load()
	bound := rate + int64(rate*elapsed.Seconds()) + 1
	t.Logf("accepted %d + %d = %d in %s (bound %d), 429s %d + %d", accepted[0].Load(), accepted[1].Load(), total, elapsed, bound, limited[0].Load(), limited[1].Load())
	if total > bound {
		t.Fatalf("two gateways accepted %d events in %s; one shared limit of %d/s (burst %d) allows at most %d", total, elapsed, rate, rate, bound)
	}
	if total < rate {
		t.Fatalf("accepted %d: fewer than the burst of %d, though far more were offered", total, rate)
	}
	if !done() {
		t.Fatalf("429s %d + %d: not both gateways limited within a minute, though far more than the limit was offered", limited[0].Load(), limited[1].Load())
	}
}
