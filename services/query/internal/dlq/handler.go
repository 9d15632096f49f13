package dlq

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Error codes of the DLQ API.
const (
	CodeInvalidLimit = "invalid_limit"
	CodeInvalidBody  = "invalid_body"
	CodeNotFound     = "not_found"
	CodeUnavailable  = "unavailable"
)

// maxBody bounds a re-drive request (about 10,000 refs).
const maxBody = 512 << 10

// Routes mounts the DLQ API on r under /v1/admin/dlq, for admin keys of the
// operator tenant (as the rest of the admin API).
// The read models' lag (GET /v1/admin/lag) and the erasures by subject with
// their progress (GET /v1/admin/erasures, erasures.go) are served beside it.
func Routes(r gin.IRouter, d *DLQ, lags *LagCache, auth tenancy.Authenticator, logger *slog.Logger) {
	h := &handler{d: d, lags: lags, logger: logger}
	g := r.Group("/v1/admin", tenancy.Middleware(auth, tenancy.ScopeAdmin), tenancy.OperatorOnly)
	g.GET("/dlq", h.list)
	g.POST("/dlq/redrive", h.redrive)
	g.GET("/lag", h.lag)
	g.GET("/erasures", h.erasures)
}

// Handler is the DLQ API on the platform engine (request id, metrics,
// recovery, 404/405).
func Handler(d *DLQ, lags *LagCache, auth tenancy.Authenticator, m *httpapi.Metrics, trace gin.HandlerFunc, logger *slog.Logger) *gin.Engine {
	r := httpapi.New(httpapi.Options{Logger: logger, Metrics: m, Secret: tenancy.ContainsKey, Trace: trace})
	Routes(r, d, lags, auth, logger)
	return r
}

type handler struct {
	d      *DLQ
	lags   *LagCache
	logger *slog.Logger
}

// ListAnswer is the body of GET /v1/admin/dlq.
type ListAnswer struct {
	Depth   int      `json:"depth"`
	Records []Record `json:"records"`
}

func (h *handler) list(c *gin.Context) {
	limit, ok := limitParam(c)
	if !ok {
		return
	}
	recs, depth, err := h.d.List(c.Request.Context(), limit)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	if recs == nil {
		recs = []Record{}
	}
	c.JSON(http.StatusOK, ListAnswer{Depth: depth, Records: recs})
}

// RedriveRequest is the body of POST /v1/admin/dlq/redrive: records, or all.
type RedriveRequest struct {
	Records []Ref `json:"records"`
	All     bool  `json:"all"`
}

// RedriveAnswer counts what a re-drive did.
type RedriveAnswer struct {
	Redriven int `json:"redriven"`
	Already  int `json:"already"`
}

func (h *handler) redrive(c *gin.Context) {
	var req RedriveRequest
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() || (len(req.Records) == 0) == !req.All {
		apierror.Abort(c, apierror.New(http.StatusBadRequest, CodeInvalidBody,
			`the body must be {"records": [{"partition": P, "offset": O}, ...]} or {"all": true}`))
		return
	}
	p, _ := tenancy.PrincipalFrom(c)
	n, already, err := h.d.Redrive(c.Request.Context(), "key:"+p.KeyPrefix, req.Records, req.All)
	var nf *NotFoundError
	switch {
	case errors.As(err, &nf):
		apierror.Abort(c, apierror.New(http.StatusNotFound, CodeNotFound, nf.Error()))
	case err != nil:
		h.unavailable(c, err)
	default:
		h.logger.Info("DLQ records re-driven", "redriven", n, "already", already, "actor", "key:"+p.KeyPrefix)
		c.JSON(http.StatusOK, RedriveAnswer{Redriven: n, Already: already})
	}
}

func (h *handler) unavailable(c *gin.Context, err error) {
	h.logger.Warn("DLQ", "err", err)
	c.Header("Retry-After", "2")
	apierror.Abort(c, apierror.New(http.StatusServiceUnavailable, CodeUnavailable, "Kafka or PostgreSQL did not answer; retry"))
}

// limitParam reads the limit query parameter of the list endpoints; a bad
// one is answered 400 invalid_limit and ok is false.
func limitParam(c *gin.Context) (limit int, ok bool) {
	limit, ok = ParseLimit(c.Query("limit"))
	if !ok {
		apierror.Abort(c, apierror.BadParameter("limit", CodeInvalidLimit, "limit must be an integer within 1..1000"))
	}
	return limit, ok
}
