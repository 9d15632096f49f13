package app_test

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/query/app"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
)

// injections are SQL and ClickHouse injection strings; each is sent in every
// filter of every endpoint.
var injections = []string{
	`' OR '1'='1`, `'; DROP TABLE events; --`, `" OR ""="`, `1) OR (1=1`, `%' OR 1=1 --`, `\'`, `$1`,
	`x' UNION SELECT tenant_id, external_id FROM events --`,
	`' OR 1=1 FORMAT JSON --`, `x') SETTINGS max_execution_time=1 --`, `{tenant:String}`,
	`' || (SELECT name FROM system.tables LIMIT 1) || '`, "x' /* c */ OR 1=1", `x\' OR 1=1 --`,
}

// storedInjection is an event of tenant A whose id and attributes are
// injection strings: the filters must find it by exactly these values.
const storedInjection = `x' OR '1'='1`

type queryAnswer struct {
	status int
	body   string
}

func (a queryAnswer) code() string {
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.body), &b)
	return b.Error.Code
}

// ids lists the events of a search answer.
func (a queryAnswer) ids() []string {
	var b struct {
		Events []struct{ ID string } `json:"events"`
	}
	_ = json.Unmarshal([]byte(a.body), &b)
	var out []string
	for _, e := range b.Events {
		out = append(out, e.ID)
	}
	return out
}

// TestInjectionStringsInEveryFilterAreDataNeverSQL runs the query service
// (New: real keys, PostgreSQL, ClickHouse) over two tenants' events, one of
// them stored with injection strings as id, type, source, subject and data,
// and sends every injection string in every filter: answers are 200 with
// exactly the matching events of the caller's tenant, or the documented 400
// or 404, never a 5xx and never another tenant's event.
func TestInjectionStringsInEveryFilterAreDataNeverSQL(t *testing.T) {
	pool := querytest.Postgres(t)
	ch := querytest.ClickHouse(t)
	tenantA, tenantB := querytest.Tenant(t), querytest.Tenant(t)
	key := tenancytest.New(t, pool, tenantA, tenancy.TenantSettings{}).Key(tenancy.ScopeQuery)
	now := time.Now().UTC().Truncate(time.Millisecond).Add(-10 * time.Minute)
	rows := []querytest.Row{
		{Tenant: tenantA, ID: storedInjection, Type: storedInjection, Source: storedInjection, Subject: storedInjection, Time: now, Data: map[string]any{"k": storedInjection}, Offset: 1},
		{Tenant: tenantA, ID: "plain", Type: "plain.t", Source: "/plain", Time: now, Data: map[string]any{"k": "v"}, Offset: 2},
		{Tenant: tenantB, ID: "b-secret", Type: "b.secret", Source: "/b", Subject: "b", Time: now, Data: map[string]any{"k": "b"}, Offset: 3},
	}
	querytest.InsertPG(t, pool, rows)
	querytest.InsertCH(t, ch, rows)
	a, err := app.New(parse(t), slog.New(slog.DiscardHandler), observe.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	defer stop()
	base := "http://" + a.PublicAddr()
	ask := func(path string) queryAnswer {
		st, body := get(t, base+path, key.Key)
		return queryAnswer{st, body}
	}
	check := func(t *testing.T, path string, a queryAnswer, status int, code string) {
		t.Helper()
		if a.status >= 500 || a.status != status || (code != "" && a.code() != code) {
			t.Errorf("%s: got %d %.200s, want %d %s", path, a.status, a.body, status, code)
		}
		if strings.Contains(a.body, "b-secret") || strings.Contains(a.body, "b.secret") {
			t.Errorf("%s: tenant B's event in tenant A's answer: %.300s", path, a.body)
		}
	}
	q := url.QueryEscape
	for _, inj := range append(injections, storedInjection) {
		hit := inj == storedInjection
		want := 0
		if hit {
			want = 1
		}
		// string filters of the search: matched as values
		for _, param := range []string{"type", "source", "subject", "data.k"} {
			p := "/v1/events?" + param + "=" + q(inj)
			ans := ask(p)
			check(t, p, ans, 200, "")
			if ids := ans.ids(); len(ids) != want || (hit && ids[0] != storedInjection) {
				t.Errorf("%s: events %v, want %d (the stored one)", p, ids, want)
			}
		}
		dataFilter, _ := json.Marshal(map[string]string{"k": inj})
		p := "/v1/events?data=" + q(string(dataFilter))
		ans := ask(p)
		check(t, p, ans, 200, "")
		if len(ans.ids()) != want {
			t.Errorf("%s: events %v, want %d", p, ans.ids(), want)
		}
		// parameters with a grammar: a 400 naming the code
		for _, c := range []struct{ path, code string }{
			{"/v1/events?data=" + q(inj), "invalid_data_filter"},
			{"/v1/events?order=" + q(inj), "invalid_parameter"},
			{"/v1/events?limit=" + q(inj), "invalid_parameter"},
			{"/v1/events?from=" + q(inj), "invalid_parameter"},
			{"/v1/events?to=" + q(inj), "invalid_parameter"},
			{"/v1/events?cursor=" + q(inj), "invalid_cursor"},
			{"/v1/events?" + q(inj) + "=1", "unknown_parameter"},
			{"/v1/stats?interval=" + q(inj), "invalid_parameter"},
			{"/v1/stats?group_by=" + q(inj), "invalid_parameter"},
			{"/v1/stats?top=" + q(inj), "invalid_parameter"},
			{"/v1/stats?from=" + q(inj), "invalid_parameter"},
		} {
			check(t, c.path, ask(c.path), 400, c.code)
		}
		// statistics filters: counted as values
		for _, param := range []string{"type", "source", "subject"} {
			p := "/v1/stats?" + param + "=" + q(inj)
			ans := ask(p)
			check(t, p, ans, 200, "")
			var st struct{ Total int }
			if err := json.Unmarshal([]byte(ans.body), &st); err != nil || st.Total != want {
				t.Errorf("%s: total %d (%v), want %d", p, st.Total, err, want)
			}
		}
		// ids in paths: the stored one is found, anything else is a 404
		for _, suffix := range []string{"", "/status"} {
			p := "/v1/events/" + url.PathEscape(inj) + suffix
			if hit {
				check(t, p, ask(p), 200, "")
			} else {
				check(t, p, ask(p), 404, "not_found")
			}
		}
	}
	// path traversal in ids: never leaves the tenant's events
	for _, p := range []string{
		"/v1/events/..%2F..%2Fv1%2Fstats", "/v1/events/..%2Fb-secret", "/v1/events/%2E%2E/%2E%2E/b-secret",
		"/v1/events/..%5C..%5Cetc%5Cpasswd", "/v1/events/b-secret%00", "/v1/events/b-secret/status",
	} {
		ans := ask(p)
		if ans.status != 404 && ans.status != 400 {
			t.Errorf("%s: %d %.200s, want 404 or 400", p, ans.status, ans.body)
		}
		check(t, p, ans, ans.status, "")
	}
}
