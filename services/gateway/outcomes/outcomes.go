// Package outcomes counts, per tenant and per minute, what the gateway
// answered for the events it was sent (accepted, duplicate, rejected,
// rate_limited) and the requests it refused whole (request_refused), for the
// console's overview. Rejected and rate-limited events never reach Kafka, so
// only the gateway can count them.
//
// The count stays off the request's hot path: a request adds to an
// in-memory map under one mutex (no Redis or database trip), and Run adds
// the map's counts to PostgreSQL (table ingest_outcomes, migration
// postgres/00070) every flush interval, in one statement for all tenants.
// Several gateways add to the same rows.
//
// Loss bound: a gateway that crashes loses the counts since its last flush
// (at most one flush interval, default 5 s); a clean stop flushes what is
// left (Flush from the app's close). A failed flush keeps its counts for the
// next one; a flush whose commit succeeded but whose answer was lost counts
// its rows twice (rare; the counts are for charts, not billing).
package outcomes

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The outcomes recorded besides the event statuses of the ingest API.
const (
	RateLimited    = "rate_limited"    // events of a request refused with 429 by the rate limit
	RequestRefused = "request_refused" // requests refused whole (unit: requests, not events)
)

// Retention is how long the rows are kept: the console shows the last day.
const Retention = 48 * time.Hour

// Config is the flush pacing.
type Config struct {
	FlushInterval time.Duration
}

// RegisterFlags defines outcomes-flush-interval.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.FlushInterval, "outcomes-flush-interval", 5*time.Second,
		"how often the gateway adds its per-tenant outcome counts (accepted, duplicate, rejected, rate-limited events per minute) to PostgreSQL for the console; a crash loses at most this long of counts")
}

// Validate names a bad interval.
func (c *Config) Validate() error {
	if c.FlushInterval < 100*time.Millisecond || c.FlushInterval > 5*time.Minute {
		return fmt.Errorf("outcomes-flush-interval: must be within 100ms..5m, got %s", c.FlushInterval)
	}
	return nil
}

type key struct {
	tenant  string
	minute  int64 // Unix seconds / 60
	outcome string
}

// Row is one count to add.
type Row struct {
	Tenant  string
	Minute  time.Time
	Outcome string
	Events  int64
}

// Store keeps the counts.
type Store interface {
	Add(ctx context.Context, rows []Row) error
	Prune(ctx context.Context, before time.Time) error
}

// Counter counts outcomes in memory and flushes them to a Store. A nil
// *Counter counts nothing (no PostgreSQL in this process).
type Counter struct {
	cfg       Config
	store     Store
	log       *slog.Logger
	now       func() time.Time
	mu        sync.Mutex
	counts    map[key]int64
	flushMu   sync.Mutex // one flush at a time
	lastPrune time.Time
}

// New returns a counter flushing to store.
func New(cfg Config, store Store, log *slog.Logger) *Counter {
	return &Counter{cfg: cfg, store: store, log: log, now: time.Now, counts: map[key]int64{}}
}

// Add counts n events (or requests) of tenant with outcome, now.
func (c *Counter) Add(tenant, outcome string, n int) {
	if c == nil || n <= 0 {
		return
	}
	k := key{tenant, c.now().Unix() / 60, outcome}
	c.mu.Lock()
	c.counts[k] += int64(n)
	c.mu.Unlock()
}

// Run flushes every interval until ctx ends (the last flush is Flush's, from
// the app's close, after the server drained).
func (c *Counter) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := c.Flush(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("outcome counts not flushed; kept for the next flush", "err", err)
			}
		}
	}
}

// Flush adds the counts so far to the store; on failure they are kept for
// the next flush (those older than Retention are dropped).
func (c *Counter) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	taken := c.counts
	c.counts = make(map[key]int64, len(taken))
	c.mu.Unlock()
	if len(taken) > 0 {
		if err := c.store.Add(ctx, rows(taken)); err != nil {
			c.keep(taken)
			return err
		}
	}
	if now := c.now(); now.Sub(c.lastPrune) >= time.Hour {
		if err := c.store.Prune(ctx, now.Add(-Retention)); err != nil {
			return err
		}
		c.lastPrune = now
	}
	return nil
}

func rows(m map[key]int64) []Row {
	out := make([]Row, 0, len(m))
	for k, n := range m {
		out = append(out, Row{Tenant: k.tenant, Minute: time.Unix(k.minute*60, 0).UTC(), Outcome: k.outcome, Events: n})
	}
	return out
}

// keep puts back counts a flush could not store, but none past Retention,
// so a long outage of PostgreSQL cannot grow the map without bound.
func (c *Counter) keep(m map[key]int64) {
	oldest := c.now().Add(-Retention).Unix() / 60
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range m {
		if k.minute >= oldest {
			c.counts[k] += n
		}
	}
}

// PGStore keeps the counts in ingest_outcomes.
type PGStore struct{ db *pgxpool.Pool }

// NewPGStore returns a store over db.
func NewPGStore(db *pgxpool.Pool) *PGStore { return &PGStore{db: db} }

// Add adds rows to the table in one statement (each key once in rows).
func (s *PGStore) Add(ctx context.Context, rs []Row) error {
	tenants, minutes, outcomes, events := make([]string, len(rs)), make([]time.Time, len(rs)), make([]string, len(rs)), make([]int64, len(rs))
	for i, r := range rs {
		tenants[i], minutes[i], outcomes[i], events[i] = r.Tenant, r.Minute, r.Outcome, r.Events
	}
	_, err := s.db.Exec(ctx, `INSERT INTO ingest_outcomes (tenant_id, minute, outcome, events)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[])
		ON CONFLICT (tenant_id, minute, outcome) DO UPDATE SET events = ingest_outcomes.events + excluded.events`,
		tenants, minutes, outcomes, events)
	if err != nil {
		return fmt.Errorf("add outcome counts: %w", err)
	}
	return nil
}

// Prune deletes the rows of minutes before before.
func (s *PGStore) Prune(ctx context.Context, before time.Time) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM ingest_outcomes WHERE minute < $1`, before); err != nil {
		return errors.Join(errors.New("prune outcome counts"), err)
	}
	return nil
}
