// Package api is the query service's HTTP API (gin, mandated): one event by
// id, search with keyset cursors, statistics, meters and ingestion status, all scoped
// to the tenant of the caller's API key (tenancy middleware, query
// scope). Parameters are checked before any store is asked; a bad one is a
// 400 naming it (platform/apierror). Every store call runs under the query
// timeout: a slow query is cancelled through its context and answered 503
// with Retry-After.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/query/internal/cursor"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Codes of the non-parameter errors.
const (
	CodeNotFound     = "not_found"
	CodeQueryTimeout = "query_timeout"
	CodeUnavailable  = "store_unavailable"
)

// EventStore is the PostgreSQL side.
type EventStore interface {
	Get(ctx context.Context, tenant, externalID string) (store.Event, error)
	Search(ctx context.Context, tenant string, q store.SearchQuery) ([]store.Event, error)
	Stored(ctx context.Context, tenant, externalID string) (store.Stored, error)
}

// StatsStore is the ClickHouse side.
type StatsStore interface {
	Stats(ctx context.Context, tenant string, q store.StatsQuery) (store.Stats, error)
	Projected(ctx context.Context, tenant, externalID string) (store.Projected, error)
}

// MarkerStore reads the gateway's accepted markers.
type MarkerStore interface {
	Accepted(ctx context.Context, tenant, externalID string) (markers.Marker, error)
}

// Deps are the API's collaborators.
type Deps struct {
	Events  EventStore
	Stats   StatsStore
	Markers MarkerStore
	// MeterDefs and Meters serve /v1/meters (meters.go).
	MeterDefs MeterDefinitions
	Meters    MeterStore
	// Outcomes and Lag serve /v1/outcomes and /v1/lag (overview.go).
	Outcomes OutcomeStore
	Lag      LagFunc
	Cursors  *cursor.Codec
	Auth     tenancy.Authenticator
	// Ops serves /livez, /readyz and /metrics on the same listener (optional).
	Ops          http.Handler
	QueryTimeout time.Duration
	Logger       *slog.Logger
	Metrics      *httpapi.Metrics // the process's HTTP metrics (shared with the admin API)
	Now          func() time.Time // defaults to time.Now
	Trace        gin.HandlerFunc  // continues callers' traces (tracing.Tracing.Middleware); nil: off
}

// API holds the handlers.
type API struct {
	d Deps
}

// New returns the API over d.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &API{d: d}
}

// Handler returns the router: the tenant API under /v1 and, when Deps.Ops is
// set, /livez, /readyz and /metrics.
func (a *API) Handler() http.Handler { return a.router() }

func (a *API) router() *gin.Engine {
	r := httpapi.New(httpapi.Options{Logger: a.d.Logger, Metrics: a.d.Metrics, Ops: a.d.Ops, Secret: tenancy.ContainsKey, Trace: a.d.Trace})
	// Match on the escaped path so an id holding "/" (as %2F) is one segment.
	r.UseRawPath = true
	r.UnescapePathValues = true
	v1 := r.Group("/v1", tenancy.Middleware(a.d.Auth, tenancy.ScopeQuery))
	v1.GET("/events", a.search)
	v1.GET("/events/:id", a.get)
	v1.GET("/events/:id/status", a.status)
	v1.GET("/stats", a.stats)
	a.meterRoutes(v1)
	a.overviewRoutes(v1)
	return r
}

func tenantOf(c *gin.Context) (string, bool) {
	p, ok := tenancy.PrincipalFrom(c)
	if !ok || p.Tenant.ID == "" {
		httpapi.Unauthenticated(c)
		return "", false
	}
	return p.Tenant.ID, true
}

// queryCtx bounds one request's store calls by the query timeout.
func (a *API) queryCtx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), a.d.QueryTimeout)
}

// fail answers a store error: 503 with Retry-After for timeouts and
// unavailable stores (the request may succeed later), never a 5xx that
// blames the client's input.
func (a *API) fail(ctx context.Context, c *gin.Context, err error) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		a.d.Logger.Warn("query timed out", "route", c.FullPath(), "timeout", a.d.QueryTimeout)
		c.Header("Retry-After", "1")
		apierror.Abort(c, apierror.New(http.StatusServiceUnavailable, CodeQueryTimeout, "the query took longer than "+a.d.QueryTimeout.String()+" and was cancelled; narrow it or retry"))
		return
	}
	if errors.Is(err, context.Canceled) {
		c.Abort() // the client went away
		return
	}
	a.d.Logger.Error("query failed", "route", c.FullPath(), "err", err)
	c.Header("Retry-After", "1")
	apierror.Abort(c, apierror.New(http.StatusServiceUnavailable, CodeUnavailable, "a read model did not answer; retry"))
}

// notFound is the one answer for a missing, deleted or other tenant's event.
func notFound(c *gin.Context) {
	apierror.Abort(c, apierror.New(http.StatusNotFound, CodeNotFound, "no such event"))
}

// possibleID reports whether id could be an event id (event.schema.json:
// 1 to 256 characters, no control characters); others cannot exist.
func possibleID(id string) bool {
	if id == "" || len(id) > 256*utf8.UTFMax || !utf8.ValidString(id) || utf8.RuneCountInString(id) > 256 {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func (a *API) get(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	id := c.Param("id")
	if !possibleID(id) {
		notFound(c)
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	e, err := a.d.Events.Get(ctx, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(c)
		return
	}
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

// SearchPage is the answer of GET /v1/events.
type SearchPage struct {
	Events     []store.Event `json:"events"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (a *API) search(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	p, aerr := parseSearch(c.Request.URL.Query())
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	digest := p.digest(tenant)
	if p.cursor != "" {
		pos, err := a.d.Cursors.Decode(digest, p.cursor)
		switch {
		case errors.Is(err, cursor.ErrOtherQuery):
			apierror.Abort(c, bad("cursor", CodeCursorMismatch, "the cursor belongs to another query; repeat the same filters and order, or start without a cursor"))
			return
		case err != nil:
			apierror.Abort(c, bad("cursor", CodeInvalidCursor, "cursor is not one this API returned in next_cursor"))
			return
		}
		p.query.After = &pos
	}
	want := p.query.Limit
	p.query.Limit = want + 1 // one more tells whether there is a next page
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	events, err := a.d.Events.Search(ctx, tenant, p.query)
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	page := SearchPage{Events: events}
	if len(events) > want {
		page.Events = events[:want]
		page.NextCursor = a.d.Cursors.Encode(digest, page.Events[want-1].Position())
	}
	c.JSON(http.StatusOK, page)
}

// StatsAnswer is the answer of GET /v1/stats.
type StatsAnswer struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Interval string    `json:"interval"`
	GroupBy  string    `json:"group_by"`
	store.Stats
}

func (a *API) stats(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	q, aerr := parseStats(c.Request.URL.Query(), a.d.Now())
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	s, err := a.d.Stats.Stats(ctx, tenant, q)
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	c.JSON(http.StatusOK, StatsAnswer{From: q.From, To: q.To, Interval: q.Interval, GroupBy: q.GroupBy, Stats: s})
}

// Step is one stage an event reached, with where it is.
type Step struct {
	At        time.Time `json:"at"`
	Partition *int32    `json:"partition,omitempty"`
	Offset    *int64    `json:"offset,omitempty"`
	IngestID  string    `json:"ingest_id,omitempty"`
}

// Status is the answer of GET /v1/events/{id}/status. State is the furthest
// stage reached: accepted, stored, projected or deleted.
type Status struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Accepted  *Step  `json:"accepted"`
	Stored    *Step  `json:"stored"`
	Projected *Step  `json:"projected"`
	Deleted   *Step  `json:"deleted"`
}

func (a *API) status(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	id := c.Param("id")
	if !possibleID(id) {
		notFound(c)
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	st := Status{ID: id}
	var erasedAt *time.Time // an erasure marker: Kafka acknowledged the tombstone then
	if a.d.Markers != nil {
		m, err := a.d.Markers.Accepted(ctx, tenant, id)
		switch {
		case err == nil && m.ContentHash == markers.Erased:
			erasedAt = &m.AcceptedAt
		case err == nil:
			st.Accepted = &Step{At: m.AcceptedAt, Partition: &m.Partition, Offset: &m.Offset, IngestID: m.IngestID}
			st.State = "accepted"
		case !errors.Is(err, store.ErrNotFound):
			a.fail(ctx, c, err)
			return
		}
	}
	s, err := a.d.Events.Stored(ctx, tenant, id)
	switch {
	case err == nil:
		st.Stored = &Step{At: s.StoredAt, Partition: &s.Partition, Offset: &s.Offset}
		st.State = "stored"
	case !errors.Is(err, store.ErrNotFound):
		a.fail(ctx, c, err)
		return
	}
	p, err := a.d.Stats.Projected(ctx, tenant, id)
	switch {
	case err == nil:
		st.Projected = &Step{At: p.ProjectedAt, Partition: &p.Partition, Offset: &p.Offset}
		st.State = "projected"
	case !errors.Is(err, store.ErrNotFound):
		a.fail(ctx, c, err)
		return
	}
	switch {
	case s.DeletedAt != nil:
		st.Deleted = &Step{At: *s.DeletedAt}
	case p.Deleted:
		st.Deleted = &Step{At: p.ProjectedAt}
	case erasedAt != nil:
		st.Deleted = &Step{At: *erasedAt}
	}
	if st.Deleted != nil {
		st.State = "deleted"
		if p.Deleted {
			// The ClickHouse row is the tombstone: the event itself is no
			// longer projected.
			st.Projected = nil
		}
	}
	if st.State == "" {
		notFound(c)
		return
	}
	c.JSON(http.StatusOK, st)
}
