package tenancy

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

// meterRoutes adds the meter definitions of the admin API
// (schemas/openapi/admin.yaml) to the /v1/admin group.
func meterRoutes(g *gin.RouterGroup, h *adminAPI) {
	g.GET("/tenants/:tenant/meters", h.listMeters)
	g.GET("/tenants/:tenant/meters/:slug", h.getMeter)
	g.PUT("/tenants/:tenant/meters/:slug", h.putMeter)
	g.DELETE("/tenants/:tenant/meters/:slug", h.deleteMeter)
}

func (h *adminAPI) meterFail(c *gin.Context, err error) {
	if errors.Is(err, ErrMeterNotFound) {
		apierror.Abort(c, apierror.New(http.StatusNotFound, "meter_not_found", "no such meter"))
		return
	}
	h.fail(c, err)
}

func (h *adminAPI) listMeters(c *gin.Context) {
	ms, err := h.admin.ListMeters(c.Request.Context(), c.Param("tenant"))
	if err != nil {
		h.meterFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"meters": ms})
}

func (h *adminAPI) getMeter(c *gin.Context) {
	m, err := h.admin.GetMeter(c.Request.Context(), c.Param("tenant"), c.Param("slug"))
	if err != nil {
		h.meterFail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// putMeter creates (201) or replaces (200) a meter: the body is a MeterSpec.
func (h *adminAPI) putMeter(c *gin.Context) {
	var b MeterSpec
	if !h.bind(c, &b) {
		return
	}
	m, created, err := h.admin.PutMeter(c.Request.Context(), actorOf(c), c.Param("tenant"), c.Param("slug"), b)
	if err != nil {
		h.meterFail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, m)
}

func (h *adminAPI) deleteMeter(c *gin.Context) {
	m, err := h.admin.DeleteMeter(c.Request.Context(), actorOf(c), c.Param("tenant"), c.Param("slug"))
	if err != nil {
		h.meterFail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}
