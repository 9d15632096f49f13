package eventschemas

import (
	"log/slog"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/apitest"
)

// The admin API as the query service serves it (tenancy's routes and the
// registry's) is exactly schemas/openapi/admin.yaml. It lives here, not in
// tenancy, because tenancy's tests cannot import this package.
func TestAdminRoutesMatchTheOpenAPIDocument(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	h := tenancy.AdminHandler(tenancy.NewAdmin(nil), tenancy.NewCachedAuthenticator(nil, 0, prometheus.NewRegistry()),
		httpapi.NewMetrics(prometheus.NewRegistry(), "test"), logger, AdminRoutes(nil, logger))
	apitest.RoutesMatchDocument(t, "openapi/admin.yaml", h.(*gin.Engine).Routes())
}
