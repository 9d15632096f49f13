package app

import (
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

func TestGatewayRoutesMatchTheOpenAPIDocument(t *testing.T) {
	raw, err := fs.ReadFile(schemas.OpenAPI, "openapi/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("gateway.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	r := NewRouter(RouterDeps{
		Ingest:  ingest.NewHandler(ingest.Config{}, "t", nil, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler)),
		Erasure: erasure.NewHandler(nil, nil, slog.New(slog.DiscardHandler)),
		Auth:    func(c *gin.Context) {},
		Ops:     http.NotFoundHandler(),
		Metrics: NewHTTPMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.DiscardHandler),
	})
	var served []string
	for _, rt := range r.Routes() {
		served = append(served, rt.Method+" "+ginParam.ReplaceAllString(rt.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("routes differ from gateway.yaml\nserved:     %v\ndocumented: %v", served, documented)
	}
}
