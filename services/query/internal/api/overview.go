package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

// OutcomeStore reads the gateways' per-tenant outcome counts (PostgreSQL).
type OutcomeStore interface {
	Outcomes(ctx context.Context, tenant string, from, to time.Time, interval string) ([]store.OutcomeBucket, error)
}

// ReadModelLag is how far one read model is behind, as a time (the age of
// the oldest event not yet written to it; nil when unknown).
type ReadModelLag struct {
	ReadModel string   `json:"read_model"`
	Seconds   *float64 `json:"seconds"`
}

// LagAnswer is the body of GET /v1/lag: the read models' lag and the
// tenant's DLQ depth as measured at AsOf (answers are cached for
// lag-cache-ttl, so AsOf may be that old).
type LagAnswer struct {
	AsOf       time.Time      `json:"as_of"`
	ReadModels []ReadModelLag `json:"read_models"`
	// DLQDepth counts the tenant's records in the DLQ not re-driven yet
	// (events no read model will show until re-driven); nil when the DLQ
	// could not be read.
	DLQDepth *int `json:"dlq_depth"`
}

// LagFunc returns the read models' lag and tenant's DLQ depth.
type LagFunc func(ctx context.Context, tenant string) (LagAnswer, error)

// OutcomesAnswer is the body of GET /v1/outcomes.
type OutcomesAnswer struct {
	From     time.Time             `json:"from"`
	To       time.Time             `json:"to"`
	Interval string                `json:"interval"`
	Buckets  []store.OutcomeBucket `json:"buckets"`
}

// overviewRoutes mounts what the console's overview needs beside /v1/stats:
// the outcomes the gateways answered, the read models' lag and the
// tenant's DLQ depth.
func (a *API) overviewRoutes(v1 gin.IRoutes) {
	v1.GET("/outcomes", a.outcomes)
	v1.GET("/lag", a.lag)
}

var outcomesKnown = []string{"from", "to", "interval"}

// parseOutcomes reads from, to (default: the last 24 hours) and interval
// (default minute) of GET /v1/outcomes.
func parseOutcomes(v url.Values, now time.Time) (store.Filter, string, *apierror.Error) {
	var f store.Filter
	if aerr := checkKnown(v, outcomesKnown, false); aerr != nil {
		return f, "", aerr
	}
	var aerr *apierror.Error
	if f.From, aerr = parseTime(v, "from"); aerr != nil {
		return f, "", aerr
	}
	if f.To, aerr = parseTime(v, "to"); aerr != nil {
		return f, "", aerr
	}
	if aerr = defaultRange(&f, now); aerr != nil {
		return f, "", aerr
	}
	interval, aerr := single(v, "interval")
	if aerr != nil {
		return f, "", aerr
	}
	if interval == "" {
		interval = "minute"
	}
	width, ok := store.IntervalMillis[interval]
	if !ok {
		return f, "", bad("interval", CodeInvalidParameter, "interval must be minute, hour or day")
	}
	if n := (f.To.UnixMilli() - f.From.UnixMilli()) / width; n > maxStatsBuckets {
		return f, "", bad("interval", CodeTooManyBuckets, "the range holds %d %s buckets; at most %d: use a longer interval or a shorter range", n, interval, maxStatsBuckets)
	}
	return f, interval, nil
}

func (a *API) outcomes(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	f, interval, aerr := parseOutcomes(c.Request.URL.Query(), a.d.Now())
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	b, err := a.d.Outcomes.Outcomes(ctx, tenant, f.From, f.To, interval)
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	if b == nil {
		b = []store.OutcomeBucket{}
	}
	c.JSON(http.StatusOK, OutcomesAnswer{From: f.From, To: f.To, Interval: interval, Buckets: b})
}

func (a *API) lag(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	lags, err := a.d.Lag(ctx, tenant)
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	c.JSON(http.StatusOK, lags)
}
