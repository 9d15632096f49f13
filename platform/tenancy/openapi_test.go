package tenancy

import (
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/pulsestream/pulsestream/schemas"
)

var ginParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

func TestAdminRoutesMatchTheOpenAPIDocument(t *testing.T) {
	raw, err := fs.ReadFile(schemas.OpenAPI, "openapi/admin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("admin.yaml: %v", err)
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
	r := adminRouter(NewAdmin(nil), NewCachedAuthenticator(newFakeStore(), 0, prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	var served []string
	for _, rt := range r.Routes() {
		served = append(served, rt.Method+" "+ginParam.ReplaceAllString(rt.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("routes differ from admin.yaml\nserved:     %v\ndocumented: %v", served, documented)
	}
}
