package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func TestRedisGateCoolsDownAfterARedisFailureNotAfterTheCallerLeft(t *testing.T) {
	g := &redisGate{timeout: time.Second, cooldown: time.Hour}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.do(gone, func(ctx context.Context) error { return ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("caller gone: %v", err)
	}
	if err := g.do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("after a caller left, Redis must still be asked: %v", err)
	}
	down := errors.New("connection refused")
	if err := g.do(context.Background(), func(context.Context) error { return down }); !errors.Is(err, down) {
		t.Fatalf("redis failure: %v", err)
	}
	called := false
	if err := g.do(context.Background(), func(context.Context) error { called = true; return nil }); !errors.Is(err, ErrRedisSkipped) || called {
		t.Fatalf("within the cooldown after a Redis failure: %v, called %v", err, called)
	}
}

// BenchmarkRedisGateStep is the gate's own cost around one Redis step of a
// request: the caller's context is shaped like a request's in the gateway
// (net/http's cancellable context under values, then more values above it).
func BenchmarkRedisGateStep(b *testing.B) {
	type k int
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), k(0), 0))
	defer cancel()
	for i := 1; i < 5; i++ {
		ctx = context.WithValue(ctx, k(i), i)
	}
	g := &redisGate{timeout: 250 * time.Millisecond, cooldown: time.Second}
	step := func(ctx context.Context) error { return ctx.Err() }
	b.ReportAllocs()
	for b.Loop() {
		if err := g.do(ctx, step); err != nil {
			b.Fatal(err)
		}
	}
}

// unitLog records, per pipeline sent, the keys of its commands.
type unitLog struct {
	mu   sync.Mutex
	sent [][]string
	noHook
}

type noHook struct{}

func (noHook) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (noHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (l *unitLog) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		keys := make([]string, len(cmds))
		for i, c := range cmds {
			if len(c.Args()) > 1 {
				keys[i], _ = c.Args()[1].(string)
			}
		}
		l.mu.Lock()
		l.sent = append(l.sent, keys)
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestARequestsCommandsTravelTogetherWhileOthersAreInFlight: many callers
// at once each hand three commands to the coalesced pipeline; every
// caller's three are answered and went in one pipeline, next to each other
// (a rate limit, its nonce claim and its marker lookup are one round trip),
// and requests in flight together share pipelines.
func TestARequestsCommandsTravelTogetherWhileOthersAreInFlight(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	log := &unitLog{}
	rdb.AddHook(log)
	c := newCoalesced(rdb)
	prefix := fmt.Sprintf("pstest:unit-%d:", time.Now().UnixNano())
	const callers, rounds = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Go(func() {
			for r := range rounds {
				k := fmt.Sprintf("%s%d-%d", prefix, g, r)
				set := goredis.NewStatusCmd(context.Background(), "set", k+"/a", "1", "px", 60000)
				get := goredis.NewStringCmd(context.Background(), "get", k+"/a")
				del := goredis.NewIntCmd(context.Background(), "del", k+"/a")
				if err := c.run(context.Background(), 3, set, get, del); err != nil {
					errs <- err
					return
				}
				if get.Val() != "1" || del.Val() != 1 {
					errs <- fmt.Errorf("%s: get %q del %d, want the set's value, then its deletion", k, get.Val(), del.Val())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	units, shared := 0, 0
	for _, keys := range log.sent {
		if len(keys) == 0 || !strings.HasPrefix(keys[0], prefix) {
			continue // a connection's own setup
		}
		if len(keys)%3 != 0 {
			t.Fatalf("a pipeline of %d commands: a request's three were split", len(keys))
		}
		for i := 0; i < len(keys); i += 3 {
			if keys[i] != keys[i+1] || keys[i] != keys[i+2] {
				t.Fatalf("a pipeline of %d commands: its commands %d-%d are not one request's (%q)", len(keys), i, i+2, keys[i:i+3])
			}
			units++
		}
		if len(keys) > 3 {
			shared++
		}
	}
	if units != callers*rounds {
		t.Fatalf("%d requests in the pipelines, want %d", units, callers*rounds)
	}
	if shared == 0 {
		t.Errorf("%d callers at once and no pipeline held two requests: nothing coalesced", callers)
	}
}
