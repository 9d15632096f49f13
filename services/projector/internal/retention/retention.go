// Package retention removes events older than their tenant's retention_days
// from both read models and keeps a replay from bringing them back
// (docs/operations.md, "Tenant policies").
//
// Retention is by event time (the skew-corrected time the gateway stored,
// which it refuses beyond retention with event_too_old), cut at whole
// minutes so ClickHouse's per-minute rollup and its events drop together:
// a tenant's cutoff is now − retention_days, truncated to the minute.
//
//   - The Sweeper runs every retention-interval in each projector process:
//     PostgreSQL rows of live events before the cutoff are deleted in
//     bounded batches (retention-batch rows per statement, each its own
//     short transaction: row locks only, no table lock); ClickHouse gets one
//     lightweight DELETE per tenant for its events and its rollup minutes
//     before the cutoff (skipped when nothing is due). Erased rows (deleted_at
//     set, or ClickHouse is_deleted) stay: they are the erasure's record.
//     Sweeps are idempotent, so every projector replica may run one.
//   - The Filter wraps each sink: an event already past its tenant's cutoff
//     when the projector reaches it (a replay, or a long lag) is not written.
//
// After its row is gone an id is forgotten: the same id with a time inside
// retention is accepted again once the gateway's marker (marker-ttl) has
// expired too.
package retention

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// Config is the retention-* settings.
type Config struct {
	Interval time.Duration
	Batch    int
}

// RegisterFlags defines retention-interval and retention-batch.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Interval, "retention-interval", time.Minute,
		"how often expired events (older than their tenant's retention_days) are deleted from the read models; 0 turns retention off")
	fs.IntVar(&c.Batch, "retention-batch", 5000, "most PostgreSQL rows one retention DELETE removes (each batch is its own short transaction)")
}

// Validate names a bad retention setting.
func (c *Config) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("retention-interval: must not be negative, got %s", c.Interval)
	}
	if c.Batch < 1 {
		return fmt.Errorf("retention-batch: must be at least 1, got %d", c.Batch)
	}
	return nil
}

// Policy is every tenant's retention, read from PostgreSQL.
type Policy struct {
	pool    *pgxpool.Pool
	mu      sync.RWMutex
	days    map[string]int
	skipped *prometheus.CounterVec // by sink, for the Filters
}

// NewPolicy reads tenants' retention_days through pool (Load); its
// Filters' metrics are registered on reg.
func NewPolicy(pool *pgxpool.Pool, reg prometheus.Registerer) *Policy {
	return &Policy{pool: pool, skipped: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Name: "pulsestream_retention_expired_skipped_total",
		Help: "Events not written to a read model because they were past their tenant's retention when the projector reached them (replays, long lags).",
	}, []string{"sink"})}
}

// Load rereads every tenant's retention.
func (p *Policy) Load(ctx context.Context) error {
	rows, err := p.pool.Query(ctx, `SELECT id, retention_days FROM tenants`)
	if err != nil {
		return fmt.Errorf("read tenants' retention: %w", err)
	}
	defer rows.Close()
	days := map[string]int{}
	for rows.Next() {
		var id string
		var d int
		if err := rows.Scan(&id, &d); err != nil {
			return fmt.Errorf("read tenants' retention: %w", err)
		}
		days[id] = d
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read tenants' retention: %w", err)
	}
	p.mu.Lock()
	p.days = days
	p.mu.Unlock()
	return nil
}

// Cutoff is the tenant's cutoff at now (false: retention unknown).
func (p *Policy) Cutoff(tenant string, now time.Time) (time.Time, bool) {
	p.mu.RLock()
	d, ok := p.days[tenant]
	p.mu.RUnlock()
	if !ok || d <= 0 {
		return time.Time{}, false
	}
	return now.UTC().AddDate(0, 0, -d).Truncate(time.Minute), true
}

// cutoffs is every tenant's cutoff at now.
func (p *Policy) cutoffs(now time.Time) map[string]time.Time {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]time.Time, len(p.days))
	for id, d := range p.days {
		if d > 0 {
			out[id] = now.UTC().AddDate(0, 0, -d).Truncate(time.Minute)
		}
	}
	return out
}

// expired reports whether it is an event past its tenant's cutoff at now.
func (p *Policy) expired(it *record.Item, now time.Time) bool {
	if it.Kind != record.KindEvent || it.Event == nil {
		return false
	}
	cut, ok := p.Cutoff(it.TenantID, now)
	return ok && it.Event.Time.Before(cut)
}

// Filter is a sink that does not write expired events.
type Filter struct {
	consumer.Sink
	policy  *Policy
	skipped prometheus.Counter
	now     func() time.Time
}

// NewFilter wraps sink.
func NewFilter(sink consumer.Sink, p *Policy) *Filter {
	return &Filter{Sink: sink, policy: p, skipped: p.skipped.WithLabelValues(sink.Name()), now: time.Now}
}

// Write implements consumer.Sink: expired events count as duplicates (they
// change nothing). items is shared with the other sinks: never changed.
func (f *Filter) Write(ctx context.Context, items []record.Item) (consumer.Stats, error) {
	now := f.now()
	var keep []record.Item
	dropped := 0
	for i := range items {
		if !f.policy.expired(&items[i], now) {
			if keep != nil {
				keep = append(keep, items[i])
			}
			continue
		}
		if keep == nil {
			keep = append(make([]record.Item, 0, len(items)-1), items[:i]...)
		}
		dropped++
	}
	if keep == nil {
		keep = items
	}
	st, err := f.Sink.Write(ctx, keep)
	if err == nil && dropped > 0 {
		f.skipped.Add(float64(dropped))
		st.Duplicates += dropped
	}
	return st, err
}

// Reassigned implements consumer.Reassignable for the sink it wraps.
func (f *Filter) Reassigned() {
	if r, ok := f.Sink.(consumer.Reassignable); ok {
		r.Reassigned()
	}
}

// Sweeper deletes expired events from the read models it is given (a nil
// store is not swept).
type Sweeper struct {
	cfg     Config
	policy  *Policy
	pg      *pgxpool.Pool
	ch      driver.Conn
	logger  *slog.Logger
	deleted *prometheus.CounterVec
	last    prometheus.Gauge
	now     func() time.Time
}

// NewSweeper returns a sweeper of pg and ch (either may be nil).
func NewSweeper(cfg Config, p *Policy, pg *pgxpool.Pool, ch driver.Conn, logger *slog.Logger, reg prometheus.Registerer) *Sweeper {
	return &Sweeper{cfg: cfg, policy: p, pg: pg, ch: ch, logger: logger, now: time.Now,
		deleted: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_retention_deleted_total",
			Help: "Expired events deleted by retention, by store (ClickHouse: events, not rollup rows).",
		}, []string{"store"}),
		last: promauto.With(reg).NewGauge(prometheus.GaugeOpts{
			Name: "pulsestream_retention_last_sweep_timestamp_seconds",
			Help: "When the last retention sweep completed without error (Unix time).",
		}),
	}
}

// Run sweeps every interval until ctx ends (a failed sweep is logged and
// tried again next time); it returns ctx's error.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("retention sweep failed; retrying next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sweep rereads the policy and deletes what is expired now.
func (s *Sweeper) Sweep(ctx context.Context) error {
	if err := s.policy.Load(ctx); err != nil {
		return err
	}
	var errs []error
	for tenant, cut := range s.policy.cutoffs(s.now()) {
		if s.pg != nil {
			errs = append(errs, s.sweepPostgres(ctx, tenant, cut))
		}
		if s.ch != nil {
			errs = append(errs, s.sweepClickHouse(ctx, tenant, cut))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.last.SetToCurrentTime()
	return nil
}

// sweepPostgres deletes the tenant's live events before cut, batch by batch
// (the events_tenant_time index finds them).
func (s *Sweeper) sweepPostgres(ctx context.Context, tenant string, cut time.Time) error {
	for {
		tag, err := s.pg.Exec(ctx, `DELETE FROM events WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM events WHERE tenant_id = $1 AND deleted_at IS NULL AND event_time < $2 LIMIT $3))`, tenant, cut, s.cfg.Batch)
		if err != nil {
			return fmt.Errorf("retention of %s in PostgreSQL: %w", tenant, err)
		}
		n := tag.RowsAffected()
		s.deleted.WithLabelValues("postgres").Add(float64(n))
		if n < int64(s.cfg.Batch) {
			return nil
		}
	}
}

// sweepClickHouse deletes the tenant's live events, rollup minutes and
// extracted meter values (migration clickhouse/00060) before cut
// (lightweight DELETE: the rows vanish from every query at once,
// from disk at the next merge), asking first whether anything is due.
func (s *Sweeper) sweepClickHouse(ctx context.Context, tenant string, cut time.Time) error {
	for _, q := range []struct{ table, where string }{
		{"events", "tenant_id = ? AND event_time < ? AND is_deleted = 0"},
		{"events_per_minute", "tenant_id = ? AND minute < ?"},
		{"meter_values", "tenant_id = ? AND event_time < ? AND sign != -1"},
		{"meter_minutes", "tenant_id = ? AND minute < ?"},
	} {
		var due uint64
		if err := s.ch.QueryRow(ctx, "SELECT count() FROM "+q.table+" WHERE "+q.where, tenant, cut).Scan(&due); err != nil {
			return fmt.Errorf("retention of %s in ClickHouse %s: %w", tenant, q.table, err)
		}
		if due == 0 {
			continue
		}
		if err := s.ch.Exec(ctx, "DELETE FROM "+q.table+" WHERE "+q.where, tenant, cut); err != nil {
			return fmt.Errorf("retention of %s in ClickHouse %s: %w", tenant, q.table, err)
		}
		if q.table == "events" {
			s.deleted.WithLabelValues("clickhouse").Add(float64(due))
		}
	}
	return nil
}
