package schemacheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Two gateway replicas (two checkers, each with its own pool and listener)
// both apply a new schema version within 1 s of the admin's commit, by
// NOTIFY: their poll interval is an hour, so only the notification can do it.
func TestEveryReplicaSeesANewVersionWithinOneSecond(t *testing.T) {
	url := testenv.PostgresURL(t)
	migratetest.Postgres(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var replicas []*Checker
	done := make(chan struct{}, 2)
	for range 2 {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		c := New(eventschemas.NewRegistry(pool), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		l := c.Listen(pool, Config{PollInterval: time.Hour, RetryInterval: 100 * time.Millisecond})
		go func() { _ = l.Run(ctx); done <- struct{}{} }()
		replicas = append(replicas, c)
	}
	defer func() { cancel(); <-done; <-done }()

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	tenant := "fresh-" + hex.EncodeToString(b[:])
	if _, err := tenancy.NewAdmin(tenancy.NewPGStore(pool)).CreateTenant(ctx, "cli:test", tenant, tenancy.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	reg := eventschemas.NewRegistry(pool)
	// Wait until both listeners are LISTENing: a first change reaches both.
	if _, err := reg.AddVersion(ctx, "cli:test", tenant, "warmup", []byte(`{}`), false); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, replicas, tenant, "warmup", 1, 30*time.Second)

	for v := 1; v <= 3; v++ {
		start := time.Now()
		if _, err := reg.AddVersion(ctx, "cli:test", tenant, "order.created", []byte(orderV2), false); err != nil {
			t.Fatal(err)
		}
		waitVersion(t, replicas, tenant, "order.created", v, time.Second)
		t.Logf("version %d applied by both replicas %s after the commit", v, time.Since(start))
	}
}

func waitVersion(t *testing.T, cs []*Checker, tenant, typ string, v int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, c := range cs {
		for {
			// Judged by when it was looked at: a look delayed past the
			// deadline by a loaded machine does not fail a replica that was
			// on time.
			looked := time.Now()
			at := c.Version(tenant, typ)
			if at == v {
				break
			}
			if looked.After(deadline) {
				t.Fatalf("version %d of %s not applied within %s (at %d)", v, typ, within, at)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
