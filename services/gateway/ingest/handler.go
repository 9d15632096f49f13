package ingest

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/oklog/ulid/v2"
	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/platform/tenancy"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/twmb/franz-go/pkg/kgo"
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

// Handler serves the ingest routes.
type Handler struct {
	cfg       Config
	topic     string
	validator *decode.Validator
	producer  *Producer
	markers   MarkerStore
	limiter   Limiter
	principal PrincipalFunc
	metrics   *Metrics
	logger    *slog.Logger
	now       func() time.Time
	redis     *redisGate
	audit     DeleteAuditor
	erased    ErasedLookup
}

// NewHandler wires the ingest path.
func NewHandler(cfg Config, topic string, v *decode.Validator, p *Producer, ms MarkerStore, l Limiter, principal PrincipalFunc, m *Metrics, logger *slog.Logger) *Handler {
	return &Handler{cfg: cfg, topic: topic, validator: v, producer: p, markers: ms, limiter: l, principal: principal, metrics: m, logger: logger, now: time.Now,
		redis: &redisGate{timeout: cfg.RedisTimeout, cooldown: cfg.RedisCooldown}}
}

// Register mounts the routes on g (which already authenticates).
func (h *Handler) Register(g gin.IRoutes) {
	g.POST("/v1/events", h.ingest)
	g.DELETE("/v1/events/*id", h.delete) // ids may contain '/'
}

func (h *Handler) ingest(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	tenant := p.Tenant
	format, aerr := decode.FormatOf(c.Request.Header)
	if aerr != nil {
		h.fail(c, &tenant, aerr)
		return
	}
	body, aerr := h.readBody(c)
	if aerr != nil {
		h.fail(c, &tenant, aerr)
		return
	}
	lim := decode.Limits{MaxEventBytes: h.cfg.MaxEventBytes, MaxEvents: h.cfg.MaxEvents, MaxDepth: h.cfg.MaxDepth}
	if tenant.MaxEventBytes > 0 && tenant.MaxEventBytes < lim.MaxEventBytes {
		lim.MaxEventBytes = tenant.MaxEventBytes
	}
	now := h.now().UTC()
	items, aerr := h.validator.Decode(format, c.Request.Header, body, lim, now)
	if aerr != nil {
		h.fail(c, &tenant, aerr)
		return
	}
	if !h.rateLimit(c, tenant, len(items)) {
		return
	}
	h.process(c, tenant, items, now)
}

// process dedups, produces and answers a decoded request.
func (h *Handler) process(c *gin.Context, tenant tenancy.Tenant, items []decode.Item, now time.Time) {
	ctx := c.Request.Context()
	results := make([]Result, len(items))
	// Candidates: valid events not repeated earlier in this request.
	seen := make(map[string]int, len(items))
	var cand []int
	for i := range items {
		it := &items[i]
		results[i] = Result{Index: i, ID: it.ID}
		if it.Reject != nil {
			results[i].reject(it.Reject.Code, it.Reject.Message)
			continue
		}
		if first, dup := seen[it.Event.ID]; dup {
			results[i].reject(CodeDuplicateInRequest, fmt.Sprintf("id repeats event %d of this request", first))
			continue
		}
		seen[it.Event.ID] = i
		ev := &it.Event
		ev.TenantID = tenant.ID
		ev.ReceivedAt = now
		data := []byte(ev.Data)
		if ev.DataBase64 != "" {
			data = []byte("b64:" + ev.DataBase64) // cannot collide with JSON data
		}
		ev.ContentHash = schemas.ContentHash(ev.Type, ev.Source, ev.Subject, ev.Time, it.TimeSet, ev.DataContentType, data)
		cand = append(cand, i)
	}
	// One round trip for every marker of the request.
	toProduce := cand
	if len(cand) > 0 {
		ids := make([]string, len(cand))
		for k, i := range cand {
			ids[k] = items[i].Event.ID
		}
		var ms []markers.Marker
		var found []bool
		err := h.redis.do(ctx, func(ctx context.Context) (err error) {
			ms, found, err = h.markers.Lookup(ctx, tenant.ID, ids)
			return err
		})
		if err != nil {
			h.metrics.RedisErrors.WithLabelValues("marker_lookup").Inc()
			h.logger.Warn("marker lookup failed; producing without dedup", "err", err, "tenant", tenant.ID, "request_id", c.GetString("request_id"))
			toProduce = h.dropErased(ctx, tenant.ID, items, cand, results, c.GetString("request_id"))
		} else {
			toProduce = toProduce[:0:0]
			for k, i := range cand {
				if !found[k] {
					toProduce = append(toProduce, i)
					continue
				}
				m := ms[k]
				if m.ContentHash == markers.Erased {
					results[i].Status, results[i].Code, results[i].Message = StatusDuplicate, CodeErased, "this id was erased; the event is not stored again"
					continue
				}
				if m.ContentHash == items[i].Event.ContentHash {
					results[i].Status = StatusDuplicate
					results[i].IngestID = m.IngestID
					results[i].Partition, results[i].Offset = &m.Partition, &m.Offset
				} else {
					results[i].reject(CodeConflict, "an event with this id and different content was already accepted")
				}
			}
		}
	}
	unavailable := false
	if len(toProduce) > 0 {
		recs := make([]*kgo.Record, len(toProduce))
		for k, i := range toProduce {
			ev := &items[i].Event
			ev.IngestID = ulid.Make().String()
			recs[k] = schemas.EventRecord(h.topic, ev)
		}
		acks, err := h.producer.ProduceAll(ctx, recs)
		if errors.Is(err, ErrBusy) {
			h.countResults(results)
			h.unavailable(c, "the gateway is at its buffer limit; retry shortly")
			return
		}
		var saveIDs []string
		var saveMarkers []markers.Marker
		ackedAt := h.now()
		for k, i := range toProduce {
			a := acks[k]
			if a.Err != nil {
				unavailable = true
				results[i].reject(CodeUnavailable, "Kafka did not acknowledge the event in time; it was not stored, retry")
				continue
			}
			ev := &items[i].Event
			part, off := a.Partition, a.Offset
			results[i].Status = StatusAccepted
			results[i].IngestID = ev.IngestID
			results[i].Partition, results[i].Offset = &part, &off
			saveIDs = append(saveIDs, ev.ID)
			saveMarkers = append(saveMarkers, markers.Marker{ContentHash: ev.ContentHash, AcceptedAt: ackedAt, Partition: part, Offset: off, IngestID: ev.IngestID})
		}
		if unavailable {
			h.logger.Warn("produce failed", "err", firstErr(acks), "tenant", tenant.ID, "request_id", c.GetString("request_id"))
		}
		// Markers only after the acks: a marker must never announce an
		// event Kafka does not hold.
		if len(saveIDs) > 0 {
			if err := h.redis.do(ctx, func(ctx context.Context) error { return h.markers.Save(ctx, tenant.ID, saveIDs, saveMarkers) }); err != nil {
				h.metrics.RedisErrors.WithLabelValues("marker_save").Inc()
				h.logger.Warn("marker save failed", "err", err, "tenant", tenant.ID, "request_id", c.GetString("request_id"))
			}
		}
	}
	resp := h.countResults(results)
	switch {
	case unavailable:
		resp.Error = &apierror.Detail{Code: CodeServiceUnavailable, Message: "Kafka did not acknowledge every event; events marked unavailable were not stored: retry them"}
		c.Header("Retry-After", seconds(h.cfg.RetryAfter))
		c.JSON(http.StatusServiceUnavailable, resp)
	case resp.Rejected == 0:
		c.JSON(http.StatusOK, resp)
	case resp.Accepted+resp.Duplicate > 0:
		c.JSON(http.StatusMultiStatus, resp)
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
		c.JSON(status, resp)
	}
}

func (r *Result) reject(code, msg string) {
	r.Status, r.Code, r.Message = StatusRejected, code, msg
}

func (h *Handler) countResults(results []Result) Response {
	resp := Response{Results: results}
	for _, r := range results {
		switch r.Status {
		case StatusAccepted:
			resp.Accepted++
		case StatusDuplicate:
			resp.Duplicate++
		default:
			resp.Rejected++
		}
		h.metrics.Events.WithLabelValues(r.Status, r.Code).Inc()
	}
	return resp
}

func allCode(rs []Result, code string) bool {
	for _, r := range rs {
		if r.Code != code {
			return false
		}
	}
	return true
}

func firstErr(acks []Ack) error {
	for _, a := range acks {
		if a.Err != nil {
			return a.Err
		}
	}
	return nil
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
			return nil, bodyErr(err, apierror.New(http.StatusBadRequest, CodeInvalidGzip, "the body is not gzip: "+err.Error()))
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
		return nil, bodyErr(err, apierror.New(http.StatusBadRequest, code, "the body could not be read: "+err.Error()))
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(fmt.Sprintf("the body is larger than %d bytes (after decompression)", limit))
	}
	return body, nil
}

func bodyErr(err error, otherwise *apierror.Error) *apierror.Error {
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
// when it is known (a zero-cost look at the bucket).
func (h *Handler) fail(c *gin.Context, tenant *tenancy.Tenant, e *apierror.Error) {
	if tenant != nil && tenant.RateLimitPerSec > 0 {
		var d Decision
		if err := h.redis.do(c.Request.Context(), func(ctx context.Context) (err error) {
			d, err = h.limiter.AllowN(ctx, tenant.ID, tenant.RateLimitPerSec, burstOf(*tenant), 0)
			return err
		}); err == nil {
			setRateHeaders(c, d)
		}
	}
	h.metrics.Events.WithLabelValues("request_refused", e.Code).Inc()
	apierror.Abort(c, e)
}

func burstOf(t tenancy.Tenant) int {
	if t.RateLimitBurst > 0 {
		return t.RateLimitBurst
	}
	return t.RateLimitPerSec
}

// rateLimit takes n units from the tenant's bucket or answers 429 (or 503
// when Redis fails and the limiter fails closed). It reports whether to go on.
func (h *Handler) rateLimit(c *gin.Context, t tenancy.Tenant, n int) bool {
	if t.RateLimitPerSec <= 0 {
		return true // no limit configured for this tenant
	}
	burst := burstOf(t)
	var d Decision
	err := h.redis.do(c.Request.Context(), func(ctx context.Context) (err error) {
		d, err = h.limiter.AllowN(ctx, t.ID, t.RateLimitPerSec, burst, n)
		return err
	})
	if err != nil {
		h.metrics.RedisErrors.WithLabelValues("rate_limit").Inc()
		h.metrics.RateLimit.WithLabelValues("error").Inc()
		if h.cfg.RateLimitFailClosed {
			h.unavailable(c, "the rate limiter is unavailable; retry shortly")
			return false
		}
		h.logger.Warn("rate limiter unavailable; letting the request through", "err", err, "tenant", t.ID, "request_id", c.GetString("request_id"))
		return true
	}
	setRateHeaders(c, d)
	if d.Allowed {
		h.metrics.RateLimit.WithLabelValues("allowed").Inc()
		return true
	}
	h.metrics.RateLimit.WithLabelValues("limited").Inc()
	if n > burst {
		c.Header("Retry-After", seconds(time.Duration(math.Ceil(float64(n)/float64(t.RateLimitPerSec)))*time.Second))
		apierror.Abort(c, apierror.New(http.StatusTooManyRequests, CodeBatchExceedsBurst,
			fmt.Sprintf("a batch of %d events exceeds the tenant's burst of %d: split it into smaller requests", n, burst)))
		return false
	}
	c.Header("Retry-After", seconds(d.RetryAfter))
	apierror.Abort(c, apierror.New(http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("the tenant's rate limit of %d events/s (burst %d) is exhausted; retry after the Retry-After seconds", t.RateLimitPerSec, burst)))
	return false
}

// setRateHeaders writes the IETF draft RateLimit-* fields and their
// X-RateLimit-* twins. Limit is the burst (the most events acceptable at
// once), Remaining what is left of it now, Reset the seconds until it is full.
func setRateHeaders(c *gin.Context, d Decision) {
	limit, remaining, reset := strconv.Itoa(d.Limit), strconv.Itoa(max(d.Remaining, 0)), seconds(d.ResetAfter)
	hd := c.Writer.Header()
	hd.Set("RateLimit-Limit", limit)
	hd.Set("RateLimit-Remaining", remaining)
	hd.Set("RateLimit-Reset", reset)
	hd.Set("RateLimit-Policy", fmt.Sprintf("%d;w=1;burst=%d", d.Rate, d.Limit))
	hd.Set("X-RateLimit-Limit", limit)
	hd.Set("X-RateLimit-Remaining", remaining)
	hd.Set("X-RateLimit-Reset", reset)
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

// delete records the request in the audit log, then produces a tombstone for
// (tenant, id). Deleting twice produces two tombstones with the same key: the
// projector applies them idempotently.
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
	erasureID := ulid.Make().String()
	// The audit entry first: no tombstone is ever produced without one.
	err := errNoAuditor
	if h.audit != nil {
		err = h.audit.RecordDelete(c.Request.Context(), p.Tenant.ID, id, erasureID, p.Actor())
	}
	if err != nil {
		h.logger.Warn("audit of a deletion failed", "err", err, "tenant", p.Tenant.ID, "request_id", c.GetString("request_id"))
		h.unavailable(c, "the deletion could not be recorded in the audit log; retry")
		return
	}
	rec, err := schemas.TombstoneRecord(h.topic, &schemas.Tombstone{TenantID: p.Tenant.ID, ID: id, DeletedAt: h.now().UTC(), ErasureID: erasureID})
	if err != nil {
		apierror.Abort(c, apierror.New(http.StatusInternalServerError, "internal", "tombstone encoding failed"))
		return
	}
	acks, err := h.producer.ProduceAll(c.Request.Context(), []*kgo.Record{rec})
	if err != nil || acks[0].Err != nil {
		h.logger.Warn("tombstone produce failed", "err", errors.Join(err, firstErr(acks)), "tenant", p.Tenant.ID, "request_id", c.GetString("request_id"))
		h.unavailable(c, "Kafka did not acknowledge the deletion; retry")
		return
	}
	h.saveErased(c.Request.Context(), p.Tenant.ID, []string{id}, erasureID, acks[0], c.GetString("request_id"))
	c.JSON(http.StatusAccepted, DeleteResponse{ID: id, StatusURL: "/v1/events/" + url.PathEscape(id) + "/status"}) // one path segment: '/' in an id is %2F
}

// saveErased writes erasure markers for ids after their tombstones were
// acknowledged (ack: the tombstone's, or the last of a page's), so a re-sent
// event is answered duplicate without producing it. Redis trouble is logged
// and counted, never fatal: the read models still refuse the event.
func (h *Handler) saveErased(ctx context.Context, tenant string, ids []string, erasureID string, ack Ack, requestID string) {
	m := markers.Marker{ContentHash: markers.Erased, AcceptedAt: h.now(), Partition: ack.Partition, Offset: ack.Offset, IngestID: erasureID}
	if err := h.redis.do(ctx, func(ctx context.Context) error { return h.markers.SaveErased(ctx, tenant, ids, m) }); err != nil {
		h.metrics.RedisErrors.WithLabelValues("erased_marker_save").Inc()
		h.logger.Warn("erasure marker save failed", "err", err, "tenant", tenant, "request_id", requestID)
	}
}
