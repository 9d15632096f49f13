package tenancy

import (
	"testing"
)

// Meter definitions through the admin API: created (201), replaced (200),
// listed, read, deleted; bad definitions are 400 naming the field; every
// change is in the audit log with the definition (and, on update, the
// previous one).
func TestAdminAPIManagesMetersAndAuditsEveryChange(t *testing.T) {
	c, admin, adminKey := adminServer(t)
	tenant := mustTenant(t, admin)
	base := "/v1/admin/tenants/" + tenant + "/meters"
	spec := map[string]any{"event_types": []string{"llm.call"}, "aggregation": "sum", "value_path": "$.usage.tokens",
		"group_by": map[string]string{"model": "$.model"}}
	if code, body := c.do("PUT", base+"/tokens", spec); code != 201 || body["slug"] != "tokens" || body["tenant_id"] != tenant {
		t.Fatalf("create: %d %v", code, body)
	}
	spec["aggregation"] = "max"
	if code, body := c.do("PUT", base+"/tokens", spec); code != 200 || body["aggregation"] != "max" {
		t.Fatalf("replace: %d %v", code, body)
	}
	if code, body := c.do("GET", base, nil); code != 200 || len(body["meters"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, body := c.do("GET", base+"/tokens", nil); code != 200 || body["value_path"] != "$.usage.tokens" {
		t.Fatalf("get: %d %v", code, body)
	}
	bad := []struct {
		path string
		body any
		code string
	}{
		{base + "/tokens", map[string]any{"event_types": []string{"x"}, "aggregation": "median", "value_path": "$.a"}, "invalid_aggregation"},
		{base + "/tokens", map[string]any{"event_types": []string{"x"}, "aggregation": "sum", "value_path": "a.b"}, "invalid_value_path"},
		{base + "/tokens", map[string]any{"event_types": []string{}, "aggregation": "count"}, "invalid_event_types"},
		{base + "/tokens", map[string]any{"event_types": []string{"x"}, "aggregation": "count", "filters": map[string][]string{"nope": {"1"}}}, "invalid_filters"},
		{base + "/tokens", map[string]any{"event_types": []string{"x"}, "aggregation": "count", "colour": "red"}, "invalid_body"},
		{base + "/Bad!", map[string]any{"event_types": []string{"x"}, "aggregation": "count"}, "invalid_slug"},
	}
	for _, b := range bad {
		if code, body := c.do("PUT", b.path, b.body); code != 400 || errCode(body) != b.code {
			t.Fatalf("PUT %s %v: %d %v, want 400 %s", b.path, b.body, code, body, b.code)
		}
	}
	if code, body := c.do("PUT", "/v1/admin/tenants/"+randomTenant(t)+"/meters/x", map[string]any{"event_types": []string{"x"}, "aggregation": "count"}); code != 404 || errCode(body) != "tenant_not_found" {
		t.Fatalf("meter of an unknown tenant: %d %v", code, body)
	}
	if code, body := c.do("DELETE", base+"/tokens", nil); code != 200 || body["aggregation"] != "max" {
		t.Fatalf("delete: %d %v", code, body)
	}
	if code, body := c.do("GET", base+"/tokens", nil); code != 404 || errCode(body) != "meter_not_found" {
		t.Fatalf("get after delete: %d %v", code, body)
	}
	if code, body := c.do("DELETE", base+"/tokens", nil); code != 404 || errCode(body) != "meter_not_found" {
		t.Fatalf("delete again: %d %v", code, body)
	}
	code, body := c.do("GET", "/v1/admin/audit?tenant="+tenant, nil)
	if code != 200 {
		t.Fatalf("audit: %d %v", code, body)
	}
	var actions []string
	for _, e := range body["entries"].([]any) {
		e := e.(map[string]any)
		if e["actor"] != "key:"+adminKey.Prefix && e["actor"] != testActor {
			t.Fatalf("audit entry by %v", e["actor"])
		}
		if e["target"] == "tokens" {
			actions = append(actions, e["action"].(string))
			d := e["details"].(map[string]any)
			if _, ok := d["definition"]; !ok {
				t.Fatalf("audit entry %v has no definition", e)
			}
			if e["action"] == ActionMeterUpdate && d["previous"].(map[string]any)["aggregation"] != "sum" {
				t.Fatalf("update entry without the previous definition: %v", d)
			}
		}
	}
	want := []string{ActionMeterDelete, ActionMeterUpdate, ActionMeterCreate}
	if len(actions) != 3 || actions[0] != want[0] || actions[1] != want[1] || actions[2] != want[2] {
		t.Fatalf("meter audit actions %v, want %v", actions, want)
	}
}
