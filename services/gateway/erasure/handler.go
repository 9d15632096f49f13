package erasure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/oklog/ulid/v2"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/tenancy"
)

// RequestStore is the handler's view of the erasures table (PGStore).
type RequestStore interface {
	Request(ctx context.Context, id, tenant, subject, actor string) (Erasure, error)
	Get(ctx context.Context, tenant, id string) (Erasure, error)
}

// PrincipalFunc returns the authenticated caller of a request.
type PrincipalFunc func(c *gin.Context) (tenancy.Principal, bool)

// Handler serves POST /v1/erasures and GET /v1/erasures/{id}.
type Handler struct {
	store     RequestStore
	principal PrincipalFunc
	logger    *slog.Logger
}

// NewHandler returns the erasure routes over store.
func NewHandler(store RequestStore, principal PrincipalFunc, logger *slog.Logger) *Handler {
	return &Handler{store: store, principal: principal, logger: logger}
}

// Register mounts the routes on g (which already authenticates).
func (h *Handler) Register(g gin.IRoutes) {
	g.POST("/v1/erasures", h.request)
	g.GET("/v1/erasures/:id", h.get)
}

// Request is the body of POST /v1/erasures.
type Request struct {
	Subject string `json:"subject"`
}

// Accepted is the 202 answer of POST /v1/erasures.
type Accepted struct {
	Erasure
	StatusURL string `json:"status_url"`
}

// maxBody bounds a request body (a subject is at most 1024 characters).
const maxBody = 16 << 10

// MaxSubject is the event schema's maxLength of subject.
const MaxSubject = 1024

func (h *Handler) request(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	req, aerr := decodeRequest(c)
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	e, err := h.store.Request(c.Request.Context(), ulid.Make().String(), p.Tenant.ID, req.Subject, p.Actor())
	if err != nil {
		h.logger.Warn("store erasure request", "err", err, "tenant", p.Tenant.ID, "request_id", c.GetString("request_id"))
		unavailable(c, "the erasure could not be recorded; retry")
		return
	}
	url := "/v1/erasures/" + e.ID
	c.Header("Location", url)
	c.JSON(http.StatusAccepted, Accepted{Erasure: e, StatusURL: url})
}

// decodeRequest reads {"subject": "..."}: one JSON object, no other member.
func decodeRequest(c *gin.Context) (Request, *apierror.Error) {
	var req Request
	if ct := c.ContentType(); ct != "application/json" {
		return req, apierror.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		return req, apierror.New(http.StatusBadRequest, "invalid_body", "the body could not be read")
	}
	if len(body) > maxBody {
		return req, apierror.New(http.StatusRequestEntityTooLarge, "request_too_large", "the body is larger than 16 KiB")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, apierror.New(http.StatusBadRequest, "invalid_body", "the body must be a JSON object {\"subject\": \"...\"}: "+err.Error())
	}
	if dec.More() {
		return req, apierror.New(http.StatusBadRequest, "invalid_body", "the body must hold one JSON object")
	}
	if aerr := checkSubject(req.Subject); aerr != nil {
		return req, aerr
	}
	return req, nil
}

func checkSubject(s string) *apierror.Error {
	if s == "" || len([]rune(s)) > MaxSubject || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return apierror.BadParameter("subject", "invalid_subject", "subject must be 1 to 1024 characters without control characters (as in events)")
	}
	return nil
}

func (h *Handler) get(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	id := c.Param("id")
	if _, err := ulid.ParseStrict(id); err != nil {
		notFound(c)
		return
	}
	e, err := h.store.Get(c.Request.Context(), p.Tenant.ID, id)
	if errors.Is(err, ErrNotFound) {
		notFound(c)
		return
	}
	if err != nil {
		h.logger.Warn("read erasure", "err", err, "tenant", p.Tenant.ID, "request_id", c.GetString("request_id"))
		unavailable(c, "the erasure could not be read; retry")
		return
	}
	c.JSON(http.StatusOK, e)
}

// notFound is the one answer for a missing or another tenant's erasure.
func notFound(c *gin.Context) {
	apierror.Abort(c, apierror.New(http.StatusNotFound, "not_found", "no such erasure"))
}

func unavailable(c *gin.Context, msg string) {
	c.Header("Retry-After", "1")
	apierror.Abort(c, apierror.New(http.StatusServiceUnavailable, "unavailable", msg))
}
