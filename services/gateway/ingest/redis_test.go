package ingest

import (
	"context"
	"errors"
	"testing"
	"time"
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
