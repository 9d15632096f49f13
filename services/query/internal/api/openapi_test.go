package api

import (
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/testkit/apitest"
)

type openapiDoc struct {
	OpenAPI    string                                 `yaml:"openapi"`
	Paths      map[string]map[string]openapiOperation `yaml:"paths"`
	Components struct {
		Parameters map[string]openapiParam `yaml:"parameters"`
	} `yaml:"components"`
}

type openapiOperation struct {
	Parameters []openapiParam `yaml:"parameters"`
}

type openapiParam struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

func loadDoc(t *testing.T) openapiDoc {
	t.Helper()
	raw, err := fs.ReadFile(schemas.OpenAPI, "openapi/query.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openapiDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("query.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	return doc
}

func TestRoutesMatchTheOpenAPIDocument(t *testing.T) {
	a := New(Deps{Logger: slog.New(slog.DiscardHandler), Metrics: httpapi.NewMetrics(prometheus.NewRegistry(), "query")})
	apitest.RoutesMatchDocument(t, "openapi/query.yaml", a.router().Routes())
}

func TestQueryParametersMatchTheOpenAPIDocument(t *testing.T) {
	doc := loadDoc(t)
	params := func(path string) []string {
		var names []string
		for _, p := range doc.Paths[path]["get"].Parameters {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "query" && p.Name != "data.<path>" {
				names = append(names, p.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	for path, known := range map[string][]string{"/v1/events": searchKnown, "/v1/stats": statsKnown,
		"/v1/meters/{slug}/query": append(slices.Clone(meterKnown), "filter")} {
		want := slices.Sorted(slices.Values(known))
		if got := params(path); !slices.Equal(got, want) {
			t.Errorf("%s: documented query parameters %v, the parser takes %v", path, got, want)
		}
	}
}
