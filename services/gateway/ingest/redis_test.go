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

// TestRedisStepKeepsTheCallersValuesAndDeadlineNotItsCancellation: a
// step's context carries the caller's values and its deadline when earlier
// than the step's timeout, but is not ended by the caller's cancellation;
// a step ended by the caller's own deadline starts no cooldown.
func TestRedisStepKeepsTheCallersValuesAndDeadlineNotItsCancellation(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	op, opCancel, byCaller := opContext(parent, time.Hour)
	defer opCancel()
	cancel()
	if op.Err() != nil || byCaller || op.Value(key{}) != "v" {
		t.Fatalf("after the caller's cancel: err %v, byCaller %v, value %v", op.Err(), byCaller, op.Value(key{}))
	}
	if d, ok := op.Deadline(); !ok || time.Until(d) < 59*time.Minute {
		t.Fatalf("deadline %v %v, want the step's timeout", d, ok)
	}
	soon := time.Now().Add(50 * time.Millisecond)
	caller, cancel2 := context.WithDeadline(context.Background(), soon)
	defer cancel2()
	op2, opCancel2, byCaller2 := opContext(caller, time.Hour)
	defer opCancel2()
	if d, _ := op2.Deadline(); !d.Equal(soon) || !byCaller2 {
		t.Fatalf("deadline %v (byCaller %v), want the caller's %v", d, byCaller2, soon)
	}
	g := &redisGate{timeout: time.Hour, cooldown: time.Hour}
	err := g.do(caller, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("step past the caller's deadline: %v", err)
	}
	called := false
	if err := g.do(context.Background(), func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("the caller's own deadline started the cooldown: %v, called %v", err, called)
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
