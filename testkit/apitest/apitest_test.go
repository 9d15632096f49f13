package apitest

import (
	"slices"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestEveryDocumentIsReadAndListsOperations(t *testing.T) {
	for _, doc := range []string{"openapi/gateway.yaml", "openapi/query.yaml", "openapi/admin.yaml"} {
		ops, err := DocumentedOperations(doc)
		if err != nil || len(ops) == 0 {
			t.Errorf("%s: %v operations, err %v", doc, len(ops), err)
		}
	}
	if _, err := DocumentedOperations("openapi/missing.yaml"); err == nil {
		t.Error("a missing document is not an error")
	}
}

func TestGinParametersAreSpelledTheOpenAPIWay(t *testing.T) {
	got := ServedOperations(gin.RoutesInfo{{Method: "GET", Path: "/v1/events/:id/status"}, {Method: "DELETE", Path: "/files/*path"}})
	want := []string{"DELETE /files/{path}", "GET /v1/events/{id}/status"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
