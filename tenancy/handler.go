package tenancy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
)

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 64 << 10

// CodeOperatorOnly answers an admin-scoped key of a tenant other than the
// operator tenant.
const CodeOperatorOnly = "operator_only"

// AdminHandler serves the admin API (schemas/openapi/admin.yaml) under
// /v1/admin/ on the platform engine (request id, metrics on m, recovery,
// 404/405). Callers need an admin-scoped key of the operator tenant; every
// change is audited with actor "key:<prefix>" of that key. Mount it on its
// own listener (default 127.0.0.1:8090), never on a public one. Each of
// more adds routes of another package (the event schema registry) to the
// same authenticated /v1/admin group.
func AdminHandler(admin *Admin, auth Authenticator, m *httpapi.Metrics, logger *slog.Logger, more ...func(*gin.RouterGroup)) http.Handler {
	return adminRouter(admin, auth, m, logger, more...)
}

func adminRouter(admin *Admin, auth Authenticator, m *httpapi.Metrics, logger *slog.Logger, more ...func(*gin.RouterGroup)) *gin.Engine {
	h := &adminAPI{admin: admin, logger: logger}
	r := httpapi.New(httpapi.Options{Logger: logger, Metrics: m, Secret: ContainsKey})
	v1 := r.Group("/v1/admin", Middleware(auth, ScopeAdmin), operatorOnly)
	v1.GET("/tenants", h.listTenants)
	v1.POST("/tenants", h.createTenant)
	v1.GET("/tenants/:tenant", h.getTenant)
	v1.PATCH("/tenants/:tenant", h.updateTenant)
	v1.POST("/tenants/:tenant/suspend", h.suspendTenant)
	v1.POST("/tenants/:tenant/resume", h.resumeTenant)
	v1.GET("/tenants/:tenant/usage", h.usage)
	v1.GET("/tenants/:tenant/keys", h.listKeys)
	v1.POST("/tenants/:tenant/keys", h.createKey)
	v1.POST("/tenants/:tenant/keys/:key/revoke", h.revokeKey)
	v1.GET("/audit", h.audit)
	meterRoutes(v1, h)
	for _, add := range more {
		add(v1)
	}
	return r
}

func operatorOnly(c *gin.Context) {
	p, ok := PrincipalFrom(c)
	if !ok || p.Tenant.ID != OperatorTenant {
		apierror.Abort(c, apierror.New(http.StatusForbidden, CodeOperatorOnly,
			fmt.Sprintf("the admin API needs an admin key of the operator tenant %q", OperatorTenant)))
		return
	}
	c.Next()
}

type adminAPI struct {
	admin  *Admin
	logger *slog.Logger
}

func actorOf(c *gin.Context) string {
	p, _ := PrincipalFrom(c)
	return "key:" + p.KeyPrefix
}

// fail maps an admin error to its HTTP answer.
func (h *adminAPI) fail(c *gin.Context, err error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		apierror.Abort(c, apierror.BadParameter(ve.Field, ve.Code(), ve.Message))
	case errors.Is(err, ErrTenantNotFound):
		apierror.Abort(c, apierror.New(http.StatusNotFound, "tenant_not_found", "no such tenant"))
	case errors.Is(err, ErrKeyNotFound):
		apierror.Abort(c, apierror.New(http.StatusNotFound, "key_not_found", "no such API key"))
	case errors.Is(err, ErrTenantExists):
		apierror.Abort(c, apierror.New(http.StatusConflict, "tenant_exists", "a tenant with this id already exists"))
	case errors.Is(err, ErrNameTaken):
		e := apierror.New(http.StatusConflict, "tenant_name_taken", "another tenant already has this name")
		e.Parameter = "name"
		apierror.Abort(c, e)
	case errors.Is(err, ErrReservedTenant):
		apierror.Abort(c, apierror.New(http.StatusConflict, "reserved_tenant", err.Error()))
	default:
		h.logger.Error("admin api", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		httpapi.Internal(c)
	}
}

// BindJSON decodes an admin request's JSON body into v strictly, as every
// admin route does, answering 400 or 413 itself when it returns false.
func BindJSON(c *gin.Context, v any) bool { return (&adminAPI{}).bind(c, v) }

// bind decodes a JSON body strictly: unknown fields and wrong types are a 400
// naming the field.
func (h *adminAPI) bind(c *gin.Context, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return true
	}
	var typeErr *json.UnmarshalTypeError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		apierror.Abort(c, apierror.BadParameter(typeErr.Field, "invalid_"+typeErr.Field, fmt.Sprintf("%s must be a JSON %s", typeErr.Field, typeErr.Type)))
	case errors.As(err, &maxErr):
		apierror.Abort(c, apierror.New(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body must be at most %d bytes", maxAdminBody)))
	case errors.Is(err, io.EOF):
		apierror.Abort(c, apierror.New(http.StatusBadRequest, "invalid_body", "the body must be a JSON object"))
	default:
		apierror.Abort(c, apierror.New(http.StatusBadRequest, "invalid_body", "the body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: ")))
	}
	return false
}

func (h *adminAPI) listTenants(c *gin.Context) {
	ts, err := h.admin.ListTenants(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenants": ts})
}

type createTenantBody struct {
	ID string `json:"id"`
	TenantSettings
}

func (h *adminAPI) createTenant(c *gin.Context) {
	var b createTenantBody
	if !h.bind(c, &b) {
		return
	}
	t, err := h.admin.CreateTenant(c.Request.Context(), actorOf(c), b.ID, b.TenantSettings)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, t)
}

func (h *adminAPI) getTenant(c *gin.Context) {
	t, err := h.admin.GetTenant(c.Request.Context(), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (h *adminAPI) updateTenant(c *gin.Context) {
	var b TenantSettings
	if !h.bind(c, &b) {
		return
	}
	t, err := h.admin.UpdateTenant(c.Request.Context(), actorOf(c), c.Param("tenant"), b)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (h *adminAPI) suspendTenant(c *gin.Context) {
	t, err := h.admin.SuspendTenant(c.Request.Context(), actorOf(c), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (h *adminAPI) resumeTenant(c *gin.Context) {
	t, err := h.admin.ResumeTenant(c.Request.Context(), actorOf(c), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (h *adminAPI) listKeys(c *gin.Context) {
	ks, err := h.admin.ListKeys(c.Request.Context(), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"keys": ks})
}

func (h *adminAPI) createKey(c *gin.Context) {
	var b KeySpec
	if !h.bind(c, &b) {
		return
	}
	k, err := h.admin.CreateKey(c.Request.Context(), actorOf(c), c.Param("tenant"), b)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, k)
}

func (h *adminAPI) revokeKey(c *gin.Context) {
	k, err := h.admin.RevokeKey(c.Request.Context(), actorOf(c), c.Param("tenant"), c.Param("key"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, k)
}

func (h *adminAPI) audit(c *gin.Context) {
	f := AuditFilter{TenantID: c.Query("tenant")}
	for _, q := range []struct {
		name string
		dst  *int64
	}{{"limit", nil}, {"before", &f.BeforeID}} {
		s := c.Query(q.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			apierror.Abort(c, apierror.BadParameter(q.name, "invalid_"+q.name, q.name+" must be a positive integer"))
			return
		}
		if q.dst != nil {
			*q.dst = n
		} else if n > MaxAuditLimit {
			apierror.Abort(c, apierror.BadParameter("limit", "invalid_limit", fmt.Sprintf("limit must be at most %d", MaxAuditLimit)))
			return
		} else {
			f.Limit = int(n)
		}
	}
	entries, err := h.admin.Audit(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	body := gin.H{"entries": entries}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultAuditLimit
	}
	if len(entries) == limit {
		body["next_before"] = entries[len(entries)-1].ID
	}
	c.JSON(http.StatusOK, body)
}
