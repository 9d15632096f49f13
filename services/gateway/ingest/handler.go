package ingest

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Event statuses and the codes the handler adds to decode's.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"

	CodeConflict           = "conflict"
	CodeDuplicateInRequest = "duplicate_in_request"
	CodeErased             = "erased" // a duplicate of an erased id
	CodeUnavailable        = "unavailable"

	CodeRateLimited        = "rate_limited"
	CodeBatchExceedsBurst  = "batch_exceeds_burst"
	CodeRequestTooLarge    = "request_too_large"
	CodeUnsupportedEncode  = "unsupported_content_encoding"
	CodeInvalidGzip        = "invalid_gzip"
	CodeRequestTimeout     = "request_timeout"
	CodeAllRejected        = "all_rejected"
	CodeServiceUnavailable = "unavailable"
)

// Result is the outcome of one event of a request, in request order.
type Result struct {
	Index     int    `json:"index"`
	ID        string `json:"id"`
	Status    string `json:"status"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	IngestID  string `json:"ingest_id,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	// Set by the tenant's event schemas (schemacheck) and the quarantine.
	Pointer       string    `json:"pointer,omitempty"`
	SchemaVersion int       `json:"schema_version,omitempty"`
	QuarantineID  string    `json:"quarantine_id,omitempty"`
	Warnings      []Warning `json:"warnings,omitempty"`
}

// Warning is a problem of an accepted event (a schema violation in warn mode).
type Warning struct {
	Code          string `json:"code"`
	Message       string `json:"message"`
	Pointer       string `json:"pointer,omitempty"`
	SchemaVersion int    `json:"schema_version,omitempty"`
}

// SchemaChecker applies the tenant's event schemas to decoded events: it
// rejects (Item.Reject) or warns (Item.Warnings) in place.
type SchemaChecker interface {
	Check(ctx context.Context, tenant string, items []decode.Item)
}

// Quarantiner keeps the events a request rejected for good (by a schema,
// or by the tenant's choice any invalid one) and sets their QuarantineID.
type Quarantiner interface {
	Hold(ctx context.Context, tenant string, items []decode.Item, results []Result, receivedAt time.Time)
}

// Response is the body of every answer that got as far as events.
type Response struct {
	Accepted  int              `json:"accepted"`
	Duplicate int              `json:"duplicate"`
	Rejected  int              `json:"rejected"`
	Results   []Result         `json:"results"`
	Error     *apierror.Detail `json:"error,omitempty"`
}

// PrincipalFunc returns the authenticated caller of a request.
type PrincipalFunc func(c *gin.Context) (tenancy.Principal, bool)

// Handler is the HTTP adapter of the ingest service: it reads and decodes
// requests, calls the service, and maps its outcomes to statuses.
type Handler struct {
	cfg       Config
	svc       *Service
	validator *decode.Validator
	principal PrincipalFunc
	metrics   *Metrics
	now       func() time.Time
	schemas   SchemaChecker // nil: no event schemas
	hold      Quarantiner   // nil: no quarantine
	outcomes  OutcomeCounter
}

// OutcomeCounter counts events per tenant and outcome for the console
// (services/gateway/outcomes): in memory, never a trip per request.
type OutcomeCounter interface {
	Add(tenant, outcome string, n int)
}

type noOutcomes struct{}

func (noOutcomes) Add(string, string, int) {}

// WithOutcomes makes h count its outcomes per tenant in o. It returns h.
func (h *Handler) WithOutcomes(o OutcomeCounter) *Handler {
	h.outcomes = o
	return h
}

// WithSchemas makes h check events against the tenants' schemas and
// quarantine what they reject. It returns h.
func (h *Handler) WithSchemas(c SchemaChecker, q Quarantiner) *Handler {
	h.schemas, h.hold = c, q
	return h
}

// NewHandler serves svc over HTTP.
func NewHandler(cfg Config, svc *Service, v *decode.Validator, principal PrincipalFunc, m *Metrics) *Handler {
	return &Handler{cfg: cfg, svc: svc, validator: v, principal: principal, metrics: m, now: time.Now, outcomes: noOutcomes{}}
}

// pathEvents is the ingest route (see TakesNonce).
const pathEvents = "/v1/events"

// Register mounts the routes on g (which already authenticates).
func (h *Handler) Register(g gin.IRoutes) {
	g.POST(pathEvents, h.ingest)
	g.DELETE("/v1/events/*id", h.delete) // ids may contain '/'
}

func (h *Handler) ingest(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	tenant, nonce := p.Tenant, nonceOf(c)
	format, aerr := decode.FormatOf(c.Request.Header)
	if aerr != nil {
		h.fail(c, tenant, nonce, aerr)
		return
	}
	body, aerr := h.readBody(c)
	if aerr != nil {
		h.fail(c, tenant, nonce, aerr)
		return
	}
	lim := decode.Limits{MaxEventBytes: h.cfg.MaxEventBytes, MaxEvents: h.cfg.MaxEvents, MaxDepth: h.cfg.MaxDepth}
	if tenant.MaxEventBytes > 0 && tenant.MaxEventBytes < lim.MaxEventBytes {
		lim.MaxEventBytes = tenant.MaxEventBytes
	}
	now := h.now().UTC()
	items, aerr := h.validator.Decode(format, c.Request.Header, body, lim, now)
	if aerr != nil {
		h.fail(c, tenant, nonce, aerr)
		return
	}
	if h.schemas != nil {
		h.schemas.Check(c.Request.Context(), tenant.ID, items)
	}
	out := h.svc.Ingest(c.Request.Context(), tenant, items, now, c.GetString("request_id"), nonce)
	if nonce != nil && !nonce.Gate.Judge(c, out.NonceFresh, out.NonceErr) {
		return // replayed, or the nonce could not be checked: nothing was produced
	}
	if h.hold != nil && out.Admission == Admitted && !out.Busy {
		h.hold.Hold(c.Request.Context(), tenant.ID, items, out.Results, now)
	}
	if out.Decision != nil {
		setRateHeaders(c, *out.Decision)
	}
	if out.Quota != nil {
		setQuotaHeaders(c, out.Quota, h.now())
	}
	switch {
	case out.Admission == LimiterDown:
		h.unavailable(c, "the rate limiter is unavailable; retry shortly")
	case out.Admission == Limited:
		h.limited(c, tenant, len(items), *out.Decision)
	case out.Busy:
		h.countResults(tenant.ID, out.Results)
		h.unavailable(c, "the gateway is at its buffer limit; retry shortly")
	default:
		h.respond(c, tenant.ID, out)
	}
}

// respond answers a request whose events were processed: 200 when none was
// rejected, 207 when some were, 4xx when all were, 503 when Kafka failed.
func (h *Handler) respond(c *gin.Context, tenant string, out Outcome) {
	results := out.Results
	resp := h.countResults(tenant, results)
	switch {
	case out.Unavailable:
		resp.Error = &apierror.Detail{Code: CodeServiceUnavailable, Message: "Kafka did not acknowledge every event; events marked unavailable were not stored: retry them"}
		c.Header("Retry-After", seconds(h.cfg.RetryAfter))
		writeResponse(c, http.StatusServiceUnavailable, &resp)
	case resp.Rejected == 0:
		writeResponse(c, http.StatusOK, &resp)
	case out.Quota != nil && out.Quota.Hard && out.Quota.Exceeded && resp.Accepted+resp.Duplicate == 0:
		resp.Error = &apierror.Detail{Code: CodeQuotaExceeded, Message: "the tenant's monthly quota is used up; it resets at the Quota-Reset time"}
		writeResponse(c, http.StatusTooManyRequests, &resp)
	case resp.Accepted+resp.Duplicate > 0:
		writeResponse(c, http.StatusMultiStatus, &resp)
	default:
		status := http.StatusBadRequest
		if allCode(results, decode.CodeTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		msg := "no event was accepted; see results"
		if len(results) == 1 {
			msg = results[0].Message
		}
		code := CodeAllRejected
		if len(results) == 1 {
			code = results[0].Code
		}
		resp.Error = &apierror.Detail{Code: code, Message: msg}
		writeResponse(c, status, &resp)
	}
}

func (r *Result) reject(code, msg string) {
	r.Status, r.Code, r.Message = StatusRejected, code, msg
}

func (h *Handler) countResults(tenant string, results []Result) Response {
	resp := Response{Results: results}
	var tally []outcomeCount // a handful of distinct (status, code) pairs per request
	for i := range results {
		r := &results[i]
		switch r.Status {
		case StatusAccepted:
			resp.Accepted++
		case StatusDuplicate:
			resp.Duplicate++
		default:
			resp.Rejected++
		}
		tally = count(tally, r.Status, r.Code)
	}
	for _, c := range tally {
		h.metrics.Events.WithLabelValues(c.status, c.code).Add(float64(c.n))
		h.outcomes.Add(tenant, c.status, c.n)
	}
	return resp
}

// outcomeCount is how many events of a request had one status and code:
// the events counter is looked up once per pair, not once per event.
type outcomeCount struct {
	status, code string
	n            int
}

func count(tally []outcomeCount, status, code string) []outcomeCount {
	for i := range tally {
		if tally[i].status == status && tally[i].code == code {
			tally[i].n++
			return tally
		}
	}
	return append(tally, outcomeCount{status, code, 1})
}

func allCode(rs []Result, code string) bool {
	for _, r := range rs {
		if r.Code != code {
			return false
		}
	}
	return true
}

// readBody reads the body within the request limit and inflates gzip within
// the decompressed limit, never more than one byte past it.
func (h *Handler) readBody(c *gin.Context) ([]byte, *apierror.Error) {
	r := c.Request
	if r.ContentLength > h.cfg.MaxRequestBytes {
		return nil, tooLarge(fmt.Sprintf("the body is %d bytes; at most %d are accepted", r.ContentLength, h.cfg.MaxRequestBytes))
	}
	var src io.Reader = http.MaxBytesReader(c.Writer, r.Body, h.cfg.MaxRequestBytes)
	limit, gzipped := h.cfg.MaxRequestBytes, false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, BodyError(err, apierror.New(http.StatusBadRequest, CodeInvalidGzip, "the body is not gzip: "+err.Error()))
		}
		defer zr.Close()
		src, limit, gzipped = zr, h.cfg.MaxDecompressedBytes, true
	default:
		return nil, apierror.New(http.StatusUnsupportedMediaType, CodeUnsupportedEncode, fmt.Sprintf("Content-Encoding %q is not accepted: send gzip or nothing", enc))
	}
	body, err := io.ReadAll(io.LimitReader(src, limit+1))
	if err != nil {
		code := decode.CodeInvalidBody // the connection failed mid-body
		if gzipped {
			code = CodeInvalidGzip // or the stream is corrupt
		}
		return nil, BodyError(err, apierror.New(http.StatusBadRequest, code, "the body could not be read: "+err.Error()))
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(fmt.Sprintf("the body is larger than %d bytes (after decompression)", limit))
	}
	return body, nil
}

// BodyError maps a failed body read: 413 past the size limit, 408 for a body
// slower than the read timeout, else otherwise.
func BodyError(err error, otherwise *apierror.Error) *apierror.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(fmt.Sprintf("the body is larger than %d bytes", mbe.Limit))
	}
	// A client too slow to send its body within the server's read timeout
	// (slowloris): the connection's deadline passed, not the body's format.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return apierror.New(http.StatusRequestTimeout, CodeRequestTimeout, "the body did not arrive within the server's read timeout")
	}
	return otherwise
}

func tooLarge(msg string) *apierror.Error {
	return apierror.New(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, msg)
}

// fail answers a request-level error, with the tenant's rate-limit headers
// when they are known (a zero-cost look at the bucket). A nonce left by the
// gate is claimed first, so that a replay is answered as one.
func (h *Handler) fail(c *gin.Context, tenant tenancy.Tenant, nonce *Nonce, e *apierror.Error) {
	if nonce != nil && !claimAlone(c, nonce) {
		return
	}
	if d := h.svc.Peek(c.Request.Context(), tenant); d != nil {
		setRateHeaders(c, *d)
	}
	h.metrics.Events.WithLabelValues("request_refused", e.Code).Inc()
	h.outcomes.Add(tenant.ID, "request_refused", 1)
	apierror.Abort(c, e)
}

// limited answers 429: the batch can never fit the burst, or the bucket
// has not enough left now.
func (h *Handler) limited(c *gin.Context, t tenancy.Tenant, n int, d Decision) {
	h.outcomes.Add(t.ID, "rate_limited", n)
	burst := burstOf(t)
	if n > burst {
		c.Header("Retry-After", seconds(time.Duration(math.Ceil(float64(n)/float64(t.RateLimitPerSec)))*time.Second))
		apierror.Abort(c, apierror.New(http.StatusTooManyRequests, CodeBatchExceedsBurst,
			fmt.Sprintf("a batch of %d events exceeds the tenant's burst of %d: split it into smaller requests", n, burst)))
		return
	}
	c.Header("Retry-After", seconds(d.RetryAfter))
	apierror.Abort(c, apierror.New(http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("the tenant's rate limit of %d events/s (burst %d) is exhausted; retry after the Retry-After seconds", t.RateLimitPerSec, burst)))
}

// setRateHeaders writes the IETF draft RateLimit-* fields and their
// X-RateLimit-* twins. Limit is the burst (the most events acceptable at
// once), Remaining what is left of it now, Reset the seconds until it is full.
func setRateHeaders(c *gin.Context, d Decision) {
	limit, remaining, reset := strconv.Itoa(d.Limit), strconv.Itoa(max(d.Remaining, 0)), seconds(d.ResetAfter)
	policy := strconv.Itoa(d.Rate) + ";w=1;burst=" + limit
	hd := c.Writer.Header() // keys already canonical: no per-request canonicalization
	hd["Ratelimit-Limit"] = []string{limit}
	hd["Ratelimit-Remaining"] = []string{remaining}
	hd["Ratelimit-Reset"] = []string{reset}
	hd["Ratelimit-Policy"] = []string{policy}
	hd["X-Ratelimit-Limit"] = []string{limit}
	hd["X-Ratelimit-Remaining"] = []string{remaining}
	hd["X-Ratelimit-Reset"] = []string{reset}
}

// seconds renders a duration as whole seconds, rounded up, at least 1.
func seconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

func (h *Handler) unavailable(c *gin.Context, msg string) {
	c.Header("Retry-After", seconds(h.cfg.RetryAfter))
	apierror.Abort(c, apierror.New(http.StatusServiceUnavailable, CodeServiceUnavailable, msg))
}

// DeleteResponse is the answer to DELETE /v1/events/{id}.
type DeleteResponse struct {
	ID        string `json:"id"`
	StatusURL string `json:"status_url"`
}

// delete erases one event of the caller's tenant through the service.
func (h *Handler) delete(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	id := strings.TrimPrefix(c.Param("id"), "/")
	if id == "" || len(id) > 256 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		apierror.Abort(c, apierror.BadParameter("id", "invalid_id", "the id must be 1 to 256 characters without control characters"))
		return
	}
	switch err := h.svc.Delete(c.Request.Context(), p.Tenant.ID, id, p.Actor(), c.GetString("request_id")); {
	case err == nil:
		c.JSON(http.StatusAccepted, DeleteResponse{ID: id, StatusURL: "/v1/events/" + url.PathEscape(id) + "/status"}) // one path segment: '/' in an id is %2F
	case errors.Is(err, ErrAudit):
		h.unavailable(c, "the deletion could not be recorded in the audit log; retry")
	case errors.Is(err, errTombstoneEnc):
		apierror.Abort(c, apierror.New(http.StatusInternalServerError, "internal", "tombstone encoding failed"))
	default:
		h.unavailable(c, "Kafka did not acknowledge the deletion; retry")
	}
}
