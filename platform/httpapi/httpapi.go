// Package httpapi builds the gin engine every PulseStream HTTP API is served
// by (gateway ingest, query read API, tenancy admin API): a request id on
// every request and response, request metrics by route, panic recovery, the
// apierror answer for unknown routes (404) and methods (405), and optionally
// /livez, /readyz and /metrics. It also holds the error answers more than one
// API gives, so each is written once.
package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-Id"

// ContextRequestID is the gin context key holding the request id
// (c.GetString(ContextRequestID)); log it with every line about the request.
const ContextRequestID = "request_id"

// Options is what an engine is built from.
type Options struct {
	Logger  *slog.Logger
	Metrics *Metrics
	// Ops, when set, serves GET /livez, /readyz and /metrics.
	Ops http.Handler
	// Secret reports request ids that must be replaced rather than echoed
	// and logged (tenancy.ContainsKey: nothing shaped like an API key).
	Secret func(string) bool
	// Trace, when set, continues the caller's trace in a span per request
	// (tracing.Tracing.Middleware; nil when tracing is off).
	Trace gin.HandlerFunc
}

// New returns an engine with the shared middleware (request id, metrics,
// recovery, in this order) and the 404/405 answers; callers add their routes.
func New(o Options) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(requestID(o.Secret), o.Metrics.middleware, recovery(o.Logger))
	if o.Trace != nil {
		r.Use(o.Trace)
	}
	if o.Ops != nil {
		ops := gin.WrapH(o.Ops)
		for _, p := range []string{"/livez", "/readyz", "/metrics"} {
			r.GET(p, ops)
		}
	}
	r.NoRoute(func(c *gin.Context) {
		apierror.Abort(c, apierror.New(http.StatusNotFound, "not_found", "no such endpoint"))
	})
	r.NoMethod(func(c *gin.Context) {
		apierror.Abort(c, apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint"))
	})
	return r
}

// Unauthenticated answers 401 for a request that reached a handler without
// an authenticated principal (the authentication middleware is missing from
// its route: a wiring error, never a client's).
func Unauthenticated(c *gin.Context) {
	apierror.Abort(c, apierror.New(http.StatusUnauthorized, "unauthenticated", "no authenticated principal"))
}

// Internal answers 500 without details (log them before).
func Internal(c *gin.Context) {
	apierror.Abort(c, apierror.New(http.StatusInternalServerError, "internal", "internal error"))
}

// requestID keeps the client's X-Request-Id when it is a sane token (1 to 128
// visible ASCII characters: nothing that could split a header or a log line)
// that secret does not flag, and otherwise makes one (a ULID). Every response
// carries it.
func requestID(secret func(string) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(HeaderRequestID)
		if !saneRequestID(id) || (secret != nil && secret(id)) {
			id = ulid.Make().String()
		}
		c.Set(ContextRequestID, id)
		c.Header(HeaderRequestID, id)
		c.Next()
	}
}

func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func recovery(logger *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		logger.Error("panic in handler", "err", err, "path", c.FullPath(), ContextRequestID, c.GetString(ContextRequestID))
		Internal(c)
	})
}

// Metrics counts a service's HTTP requests by route and status. One per
// process: every engine of the process (query's public and admin APIs)
// shares it.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers pulsestream_<service>_http_requests_total and
// pulsestream_<service>_http_request_duration_seconds on reg.
func NewMetrics(reg prometheus.Registerer, service string) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_" + service + "_http_requests_total",
			Help: "HTTP requests by route (the route pattern, or unmatched), method and status.",
		}, []string{"route", "method", "status"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulsestream_" + service + "_http_request_duration_seconds",
			Help:    "HTTP request duration by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"route"}),
	}
}

func (m *Metrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
	m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}
