package eventschemas

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Codes of the registry's admin answers. Part of the API.
const (
	CodeSchemaInvalid      = "schema_invalid"
	CodeSchemaIncompatible = "schema_incompatible"
	CodeTypeNotFound       = "schema_type_not_found"
	CodeVersionNotFound    = "schema_version_not_found"
)

// AdminRoutes returns the registry's admin routes, for
// tenancy.AdminHandler (mounted under the operator-only /v1/admin group).
func AdminRoutes(r *Registry, logger *slog.Logger) func(*gin.RouterGroup) {
	h := &adminAPI{r: r, logger: logger}
	return func(g *gin.RouterGroup) {
		g.GET("/tenants/:tenant/schemas", h.types)
		g.GET("/tenants/:tenant/schema-settings", h.settings)
		g.PATCH("/tenants/:tenant/schema-settings", h.updateSettings)
		g.PATCH("/tenants/:tenant/schemas/:type", h.updateType)
		g.GET("/tenants/:tenant/schemas/:type/versions", h.versions)
		g.POST("/tenants/:tenant/schemas/:type/versions", h.addVersion)
		g.GET("/tenants/:tenant/schemas/:type/versions/:version", h.version)
	}
}

type adminAPI struct {
	r      *Registry
	logger *slog.Logger
}

func actor(c *gin.Context) string {
	p, _ := tenancy.PrincipalFrom(c)
	return p.Actor()
}

// fail maps a registry error to its answer.
func (h *adminAPI) fail(c *gin.Context, err error) {
	var ve *tenancy.ValidationError
	var ce *CompileError
	var ie *IncompatibleError
	switch {
	case errors.As(err, &ve):
		apierror.Abort(c, apierror.BadParameter(ve.Field, ve.Code(), ve.Message))
	case errors.As(err, &ce):
		apierror.Abort(c, apierror.BadParameter("schema", CodeSchemaInvalid, ce.Error()))
	case errors.As(err, &ie):
		apierror.Abort(c, apierror.New(http.StatusConflict, CodeSchemaIncompatible, ie.Error()+` (send "force": true to store it anyway)`))
	case errors.Is(err, tenancy.ErrTenantNotFound):
		apierror.Abort(c, apierror.New(http.StatusNotFound, "tenant_not_found", "no such tenant"))
	case errors.Is(err, ErrTypeNotFound):
		apierror.Abort(c, apierror.New(http.StatusNotFound, CodeTypeNotFound, "no schema for this type"))
	case errors.Is(err, ErrVersionNotFound):
		apierror.Abort(c, apierror.New(http.StatusNotFound, CodeVersionNotFound, "no such schema version"))
	default:
		h.logger.Error("schema registry", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		httpapi.Internal(c)
	}
}

func (h *adminAPI) types(c *gin.Context) {
	ts, err := h.r.Types(c.Request.Context(), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if ts == nil {
		ts = []TypeInfo{}
	}
	c.JSON(http.StatusOK, gin.H{"types": ts})
}

func (h *adminAPI) settings(c *gin.Context) {
	s, err := h.r.Settings(c.Request.Context(), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (h *adminAPI) updateSettings(c *gin.Context) {
	var p SettingsPatch
	if !tenancy.BindJSON(c, &p) {
		return
	}
	s, err := h.r.UpdateSettings(c.Request.Context(), actor(c), c.Param("tenant"), p)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (h *adminAPI) updateType(c *gin.Context) {
	var p TypePatch
	if !tenancy.BindJSON(c, &p) {
		return
	}
	t, err := h.r.UpdateType(c.Request.Context(), actor(c), c.Param("tenant"), c.Param("type"), p)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (h *adminAPI) versions(c *gin.Context) {
	vs, err := h.r.Versions(c.Request.Context(), c.Param("tenant"), c.Param("type"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"versions": vs})
}

// newVersionBody is the body of POST .../versions.
type newVersionBody struct {
	Schema json.RawMessage `json:"schema"`
	Force  bool            `json:"force"`
}

func (h *adminAPI) addVersion(c *gin.Context) {
	var b newVersionBody
	if !tenancy.BindJSON(c, &b) {
		return
	}
	if len(b.Schema) == 0 {
		apierror.Abort(c, apierror.BadParameter("schema", "invalid_schema", "schema is required: the JSON Schema document"))
		return
	}
	v, err := h.r.AddVersion(c.Request.Context(), actor(c), c.Param("tenant"), c.Param("type"), b.Schema, b.Force)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

func (h *adminAPI) version(c *gin.Context) {
	n, err := strconv.Atoi(c.Param("version"))
	if err != nil || n < 1 {
		if c.Param("version") != "current" {
			apierror.Abort(c, apierror.BadParameter("version", "invalid_version", "version must be a positive integer or current"))
			return
		}
		n = 0
	}
	v, err := h.r.Get(c.Request.Context(), c.Param("tenant"), c.Param("type"), n)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}
