package runner

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

func TestContextEndFailsReadinessThenInterruptsActors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := New(Config{}, slog.New(slog.DiscardHandler))
	var order []string
	g.OnSignal(func() { order = append(order, "readiness failed") })
	stopped := make(chan struct{})
	g.Add(func() error {
		<-stopped
		order = append(order, "actor stopped")
		return nil
	}, func(error) { close(stopped) })
	cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run after the context ended: %v, want nil", err)
	}
	if len(order) != 2 || order[0] != "readiness failed" || order[1] != "actor stopped" {
		t.Fatalf("order %v", order)
	}
}

func TestAnActorErrorStopsTheGroupAndIsReturned(t *testing.T) {
	boom := errors.New("boom")
	g := New(Config{}, slog.New(slog.DiscardHandler))
	signalled := false
	g.OnSignal(func() { signalled = true })
	g.AddContext(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	g.Add(func() error { return boom }, func(error) {})
	if err := g.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want %v", err, boom)
	}
	if signalled {
		t.Error("readiness failed without a stop request")
	}
}
