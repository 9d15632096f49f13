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
	Ops     http.Handler    // /livez /readyz /metrics
	Metrics *httpapi.Metrics
	Logger  *slog.Logger
}

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = httpapi.HeaderRequestID

// NewRouter returns the gateway's gin engine: the platform engine (request
// id, metrics, recovery, 404/405, ops endpoints) with the authenticated
// ingest and erasure routes.
func NewRouter(d RouterDeps) *gin.Engine {
	r := httpapi.New(httpapi.Options{Logger: d.Logger, Metrics: d.Metrics, Ops: d.Ops, Secret: tenancy.ContainsKey})
	api := r.Group("/", d.Auth)
	d.Ingest.Register(api)
	d.Erasure.Register(api)
	return r
}
