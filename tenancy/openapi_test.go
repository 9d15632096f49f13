package tenancy

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/testkit/apitest"
)

func TestAdminRoutesMatchTheOpenAPIDocument(t *testing.T) {
	r := adminRouter(NewAdmin(nil), NewCachedAuthenticator(newFakeStore(), 0, prometheus.NewRegistry()), httpapi.NewMetrics(prometheus.NewRegistry(), "test"), slog.New(slog.DiscardHandler))
	apitest.RoutesMatchDocument(t, "openapi/admin.yaml", r.Routes())
}
