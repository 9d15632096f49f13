package erasure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// pgStore is a PGStore on a private schema with the migrations applied and
// live events of subject "s" (ids e-0000..) plus other subjects' events.
func pgStore(t *testing.T, live int) (*PGStore, *pgxpool.Pool, string) {
	t.Helper()
	base := testenv.PostgresURL(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "erasure_w_" + hex.EncodeToString(b)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), base); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	url := base + sep + "search_path=" + schema
	migratetest.Postgres(t, url)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `INSERT INTO events (tenant_id, external_id, type, subject, data, content_hash, kafka_partition, kafka_offset)
		SELECT 'ten', 'e-' || lpad(i::text, 4, '0'), 't', CASE WHEN i < $1 THEN 's' ELSE 'other' END, '{}', 'h', 0, i
		FROM generate_series(0, $1 + 99) i`, live); err != nil {
		t.Fatal(err)
	}
	return NewPGStore(pool, "topic-"+schema), pool, "ten"
}

// recorder is a Tombstoner that remembers what it was asked for and can
// fail (Kafka down) after a number of calls.
type recorder struct {
	mu        sync.Mutex
	ids       []string
	failAfter int // calls that succeed before every call fails; <0 never fails
	calls     int
}

var errKafka = errors.New("kafka down")

func (r *recorder) Tombstones(_ context.Context, tenant string, ids []string, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failAfter >= 0 && r.calls > r.failAfter {
		return errKafka
	}
	r.ids = append(r.ids, ids...)
	return nil
}

func testWorker(store JobStore, ts Tombstoner) *Worker {
	return NewWorker(Config{PollInterval: 10 * time.Millisecond, Lease: time.Second, PageSize: 100}, store, ts, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
}

func ids(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("e-%04d", i))
	}
	return s
}

// A worker that dies mid-erasure (its tombstones for a page not acknowledged)
// leaves the page in flight; the next worker, after the lease, produces it
// again and finishes: every event tombstoned at least once, counted once.
func TestErasureResumedAfterAWorkerDiesIsDoneWithTheExactCount(t *testing.T) {
	store, pool, tenant := pgStore(t, 250)
	ctx := context.Background()
	e, err := store.Request(ctx, "01JDZ6B3X8Y4K1M2N3P4Q5R6S7", tenant, "s", "key:test")
	if err != nil {
		t.Fatal(err)
	}
	first := &recorder{failAfter: 1} // page 1 acknowledged, page 2 never
	// An hour's lease: "within the lease" below holds however slow the
	// machine; the lease is then ended by moving its end into the past.
	w1 := NewWorker(Config{PollInterval: 10 * time.Millisecond, Lease: time.Hour, PageSize: 100}, store, first, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if worked, err := w1.once(ctx); !worked || !errors.Is(err, errKafka) {
		t.Fatalf("first worker: worked %v, err %v", worked, err)
	}
	got, _ := store.Get(ctx, tenant, e.ID)
	if got.State != StateRunning || got.Erased != 200 {
		t.Fatalf("after the crash: %+v, want running with 200 counted (page 2 in flight)", got)
	}
	// Within the lease nobody else takes it.
	second := &recorder{failAfter: -1}
	w2 := testWorker(store, second)
	if worked, err := w2.once(ctx); worked || err != nil {
		t.Fatalf("claimed within the lease: %v %v", worked, err)
	}
	// The lease runs out (the dead worker's owner stays recorded).
	if _, err := pool.Exec(ctx, `UPDATE erasures SET lease_until = now() - interval '1 millisecond' WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	if worked, err := w2.once(ctx); !worked || err != nil {
		t.Fatalf("second worker: %v %v", worked, err)
	}
	got, _ = store.Get(ctx, tenant, e.ID)
	if got.State != StateDone || got.Erased != 250 || got.FinishedAt == nil {
		t.Fatalf("after the takeover: %+v, want done with 250", got)
	}
	if !slices.Equal(first.ids, ids(0, 100)) || !slices.Equal(second.ids, ids(100, 250)) {
		t.Fatalf("tombstoned: first %d ids, second %d ids (page 2 must be produced again)", len(first.ids), len(second.ids))
	}
	// The slow first worker cannot write over the new owner's result.
	if err := store.End(ctx, &Job{ID: e.ID, Owner: w1.owner}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("old owner's write: %v, want ErrLeaseLost", err)
	}
}

// Erasures are scoped: another tenant cannot read one, another topic's
// gateway does not claim it, and an unknown subject ends done with 0.
func TestErasureIsInvisibleToOtherTenantsAndUnclaimedByOtherTopics(t *testing.T) {
	store, pool, tenant := pgStore(t, 10)
	ctx := context.Background()
	e, err := store.Request(ctx, "01JDZ6B3X8Y4K1M2N3P4Q5R6S8", tenant, "nobody", "key:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "other", e.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other tenant's Get: %v", err)
	}
	if j, err := NewPGStore(pool, "another-topic").Claim(ctx, "x", time.Minute); j != nil || err != nil {
		t.Fatalf("another topic claimed it: %+v %v", j, err)
	}
	rec := &recorder{failAfter: -1}
	if worked, err := testWorker(store, rec).once(ctx); !worked || err != nil {
		t.Fatalf("worker: %v %v", worked, err)
	}
	got, _ := store.Get(ctx, tenant, e.ID)
	if got.State != StateDone || got.Erased != 0 || len(rec.ids) != 0 {
		t.Fatalf("unknown subject: %+v, %d tombstones", got, len(rec.ids))
	}
	var entries int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'erasure.request' AND target = $1
		AND details->>'subject_sha256' = $2 AND actor = 'key:test'`, e.ID, SubjectHash("nobody")).Scan(&entries); err != nil || entries != 1 {
		t.Fatalf("audit entries %d (%v)", entries, err)
	}
}

// ErasedIDs (the gateway's fallback while Redis is down) reports exactly the
// tenant's deleted rows among the ids asked.
func TestErasedIDsReportsOnlyTheTenantsDeletedRows(t *testing.T) {
	store, pool, tenant := pgStore(t, 5)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `UPDATE events SET deleted_at = now(), data = NULL WHERE tenant_id = $1 AND external_id IN ('e-0001', 'e-0003')`, tenant); err != nil {
		t.Fatal(err)
	}
	got, err := store.ErasedIDs(ctx, tenant, []string{"e-0000", "e-0001", "e-0003", "missing"})
	if err != nil || len(got) != 2 || !got["e-0001"] || !got["e-0003"] {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := store.ErasedIDs(ctx, "other", []string{"e-0001"}); err != nil || len(got) != 0 {
		t.Fatalf("other tenant: %v %v", got, err)
	}
}

// blocker is a Tombstoner that waits until its context ends (Kafka slow
// while the gateway shuts down).
type blocker struct{ started chan struct{} }

func (b *blocker) Tombstones(ctx context.Context, _ string, _ []string, _ string) error {
	close(b.started)
	<-ctx.Done()
	return ctx.Err()
}

// A gateway shutting down mid-erasure releases its lease: the next worker
// resumes the erasure at once, from the in-flight page, and counts it once.
func TestStoppedWorkerReleasesItsErasureForTheNextOneAtOnce(t *testing.T) {
	store, _, tenant := pgStore(t, 150)
	ctx := context.Background()
	e, err := store.Request(ctx, "01JDZ6B3X8Y4K1M2N3P4Q5R6S9", tenant, "s", "key:test")
	if err != nil {
		t.Fatal(err)
	}
	w1 := NewWorker(Config{PollInterval: 10 * time.Millisecond, Lease: time.Hour, PageSize: 100}, store, &blocker{started: make(chan struct{})}, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	b := w1.ts.(*blocker)
	go func() { done <- w1.Run(runCtx) }()
	select {
	case <-b.started:
	case <-time.After(time.Minute):
		t.Fatal("the worker never produced")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	rec := &recorder{failAfter: -1}
	if worked, err := testWorker(store, rec).once(ctx); !worked || err != nil {
		t.Fatalf("next worker (lease was an hour): %v %v", worked, err)
	}
	got, _ := store.Get(ctx, tenant, e.ID)
	if got.State != StateDone || got.Erased != 150 || !slices.Equal(rec.ids, ids(0, 150)) {
		t.Fatalf("%+v, %d ids tombstoned", got, len(rec.ids))
	}
}
