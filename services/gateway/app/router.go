package app

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
	"github.com/pulsestream/pulsestream/platform/tenancy"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
)

// RouterDeps is what the router is built from.
type RouterDeps struct {
	Ingest  *ingest.Handler
	Erasure *erasure.Handler
	Auth    gin.HandlerFunc // tenancy.Middleware(auth, tenancy.ScopeIngest)
	Ops     http.Handler    // /livez /readyz /metrics
	Metrics *HTTPMetrics
	Logger  *slog.Logger
}

// NewRouter returns the gateway's gin engine.
func NewRouter(d RouterDeps) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(requestID, d.Metrics.middleware, recovery(d.Logger))
	ops := gin.WrapH(d.Ops)
	r.GET("/livez", ops)
	r.GET("/readyz", ops)
	r.GET("/metrics", ops)
	api := r.Group("/", d.Auth)
	d.Ingest.Register(api)
	d.Erasure.Register(api)
	r.NoRoute(func(c *gin.Context) {
		apierror.Abort(c, apierror.New(http.StatusNotFound, "not_found", "no such endpoint"))
	})
	r.NoMethod(func(c *gin.Context) {
		apierror.Abort(c, apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint"))
	})
	return r
}

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-Id"

// requestID keeps the client's X-Request-Id when it is a sane token (1 to 128
// visible ASCII characters: nothing that could split a header or a log line)
// holding nothing shaped like an API key (request ids are logged), and
// otherwise makes one (a ULID). Every response carries it.
func requestID(c *gin.Context) {
	id := c.GetHeader(HeaderRequestID)
	if !saneRequestID(id) || tenancy.ContainsKey(id) {
		id = ulid.Make().String()
	}
	c.Set("request_id", id)
	c.Header(HeaderRequestID, id)
	c.Next()
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
		logger.Error("panic in handler", "err", err, "path", c.FullPath(), "request_id", c.GetString("request_id"))
		apierror.Abort(c, apierror.New(http.StatusInternalServerError, "internal", "internal error"))
	})
}

// HTTPMetrics counts requests by route and status.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics registers the HTTP metrics on reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	f := promauto.With(reg)
	return &HTTPMetrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_gateway_http_requests_total",
			Help: "HTTP requests by route (the route pattern, or unmatched), method and status.",
		}, []string{"route", "method", "status"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulsestream_gateway_http_request_duration_seconds",
			Help:    "HTTP request duration by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"route"}),
	}
}

func (m *HTTPMetrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
	m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}
