package pulsectl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/tenancy"
)

func TestCLIManagesMetersAndAuditsThem(t *testing.T) {
	c := newCLI(t)
	tenant := randomTenant(t)
	c.ok("tenants", "create", tenant)
	def := `{"event_types":["llm.call"],"aggregation":"unique_count","value_path":"$.user","group_by":{"country":"$.geo.country"}}`
	if out := c.ok("meters", "put", "--tenant", tenant, "--definition", def, "users"); !strings.Contains(out, "unique_count") || !strings.Contains(out, "country=$.geo.country") {
		t.Fatalf("put printed %q", out)
	}
	file := filepath.Join(t.TempDir(), "calls.json")
	if err := os.WriteFile(file, []byte(`{"event_types":["llm.call"],"aggregation":"count"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("meters", "put", "--tenant", tenant, "--file", file, "calls")
	var ms []tenancy.Meter
	if err := json.Unmarshal([]byte(c.ok("meters", "list", "--tenant", tenant, "--format", "json")), &ms); err != nil || len(ms) != 2 || ms[0].Slug != "calls" || ms[1].ValuePath != "$.user" {
		t.Fatalf("list: %v %+v", err, ms)
	}
	code, _, errOut := c.run("meters", "put", "--tenant", tenant, "--definition", `{"event_types":["x"],"aggregation":"median","value_path":"$.a"}`, "bad")
	if code != 2 || !strings.Contains(errOut, "invalid meter definition, field aggregation") {
		t.Fatalf("bad definition: exit %d, %q", code, errOut)
	}
	code, _, errOut = c.run("meters", "put", "--tenant", tenant, "--definition", `{"event_types":["x"],"aggregation":"count","colour":1}`, "bad")
	if code != 2 || !strings.Contains(errOut, "colour") {
		t.Fatalf("unknown field: exit %d, %q", code, errOut)
	}
	c.ok("meters", "delete", "--tenant", tenant, "users")
	code, _, errOut = c.run("meters", "get", "--tenant", tenant, "users")
	if code != 1 || !strings.Contains(errOut, `has no meter "users"`) {
		t.Fatalf("get deleted meter: exit %d, %q", code, errOut)
	}
	audit := c.ok("audit", "--tenant", tenant)
	for _, a := range []string{tenancy.ActionMeterCreate, tenancy.ActionMeterDelete} {
		if !strings.Contains(audit, a) || !strings.Contains(audit, actor) {
			t.Fatalf("audit log lacks %s by %s:\n%s", a, actor, audit)
		}
	}
}
