package quarantine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Limits of the HTTP API.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
	MaxReplayIDs     = 1000
	maxReplayBody    = 64 << 10 // as tenancy.BindJSON's limit
)

// PrincipalFunc returns the authenticated caller of a request.
type PrincipalFunc func(c *gin.Context) (tenancy.Principal, bool)

// Handler serves GET /v1/quarantine and POST /v1/quarantine/replay, scoped
// to the tenant of the caller's key.
type Handler struct {
	store     Store
	replayer  *Replayer
	principal PrincipalFunc
	logger    *slog.Logger
}

// NewHandler returns the quarantine API.
func NewHandler(store Store, r *Replayer, principal PrincipalFunc, logger *slog.Logger) *Handler {
	return &Handler{store: store, replayer: r, principal: principal, logger: logger}
}

// Register mounts the routes on g (which already authenticates).
func (h *Handler) Register(g gin.IRoutes) {
	g.GET("/v1/quarantine", h.list)
	g.POST("/v1/quarantine/replay", h.replay)
}

// ListResponse is the answer of GET /v1/quarantine.
type ListResponse struct {
	Entries    []Entry `json:"entries"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

func (h *Handler) list(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	f, aerr := filterFromQuery(c)
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	es, err := h.store.List(c.Request.Context(), p.Tenant.ID, f)
	if err != nil {
		h.internal(c, err)
		return
	}
	resp := ListResponse{Entries: es}
	if es == nil {
		resp.Entries = []Entry{}
	}
	if len(es) == f.Limit {
		resp.NextCursor = es[len(es)-1].QuarantineID
	}
	c.JSON(http.StatusOK, resp)
}

// filterFromQuery reads the list filters: type, code, subject, id, state,
// from, to (RFC 3339), limit and cursor. A present but empty state, from,
// to or limit is refused like any other invalid value.
func filterFromQuery(c *gin.Context) (Filter, *apierror.Error) {
	f := Filter{Type: c.Query("type"), Code: c.Query("code"), Subject: c.Query("subject"), ID: c.Query("id"),
		After: c.Query("cursor"), Limit: DefaultListLimit}
	if s, ok := c.GetQuery("state"); ok {
		if s != StateQuarantined && s != StateReplayed {
			return f, apierror.BadParameter("state", "invalid_state", "state must be quarantined or replayed")
		}
		f.State = s
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s, ok := c.GetQuery(t.name); ok {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, apierror.BadParameter(t.name, "invalid_"+t.name, t.name+" must be an RFC 3339 time")
			}
			*t.dst = v
		}
	}
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return f, apierror.BadParameter("limit", "invalid_limit", fmt.Sprintf("limit must be an integer from 1 to %d", MaxListLimit))
		}
		f.Limit = n
	}
	return f, textFilters(f, "")
}

// textFilters refuses a text filter PostgreSQL cannot take as text
// (apierror.TextParameter), naming it with prefix ("filter." for a replay
// body; its ids are the body's own "ids").
func textFilters(f Filter, prefix string) *apierror.Error {
	for _, n := range []struct{ name, v string }{{"type", f.Type}, {"code", f.Code}, {"subject", f.Subject}, {"id", f.ID}, {"cursor", f.After}} {
		if err := apierror.TextParameter(prefix+n.name, n.v); err != nil {
			return err
		}
	}
	for _, id := range f.IDs {
		if err := apierror.TextParameter("ids", id); err != nil {
			return err
		}
	}
	return nil
}

// ReplayRequest is the body of POST /v1/quarantine/replay: quarantine ids,
// or a filter; at most limit entries (default and maximum 1000).
type ReplayRequest struct {
	IDs    []string      `json:"ids,omitempty"`
	Filter *ReplayFilter `json:"filter,omitempty"`
	Limit  *int          `json:"limit,omitempty"`
}

// ReplayFilter selects entries to replay.
type ReplayFilter struct {
	Type    string    `json:"type,omitempty"`
	Code    string    `json:"code,omitempty"`
	Subject string    `json:"subject,omitempty"`
	ID      string    `json:"id,omitempty"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
}

func (h *Handler) replay(c *gin.Context) {
	p, ok := h.principal(c)
	if !ok {
		httpapi.Unauthenticated(c)
		return
	}
	var req ReplayRequest
	if !refuseNulls(c) || !tenancy.BindJSON(c, &req) {
		return
	}
	f, aerr := req.filter()
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	rep, err := h.replayer.Replay(c.Request.Context(), p.Tenant, f, c.GetString("request_id"))
	var re *ReplayError
	switch {
	case errors.As(err, &re):
		apierror.Abort(c, apierror.New(re.Status, re.Code, re.Message))
	case err != nil:
		h.internal(c, err)
	default:
		c.JSON(http.StatusOK, rep)
	}
}

// filter checks the request: ids or a filter, not both, not neither.
func (r *ReplayRequest) filter() (Filter, *apierror.Error) {
	f := Filter{Limit: MaxReplayIDs}
	switch {
	case len(r.IDs) > 0 && r.Filter != nil:
		return f, apierror.New(http.StatusBadRequest, "invalid_body", "send ids or filter, not both")
	case len(r.IDs) == 0 && r.Filter == nil:
		return f, apierror.New(http.StatusBadRequest, "invalid_body", "send ids (quarantine ids) or filter (an empty filter selects every entry)")
	case len(r.IDs) > MaxReplayIDs:
		return f, apierror.BadParameter("ids", "invalid_ids", fmt.Sprintf("at most %d ids per replay", MaxReplayIDs))
	case r.Limit != nil && (*r.Limit < 1 || *r.Limit > MaxReplayIDs):
		return f, apierror.BadParameter("limit", "invalid_limit", fmt.Sprintf("limit must be from 1 to %d", MaxReplayIDs))
	}
	if r.Limit != nil {
		f.Limit = *r.Limit
	}
	f.IDs = r.IDs
	if r.Filter != nil {
		f.Type, f.Code, f.Subject, f.ID, f.From, f.To = r.Filter.Type, r.Filter.Code, r.Filter.Subject, r.Filter.ID, r.Filter.From, r.Filter.To
	}
	return f, textFilters(f, "filter.")
}

// refuseNulls answers 400 when the body (an object) or its filter holds a
// null member: encoding/json would silently read it as absent.
func refuseNulls(c *gin.Context) bool {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxReplayBody+1))
	if err != nil {
		apierror.Abort(c, apierror.New(http.StatusBadRequest, "invalid_body", "the body could not be read"))
		return false
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return true // not an object: BindJSON words it
	}
	var filter map[string]json.RawMessage
	if raw, ok := top["filter"]; ok {
		_ = json.Unmarshal(raw, &filter)
	}
	for _, m := range []map[string]json.RawMessage{top, filter} {
		for k, v := range m {
			if string(bytes.TrimSpace(v)) == "null" {
				apierror.Abort(c, apierror.BadParameter(k, "invalid_"+k, k+" must not be null"))
				return false
			}
		}
	}
	return true
}

func (h *Handler) internal(c *gin.Context, err error) {
	h.logger.Error("quarantine api", "method", c.Request.Method, "path", c.FullPath(), "err", err)
	httpapi.Internal(c)
}
