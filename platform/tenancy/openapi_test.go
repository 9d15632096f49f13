package tenancy

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/apitest"
)

func TestAdminRoutesMatchTheOpenAPIDocument(t *testing.T) {
	r := adminRouter(NewAdmin(nil), NewCachedAuthenticator(newFakeStore(), 0, prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	apitest.RoutesMatchDocument(t, "openapi/admin.yaml", r.Routes())
}
