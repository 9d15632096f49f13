package app

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/tenancy"
)

// RouterDeps is what the router is built from.
type RouterDeps struct {
	Ingest  *ingest.Handler
	Erasure *erasure.Handler
	Auth    gin.HandlerFunc // tenancy.Middleware(auth, tenancy.ScopeIngest)
	// Signature checks request signatures after Auth (signature.Gate); nil:
	// none are checked.
	Signature gin.HandlerFunc
	// Extra registers more authenticated routes (the quarantine API); nil: none.
	Extra   func(gin.IRoutes)
	Ops     http.Handler // /livez /readyz /metrics
	Metrics *httpapi.Metrics
	Trace   gin.HandlerFunc // tracing.Tracing.Middleware; nil when tracing is off
	Logger  *slog.Logger
}

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = httpapi.HeaderRequestID

// NewRouter returns the gateway's gin engine: the platform engine (request
// id, metrics, recovery, 404/405, ops endpoints) with the authenticated (and,
// per key, signature-checked) ingest and erasure routes.
func NewRouter(d RouterDeps) *gin.Engine {
	r := httpapi.New(httpapi.Options{Logger: d.Logger, Metrics: d.Metrics, Ops: d.Ops, Secret: tenancy.ContainsKey, Trace: d.Trace})
	chain := []gin.HandlerFunc{d.Auth}
	if d.Signature != nil {
		chain = append(chain, d.Signature)
	}
	api := r.Group("/", chain...)
	d.Ingest.Register(api)
	d.Erasure.Register(api)
	if d.Extra != nil {
		d.Extra(api)
	}
	return r
}
