package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A text filter of the quarantine API that PostgreSQL cannot take as text
// (a NUL character, invalid UTF-8) is a 400 invalid_parameter naming it, in
// the list's query and in a replay's body; it was a 500 (CI's API fuzz step,
// Schemathesis, sent code=...%00...).
func TestIntegrationQuarantineTextFiltersPostgreSQLCannotHoldAre400(t *testing.T) {
	e := startSchemaGateway(t)
	if got := e.listOnce(t, e.key, "type=t&code=c&subject=s&id=i&cursor=x"); len(got) != 0 {
		t.Fatalf("plain filters: %d entries", len(got))
	}
	for _, c := range []struct{ query, param string }{
		{"code=a%00b", "code"}, {"type=%00", "type"}, {"subject=%FF", "subject"}, {"id=x%C0%AF", "id"}, {"cursor=%00", "cursor"},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/quarantine?"+c.query, nil)
		req.Header.Set("Authorization", "Bearer "+e.key)
		if a := do(t, req); a.status != http.StatusBadRequest || a.errorCode() != "invalid_parameter" || parameter(a) != c.param {
			t.Errorf("GET /v1/quarantine?%s: %d %s, want 400 invalid_parameter naming %s", c.query, a.status, a.raw, c.param)
		}
	}
	for _, c := range []struct{ body, param string }{
		{`{"filter":{"code":"a\u0000b"}}`, "filter.code"}, {`{"filter":{"subject":"\u0000"}}`, "filter.subject"}, {`{"ids":["q\u0000"]}`, "ids"},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/quarantine/replay", strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		if a := do(t, req); a.status != http.StatusBadRequest || a.errorCode() != "invalid_parameter" || parameter(a) != c.param {
			t.Errorf("POST /v1/quarantine/replay %s: %d %s, want 400 invalid_parameter naming %s", c.body, a.status, a.raw, c.param)
		}
	}
}

// parameter is the parameter an error answer names.
func parameter(a answer) string {
	var b struct {
		Error struct {
			Parameter string `json:"parameter"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.raw, &b)
	return b.Error.Parameter
}
