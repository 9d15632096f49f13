package app

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/services/gateway/quarantine"
	"github.com/pulsestream/pulsestream/testkit/apitest"
)

func TestGatewayRoutesMatchTheOpenAPIDocument(t *testing.T) {
	r := NewRouter(RouterDeps{
		Ingest:  ingest.NewHandler(ingest.Config{}, nil, nil, nil, nil),
		Erasure: erasure.NewHandler(nil, nil, slog.New(slog.DiscardHandler)),
		Auth:    func(c *gin.Context) {},
		Extra:   quarantine.NewHandler(nil, nil, nil, slog.New(slog.DiscardHandler)).Register,
		Ops:     http.NotFoundHandler(),
		Metrics: httpapi.NewMetrics(prometheus.NewRegistry(), "gateway"),
		Logger:  slog.New(slog.DiscardHandler),
	})
	apitest.RoutesMatchDocument(t, "openapi/gateway.yaml", r.Routes())
}
