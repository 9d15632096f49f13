package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/services/gateway/quarantine"
	"github.com/pulsestream/pulsestream/services/gateway/schemacheck"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// orderSchema is a realistic schema: 10 properties, a nested object, enums.
const orderSchema = `{"type":"object","required":["order_id","amount","currency","customer"],"properties":{
	"order_id":{"type":"string","minLength":1},"amount":{"type":"integer","minimum":0},"currency":{"enum":["EUR","USD","GBP"]},
	"status":{"enum":["new","paid","shipped"]},"items":{"type":"integer"},"coupon":{"type":"string"},"gift":{"type":"boolean"},
	"channel":{"enum":["web","app","store"]},"note":{"type":"string","maxLength":200},
	"customer":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"email":{"type":"string","format":"email"},"tier":{"enum":["gold","silver"]}}}}}`

// orderSchemaV2 also takes amounts sent as strings: compatible with v1.
var orderSchemaV2 = strings.Replace(orderSchema, `"amount":{"type":"integer","minimum":0}`, `"amount":{"type":["integer","string"]}`, 1)

const pageSchema = `{"type":"object","required":["url"],"properties":{"url":{"type":"string"}}}`

// schemaEnv is a real gateway (New: PostgreSQL keys and schemas, Kafka,
// Redis) and the registry it follows.
type schemaEnv struct {
	hostileEnv
	pool *pgxpool.Pool
	reg  *eventschemas.Registry
}

func startSchemaGateway(t *testing.T) schemaEnv {
	t.Helper()
	env := startRealGateway(t, slog.New(slog.DiscardHandler), tenancy.TenantSettings{}, func(c *Config) { c.Producer.EnsureTopics = true })
	pool, err := pgxpool.New(context.Background(), testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return schemaEnv{hostileEnv: env, pool: pool, reg: eventschemas.NewRegistry(pool)}
}

// until waits for the gateway to apply what cond checks (NOTIFY: milliseconds).
func (e schemaEnv) until(t *testing.T, what string, cond func(c *schemacheck.Checker) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // milliseconds, unless the machine is loaded
	for !cond(e.app.schemas.checker) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not apply %s within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e schemaEnv) send(t *testing.T, key, contentType string, body string) answer {
	t.Helper()
	g := &testGateway{url: e.url}
	return g.post(t, key, contentType, []byte(body))
}

// list pages GET /v1/quarantine?q with key until want entries are there (the
// projection is asynchronous) and returns them.
func (e schemaEnv) list(t *testing.T, key, q string, want int) []quarantine.Entry {
	t.Helper()
	var got []quarantine.Entry
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = e.listOnce(t, key, q)
		if len(got) == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != want {
		t.Fatalf("GET /v1/quarantine?%s: %d entries, want %d", q, len(got), want)
	}
	return got
}

func (e schemaEnv) listOnce(t *testing.T, key, q string) []quarantine.Entry {
	t.Helper()
	var all []quarantine.Entry
	cursor := ""
	for {
		var page quarantine.ListResponse
		u := e.url + "/v1/quarantine?" + q
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		if code := getJSON(t, key, u, &page); code != http.StatusOK {
			t.Fatalf("GET %s: %d", u, code)
		}
		all = append(all, page.Entries...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func getJSON(t *testing.T, key, u string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	a := do(t, req)
	if err := json.Unmarshal(a.raw, out); err != nil {
		t.Fatalf("GET %s: %d %s", u, a.status, a.raw)
	}
	return a.status
}

func (e schemaEnv) replay(t *testing.T, key, body string) quarantine.ReplayReport {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/quarantine/replay", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	a := do(t, req)
	var rep quarantine.ReplayReport
	if a.status != http.StatusOK || json.Unmarshal(a.raw, &rep) != nil {
		t.Fatalf("replay %s: %d %s", body, a.status, a.raw)
	}
	return rep
}

func order(id, amount string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":"order.created","source":"/shop","subject":"cust-1","data":{"order_id":%q,"amount":%s,"currency":"EUR","customer":{"id":"c1","email":"c1@example.com"}}}`, id, id, amount)
}

// The modes answer per event in one mixed batch; what enforce rejects is in
// the quarantine (reason, version, bytes as sent) for this tenant only; a
// schema fix and a replay ingest exactly the events that now pass, once.
func TestIntegrationSchemaModesQuarantineAndReplay(t *testing.T) {
	e := startSchemaGateway(t)
	ctx := context.Background()
	tenant := e.tenant.ID
	other := tenancytest.New(t, e.pool, "gw-other-"+randomID(t), tenancy.TenantSettings{})
	otherKey := other.Key(tenancy.ScopeIngest).Key
	enforce, warn, off := "enforce", "warn", "off"
	for _, step := range []func() error{
		func() error {
			_, err := e.reg.AddVersion(ctx, "cli:test", tenant, "order.created", []byte(orderSchema), false)
			return err
		},
		func() error {
			_, err := e.reg.AddVersion(ctx, "cli:test", tenant, "page.viewed", []byte(pageSchema), false)
			return err
		},
		func() error {
			_, err := e.reg.UpdateType(ctx, "cli:test", tenant, "page.viewed", eventschemas.TypePatch{Mode: &warn})
			return err
		},
		func() error {
			_, err := e.reg.UpdateType(ctx, "cli:test", tenant, "debug.log", eventschemas.TypePatch{Mode: &off})
			return err
		},
		func() error {
			_, err := e.reg.UpdateSettings(ctx, "cli:test", tenant, eventschemas.SettingsPatch{Mode: &enforce})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	e.until(t, "enforce mode", func(c *schemacheck.Checker) bool {
		r := c.Rules(tenant)
		return r != nil && r.Settings.Mode == eventschemas.ModeEnforce && len(r.Types) == 3
	})

	violating := order("o-2", `"12"`)
	unknown := `{"specversion":"1.0","id":"u-1","type":"user.signed_up","source":"/auth","data":{"name":"x"}}`
	body := "[" + strings.Join([]string{
		order("o-1", "12"),
		violating,
		unknown,
		`{"specversion":"1.0","id":"p-1","type":"page.viewed","data":{"url":7}}`,
		`{"specversion":"1.0","id":"d-1","type":"debug.log","data":"anything"}`,
		`{"specversion":"1.0","type":"order.created","data":{}}`,
	}, ",") + "]"
	a := e.send(t, e.key, "application/json", body)
	if a.status != http.StatusMultiStatus || a.body.Accepted != 3 || a.body.Rejected != 3 {
		t.Fatalf("mixed batch: %d %s", a.status, a.raw)
	}
	type want struct {
		status, code, pointer string
		version               int
		quarantined           bool
	}
	for i, w := range []want{
		{status: ingest.StatusAccepted},
		{status: ingest.StatusRejected, code: schemacheck.CodeSchemaViolation, pointer: "/data/amount", version: 1, quarantined: true},
		{status: ingest.StatusRejected, code: schemacheck.CodeUnknownType, pointer: "/type", quarantined: true},
		{status: ingest.StatusAccepted},
		{status: ingest.StatusAccepted},
		{status: ingest.StatusRejected, code: decode.CodeMissingID}, // quarantine_invalid is off
	} {
		r := a.body.Results[i]
		if r.Status != w.status || r.Code != w.code || r.Pointer != w.pointer || r.SchemaVersion != w.version || (r.QuarantineID != "") != w.quarantined {
			t.Errorf("event %d: %+v, want %+v", i, r, w)
		}
	}
	if ws := a.body.Results[3].Warnings; len(ws) != 1 || ws[0].Code != schemacheck.CodeSchemaViolation || ws[0].Pointer != "/data/url" || ws[0].SchemaVersion != 1 {
		t.Errorf("warn mode: warnings %+v", ws)
	}

	entries := e.list(t, e.key, "limit=1", 2) // two pages through the keyset cursor
	byID := map[string]quarantine.Entry{}
	for _, en := range entries {
		byID[en.ID] = en
	}
	if en := byID["o-2"]; en.Code != schemacheck.CodeSchemaViolation || en.Pointer != "/data/amount" || en.SchemaVersion == nil || *en.SchemaVersion != 1 ||
		string(en.Original) != violating || en.Subject != "cust-1" || en.State != quarantine.StateQuarantined {
		t.Errorf("quarantined o-2: %+v", en)
	}
	if en := byID["u-1"]; en.Code != schemacheck.CodeUnknownType || string(en.Original) != unknown {
		t.Errorf("quarantined u-1: %+v", en)
	}
	if got := e.listOnce(t, e.key, "code=unknown_type"); len(got) != 1 || got[0].ID != "u-1" {
		t.Errorf("filter by code: %+v", got)
	}
	if got := e.listOnce(t, otherKey, ""); len(got) != 0 {
		t.Errorf("another tenant lists %d entries", len(got))
	}
	if rep := e.replay(t, otherKey, `{"filter":{}}`); rep.Selected != 0 {
		t.Errorf("another tenant replays %+v", rep)
	}
	// Replayed before the fix: still violates, stays quarantined.
	if rep := e.replay(t, e.key, `{"ids":["`+byID["o-2"].QuarantineID+`"]}`); rep.Selected != 1 || rep.Rejected != 1 || rep.Results[0].Code != schemacheck.CodeSchemaViolation {
		t.Fatalf("replay before the fix: %+v", rep)
	}

	// The fix: v2 takes amounts as strings.
	if _, err := e.reg.AddVersion(ctx, "cli:test", tenant, "order.created", []byte(orderSchemaV2), false); err != nil {
		t.Fatal(err)
	}
	e.until(t, "version 2", func(c *schemacheck.Checker) bool { return c.Version(tenant, "order.created") == 2 })
	before := topicRecords(t, e.brokers, e.topic)
	rep := e.replay(t, e.key, `{"filter":{}}`)
	if rep.Selected != 2 || rep.Accepted != 1 || rep.Duplicate != 0 || rep.Rejected != 1 {
		t.Fatalf("replay after the fix: %+v", rep)
	}
	again := e.replay(t, e.key, `{"filter":{}}`)
	if again.Selected != 1 || again.Accepted != 0 || again.Rejected != 1 || again.Results[0].ID != "u-1" {
		t.Fatalf("second replay: %+v", again)
	}
	if n := topicRecords(t, e.brokers, e.topic) - before; n != 1 {
		t.Fatalf("%d records produced by two replays, want 1", n)
	}
	if got := e.listOnce(t, e.key, "state=replayed"); len(got) != 1 || got[0].ID != "o-2" || got[0].IngestID == nil {
		t.Fatalf("replayed entries: %+v", got)
	}
	// The same event sent again is a duplicate of the replayed one.
	if a := e.send(t, e.key, "application/json", violating); a.status != http.StatusOK || a.body.Duplicate != 1 {
		t.Fatalf("resent replayed event: %d %s", a.status, a.raw)
	}
}

// With quarantine_invalid, events the envelope checks refuse are
// quarantined too, with their bytes as sent; entries older than the
// tenant's quarantine_days are not listed and the sweep deletes them.
func TestIntegrationQuarantineInvalidAndExpiry(t *testing.T) {
	e := startSchemaGateway(t)
	ctx := context.Background()
	tenant := e.tenant.ID
	yes := true
	if _, err := e.reg.UpdateSettings(ctx, "cli:test", tenant, eventschemas.SettingsPatch{QuarantineInvalid: &yes}); err != nil {
		t.Fatal(err)
	}
	e.until(t, "quarantine_invalid", func(c *schemacheck.Checker) bool {
		r := c.Rules(tenant)
		return r != nil && r.Settings.QuarantineInvalid
	})
	lines := []string{`{"specversion":"1.0","type":"x","data":1}`, `{"id":"bad-json",`, `{"specversion":"1.0","id":"ok","type":"x"}`}
	a := e.send(t, e.key, "application/x-ndjson", strings.Join(lines, "\n"))
	if a.status != http.StatusMultiStatus || a.body.Results[0].QuarantineID == "" || a.body.Results[1].QuarantineID == "" {
		t.Fatalf("invalid events: %d %s", a.status, a.raw)
	}
	entries := e.list(t, e.key, "", 2)
	originals := map[string]bool{}
	for _, en := range entries {
		originals[string(en.Original)] = true
	}
	if !originals[lines[0]] || !originals[lines[1]] {
		t.Fatalf("originals %v", originals)
	}
	// Age one entry past the default 7 days.
	if _, err := e.pool.Exec(ctx, `UPDATE quarantine SET received_at = now() - interval '8 days' WHERE tenant_id = $1 AND id = $2`, tenant, entries[0].QuarantineID); err != nil {
		t.Fatal(err)
	}
	if got := e.listOnce(t, e.key, ""); len(got) != 1 {
		t.Fatalf("expired entry listed: %d entries", len(got))
	}
	days := 30
	if _, err := e.reg.UpdateSettings(ctx, "cli:test", tenant, eventschemas.SettingsPatch{QuarantineDays: &days}); err != nil {
		t.Fatal(err)
	}
	if got := e.listOnce(t, e.key, ""); len(got) != 2 {
		t.Fatalf("with 30 days: %d entries, want 2", len(got))
	}
	if _, err := quarantine.NewPGStore(e.pool).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, e.pool, tenant); n != 2 {
		t.Fatalf("sweep with 30 days left %d rows, want 2", n)
	}
	days = 7
	if _, err := e.reg.UpdateSettings(ctx, "cli:test", tenant, eventschemas.SettingsPatch{QuarantineDays: &days}); err != nil {
		t.Fatal(err)
	}
	if _, err := quarantine.NewPGStore(e.pool).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, e.pool, tenant); n != 1 {
		t.Fatalf("sweep with 7 days left %d rows, want 1", n)
	}
}

func countRows(t *testing.T, pool *pgxpool.Pool, tenant string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM quarantine WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIntegrationREADMESchemaExamplesWork runs the README's schema, curl
// and replay examples, as written, against a real gateway.
func TestIntegrationREADMESchemaExamplesWork(t *testing.T) {
	e := startSchemaGateway(t)
	ctx := context.Background()
	tenant := e.tenant.ID
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := strings.Cut(string(readme), "cat > order.json <<'JSON'\n")
	doc, _, _ = strings.Cut(doc, "\nJSON\n")
	enforce := "enforce"
	if _, err := e.reg.AddVersion(ctx, "cli:test", tenant, "order.created", []byte(doc), false); err != nil {
		t.Fatalf("README schema: %v", err)
	}
	if _, err := e.reg.UpdateSettings(ctx, "cli:test", tenant, eventschemas.SettingsPatch{Mode: &enforce}); err != nil {
		t.Fatal(err)
	}
	e.until(t, "the README's schema", func(c *schemacheck.Checker) bool {
		r := c.Rules(tenant)
		return r != nil && r.Settings.Mode == eventschemas.ModeEnforce && c.Version(tenant, "order.created") == 1
	})
	settings := fmt.Sprintf("KEY=%s URL=%s\n", e.key, e.url)
	script := readmeBlock(t, "schemas-curl")
	first, rest, _ := strings.Cut(script, "\n")
	if !strings.HasPrefix(first, "KEY=") {
		t.Fatalf("the curl example should start with its settings, got %q", first)
	}
	ingestCmd, listCmd, ok := strings.Cut(rest, "curl -sS \"$URL/v1/quarantine")
	if !ok {
		t.Fatal("the curl example has no quarantine listing")
	}
	run := func(script string) []byte {
		t.Helper()
		out, err := exec.Command("bash", "-euo", "pipefail", "-c", settings+script).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	var resp ingest.Response
	if out := run(ingestCmd); json.Unmarshal(out, &resp) != nil || resp.Accepted != 1 || resp.Rejected != 2 ||
		resp.Results[1].Code != schemacheck.CodeSchemaViolation || resp.Results[1].Pointer != "/data/amount" || resp.Results[1].QuarantineID == "" ||
		resp.Results[2].Code != schemacheck.CodeUnknownType {
		t.Fatalf("README batch: %+v", resp)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var page quarantine.ListResponse
		out := run("curl -sS \"$URL/v1/quarantine" + listCmd)
		if json.Unmarshal(out, &page) == nil && len(page.Entries) == 1 && page.Entries[0].ID == "order-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("README listing: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fixed := strings.Replace(doc, `"amount":{"type":"integer","minimum":0}`, `"amount":{"type":["integer","string"]}`, 1)
	if fixed == doc {
		t.Fatal("the README's schema changed: update this test's fix")
	}
	if _, err := e.reg.AddVersion(ctx, "cli:test", tenant, "order.created", []byte(fixed), false); err != nil {
		t.Fatal(err)
	}
	e.until(t, "version 2", func(c *schemacheck.Checker) bool { return c.Version(tenant, "order.created") == 2 })
	var rep quarantine.ReplayReport
	if out := run(readmeBlock(t, "schemas-replay")); json.Unmarshal(out, &rep) != nil || rep.Selected != 1 || rep.Accepted != 1 {
		t.Fatalf("README replay: %s", out)
	}
}
