package pgnotify

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder passes what the listener delivers to the test.
type recorder struct {
	notes   chan string
	resyncs chan struct{}
}

func (r *recorder) Notify(_ context.Context, p string) { r.notes <- p }
func (r *recorder) Resync(context.Context)             { r.resyncs <- struct{}{} }

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute): // a loaded machine, not a slow listener: the test is about what arrives
		t.Fatalf("no %s within a minute", what)
		panic("unreachable")
	}
}

// TestDeliversNotificationsAndResyncs: a resync when listening starts, each
// payload NOTIFYed by another connection, and a resync after a lost
// connection (terminated by the server), after which notifications flow again.
func TestDeliversNotificationsAndResyncs(t *testing.T) {
	url := testenv.PostgresURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rec := &recorder{notes: make(chan string, 16), resyncs: make(chan struct{}, 16)}
	l := New(pool, "pgnotify_test", rec, Config{PollInterval: time.Hour, RetryInterval: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()

	receive(t, rec.resyncs, "resync at start")
	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), "SELECT pg_notify('pgnotify_test', $1)", payload); err != nil {
			t.Fatal(err)
		}
	}
	notify("tenant-a")
	notify("tenant-b")
	for _, want := range []string{"tenant-a", "tenant-b"} {
		if got := receive(t, rec.notes, "notification"); got != want {
			t.Fatalf("payload %q, want %q", got, want)
		}
	}
	// The server ends the listening session: the listener resyncs (it may
	// have missed notifications) and listens again.
	if _, err := pool.Exec(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN \"pgnotify_test\"%' AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	receive(t, rec.resyncs, "resync after the connection was lost")
	receive(t, rec.resyncs, "resync on reconnection")
	notify("tenant-c")
	if got := receive(t, rec.notes, "notification after reconnection"); got != "tenant-c" {
		t.Fatalf("payload %q, want tenant-c", got)
	}
}

// TestPollsWithoutNotifications: with no notification at all, Resync runs
// every poll interval (the fallback when NOTIFY is lost).
func TestPollsWithoutNotifications(t *testing.T) {
	url := testenv.PostgresURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rec := &recorder{notes: make(chan string, 16), resyncs: make(chan struct{}, 16)}
	l := New(pool, "pgnotify_poll_test", rec, Config{PollInterval: 20 * time.Millisecond, RetryInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for range 4 { // the first at start, then polls
		receive(t, rec.resyncs, "resync")
	}
	cancel()
	for {
		select {
		case <-rec.resyncs: // drain so the listener is never blocked
		case <-done:
			return
		}
	}
}
