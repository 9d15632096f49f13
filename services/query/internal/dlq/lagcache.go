package dlq

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LagCache answers the read models' lag (GET /v1/admin/lag and the query
// API's GET /v1/lag share one) from the Kafka requests of at most one
// lookup per TTL (lag-cache-ttl): a lookup lists the event topic's start
// and end offsets, fetches each read model's committed offsets and, for a
// read model that is behind, reads its oldest unwritten records with a
// short-lived consumer; it also counts each tenant's records in the DLQ
// not re-driven yet (its offsets, its records if any, and PostgreSQL's
// re-drives). Every read model's lag is kept with the time it was
// looked up and answered again until TTL has passed since; then the next
// call looks them all up again (one set of requests serves every read
// model: they share the topic's offsets). Lookups run one at a time: calls
// that find the answer too old while one is running wait for it and take
// its answer, so any number of open consoles cost one lookup per TTL. A
// failed lookup is not kept (the next call tries again). TTL 0 turns the
// cache off: every call looks up, as before the cache.
type LagCache struct {
	d       *DLQ
	models  []ReadModel
	ttl     time.Duration
	now     func() time.Time
	turn    chan struct{} // held by the running lookup
	mu      sync.Mutex
	lags    LagReport
	at      time.Time // when lags were looked up (now's clock)
	lookups *prometheus.CounterVec
}

// Results of a call, the label of pulsestream_query_lag_lookups_total.
const (
	LagCached  = "cached"  // answered from the cache
	LagFetched = "fetched" // looked up in Kafka
	LagFailed  = "failed"  // the lookup failed
)

// NewLagCache returns the cache of models' lag over d; reg may be nil.
func NewLagCache(d *DLQ, models []ReadModel, ttl time.Duration, reg prometheus.Registerer) *LagCache {
	c := &LagCache{d: d, models: models, ttl: ttl, now: time.Now, turn: make(chan struct{}, 1),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_query_lag_lookups_total",
			Help: "Calls for the read models' lag (GET /v1/lag, GET /v1/admin/lag), by result: cached (answered from the last lookup, younger than lag-cache-ttl), fetched (looked up in Kafka) or failed."},
			[]string{"result"})}
	for _, r := range []string{LagCached, LagFetched, LagFailed} {
		c.lookups.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(c.lookups)
	}
	return c
}

// Lags returns every read model's lag, looked up at most TTL ago (its
// AsOf says when).
func (c *LagCache) Lags(ctx context.Context) (LagReport, error) {
	if c.ttl <= 0 {
		return c.lookUp(ctx)
	}
	if lags, ok := c.fresh(); ok {
		return lags, nil
	}
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return LagReport{}, ctx.Err()
	}
	defer func() { <-c.turn }()
	if lags, ok := c.fresh(); ok { // looked up while this call waited
		return lags, nil
	}
	lags, err := c.lookUp(ctx)
	if err != nil {
		return LagReport{}, err
	}
	c.mu.Lock()
	c.lags, c.at = lags, c.now()
	c.mu.Unlock()
	return clone(lags), nil
}

// fresh returns the kept lags when they are younger than TTL.
func (c *LagCache) fresh() (LagReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lags.AsOf.IsZero() || c.now().Sub(c.at) >= c.ttl { // AsOf: never looked up
		return LagReport{}, false
	}
	c.lookups.WithLabelValues(LagCached).Inc()
	return clone(c.lags), true
}

// clone copies r's read models, so that a caller cannot change the cache.
func clone(r LagReport) LagReport {
	r.ReadModels = slices.Clone(r.ReadModels)
	return r
}

// lookUp asks Kafka for the lag, and the DLQ (Kafka and PostgreSQL) for
// its depth per tenant; a DLQ that cannot be read leaves the depths out.
func (c *LagCache) lookUp(ctx context.Context) (LagReport, error) {
	lags, err := c.d.Lags(ctx, c.models)
	if err != nil {
		c.lookups.WithLabelValues(LagFailed).Inc()
		return LagReport{}, err
	}
	if depths, err := c.d.Depths(ctx); err == nil {
		lags.DLQDepths = depths
	}
	c.lookups.WithLabelValues(LagFetched).Inc()
	return lags, nil
}
