// Package apitest is test support shared by the HTTP services: it checks
// that a gin router serves exactly the operations an OpenAPI document in
// schemas/openapi describes, so an API and its documentation cannot drift.
package apitest

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/pulsestream/pulsestream/schemas"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// DocumentedOperations lists "METHOD /path/{param}" for every operation of
// the OpenAPI 3 document at path inside schemas.OpenAPI (e.g. "openapi/query.yaml").
func DocumentedOperations(path string) ([]string, error) {
	raw, err := fs.ReadFile(schemas.OpenAPI, path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("%s: openapi version %q, want 3.x", path, doc.OpenAPI)
	}
	var ops []string
	for p, item := range doc.Paths {
		for method := range item {
			if slices.Contains(httpMethods, method) {
				ops = append(ops, strings.ToUpper(method)+" "+p)
			}
		}
	}
	slices.Sort(ops)
	return ops, nil
}

// ServedOperations lists the router's routes in OpenAPI's spelling
// (":id" and "*id" become "{id}").
func ServedOperations(routes gin.RoutesInfo) []string {
	var ops []string
	for _, rt := range routes {
		ops = append(ops, rt.Method+" "+ginParam.ReplaceAllString(rt.Path, "{$1}"))
	}
	slices.Sort(ops)
	return ops
}

// RoutesMatchDocument fails t unless routes are exactly the operations of
// the OpenAPI document at path.
func RoutesMatchDocument(t testing.TB, path string, routes gin.RoutesInfo) {
	t.Helper()
	documented, err := DocumentedOperations(path)
	if err != nil {
		t.Fatal(err)
	}
	served := ServedOperations(routes)
	if !slices.Equal(documented, served) {
		t.Fatalf("routes differ from %s\nserved:     %v\ndocumented: %v", path, served, documented)
	}
}
