package pulsectl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

// pulsectl schemas adds versions (refusing an uncompilable or incompatible
// one unless forced), lists, shows, sets modes and settings, and audits
// every change as the OS user.
func TestCLIManagesEventSchemas(t *testing.T) {
	c := newCLI(t)
	tenant := randomTenant(t)
	c.ok("tenants", "create", tenant)
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := write("v1.json", `{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}`)
	v2 := write("v2.json", `{"type":"object","required":["n"],"properties":{"n":{"type":"string"}}}`)
	bad := write("bad.json", `{"type":"object","properties":{"n":{"type":"intger"}}}`)

	var v eventschemas.Version
	if err := json.Unmarshal([]byte(c.ok("schemas", "add", tenant, "count.changed", v1)), &v); err != nil || v.Version != 1 {
		t.Fatalf("add v1: %+v %v", v, err)
	}
	if code, _, errOut := c.run("schemas", "add", tenant, "count.changed", bad); code != 1 || !strings.Contains(errOut, "schema does not compile") {
		t.Fatalf("uncompilable: exit %d %s", code, errOut)
	}
	if code, _, errOut := c.run("schemas", "add", tenant, "count.changed", v2); code != 1 || !strings.Contains(errOut, "/data/n: type integer no longer allowed") {
		t.Fatalf("incompatible: exit %d %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(c.ok("schemas", "add", "--force", tenant, "count.changed", v2)), &v); err != nil || v.Version != 2 {
		t.Fatalf("forced v2: %+v %v", v, err)
	}
	c.ok("schemas", "set-type", "--mode", "warn", "--current-version", "1", tenant, "count.changed")
	var types []eventschemas.TypeInfo
	if err := json.Unmarshal([]byte(c.ok("schemas", "list", tenant)), &types); err != nil || len(types) != 1 ||
		*types[0].CurrentVersion != 1 || types[0].EffectiveMode != eventschemas.ModeWarn || types[0].Versions != 2 {
		t.Fatalf("list: %+v %v", types, err)
	}
	if err := json.Unmarshal([]byte(c.ok("schemas", "get", tenant, "count.changed")), &v); err != nil || v.Version != 1 || !v.Current {
		t.Fatalf("get current: %+v %v", v, err)
	}
	var s eventschemas.Settings
	if err := json.Unmarshal([]byte(c.ok("schemas", "settings", "--mode", "enforce", "--quarantine-days", "3", tenant)), &s); err != nil ||
		s.Mode != eventschemas.ModeEnforce || s.QuarantineDays != 3 {
		t.Fatalf("settings: %+v %v", s, err)
	}
	if code, _, errOut := c.run("schemas", "settings", "--mode", "strict", tenant); code != 2 || !strings.Contains(errOut, "invalid --mode") {
		t.Fatalf("bad mode: exit %d %s", code, errOut)
	}
	var entries []tenancy.AuditEntry
	if err := json.Unmarshal([]byte(c.ok("audit", "--tenant", tenant, "--format", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	want := []string{eventschemas.ActionSettingsUpdate, eventschemas.ActionTypeUpdate, eventschemas.ActionVersionCreate, eventschemas.ActionVersionCreate, tenancy.ActionTenantCreate}
	if len(entries) != len(want) {
		t.Fatalf("audit: %+v", entries)
	}
	for i, e := range entries {
		if e.Action != want[i] || e.Actor != actor {
			t.Fatalf("audit entry %d = %+v, want %s by %s", i, e, want[i], actor)
		}
	}
}
