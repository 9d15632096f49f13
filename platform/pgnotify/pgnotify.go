// Package pgnotify tells a process's caches that PostgreSQL data they hold
// changed: it LISTENs on one channel over a dedicated connection and hands
// each NOTIFY payload to a Handler, within milliseconds of the writer's
// commit, on every replica at once.
//
// Notifications are not durable: one sent while the connection is down is
// lost. So the Handler is also asked to resync everything (Resync) each time
// the connection is (re)established and every PollInterval (the polling
// fallback), and while PostgreSQL cannot be reached the listener retries
// every RetryInterval. A cache built on it is thus at most PollInterval stale
// when notifications fail, and fresh within one round trip when they work.
//
// It uses pgx/v5's own LISTEN support (Conn.WaitForNotification) on a
// connection hijacked from the service's pool, so it shares the pool's
// settings (TLS, credentials) and takes no pooled connection away for long.
// The same listener serves any cache keyed by a payload (event schemas by
// tenant, revoked API keys by prefix).
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Handler reacts to changes.
type Handler interface {
	// Notify is called with the payload of each notification, in order.
	Notify(ctx context.Context, payload string)
	// Resync is called when notifications may have been missed: on every
	// (re)connection and every poll interval. It should reload everything.
	Resync(ctx context.Context)
}

// Config tunes a Listener.
type Config struct {
	PollInterval  time.Duration // Resync this often even when notifications work
	RetryInterval time.Duration // wait between connection attempts
}

// Validate names a bad setting.
func (c Config) Validate() error {
	if c.PollInterval <= 0 {
		return fmt.Errorf("poll interval must be positive, got %s", c.PollInterval)
	}
	if c.RetryInterval <= 0 {
		return fmt.Errorf("retry interval must be positive, got %s", c.RetryInterval)
	}
	return nil
}

// Listener delivers one channel's notifications to a Handler.
type Listener struct {
	pool    *pgxpool.Pool
	channel string
	h       Handler
	cfg     Config
	logger  *slog.Logger
}

// New returns a listener on channel (a plain SQL identifier) over pool.
func New(pool *pgxpool.Pool, channel string, h Handler, cfg Config, logger *slog.Logger) *Listener {
	return &Listener{pool: pool, channel: channel, h: h, cfg: cfg, logger: logger}
}

// Run listens until ctx ends, reconnecting after failures.
func (l *Listener) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := l.session(ctx)
		if ctx.Err() != nil {
			break
		}
		l.logger.Warn("change notifications interrupted; polling until reconnected", "channel", l.channel, "err", err)
		l.h.Resync(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(l.cfg.RetryInterval):
		}
	}
	return nil
}

// session is one connection's life: LISTEN, resync, then deliver
// notifications (resyncing every poll interval) until an error.
func (l *Listener) session(ctx context.Context) error {
	pc, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // ours alone: a LISTENing connection must not go back to the pool
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Close(cctx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", l.channel, err)
	}
	l.h.Resync(ctx) // whatever changed before LISTEN took effect
	next := time.Now().Add(l.cfg.PollInterval)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.h.Notify(ctx, n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// pgx closes the connection when a wait is cancelled; start over.
			if conn.IsClosed() {
				return nil
			}
			l.h.Resync(ctx)
			next = time.Now().Add(l.cfg.PollInterval)
		default:
			return err
		}
	}
}
