package eventschemas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/tenancy"
)

func migrated(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return migratetest.PostgresPool(t)
}

func newTenant(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "sch-" + hex.EncodeToString(b[:])
	if _, err := tenancy.NewAdmin(tenancy.NewPGStore(pool)).CreateTenant(context.Background(), "cli:test", id, tenancy.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	return id
}

func auditCount(t *testing.T, pool *pgxpool.Pool, tenant, action string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2`, tenant, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Versions are numbered from 1, the newest is current, an incompatible one
// is refused unless forced, every change is audited, and another tenant
// sees none of it.
func TestRegistryVersionsCompatibilityAndAudit(t *testing.T) {
	pool := migrated(t)
	r := NewRegistry(pool)
	ctx := context.Background()
	a, b := newTenant(t, pool), newTenant(t, pool)

	v1, err := r.AddVersion(ctx, "cli:test", a, "order.created", []byte(orderV1), false)
	if err != nil || v1.Version != 1 || !v1.Current {
		t.Fatalf("v1: %+v %v", v1, err)
	}
	narrowed := strings.Replace(orderV1, `"order_id":{"type":"string"}`, `"order_id":{"type":"integer"}`, 1)
	_, err = r.AddVersion(ctx, "cli:test", a, "order.created", []byte(narrowed), false)
	var ie *IncompatibleError
	if !errors.As(err, &ie) || len(ie.Problems) != 1 {
		t.Fatalf("incompatible version: %v", err)
	}
	v2, err := r.AddVersion(ctx, "cli:test", a, "order.created", []byte(narrowed), true)
	if err != nil || v2.Version != 2 || len(v2.Warnings) != 1 {
		t.Fatalf("forced v2: %+v %v", v2, err)
	}
	if _, err := r.AddVersion(ctx, "cli:test", a, "order.created", []byte(`{"type":12}`), false); !errors.As(err, new(*CompileError)) {
		t.Fatalf("uncompilable: %v", err)
	}
	vs, err := r.Versions(ctx, a, "order.created")
	if err != nil || len(vs) != 2 || vs[0].Current || !vs[1].Current {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	if got := auditCount(t, pool, a, ActionVersionCreate); got != 2 {
		t.Fatalf("%d audit entries of versions, want 2 (refusals write none)", got)
	}
	// Roll back to v1 and make the type warn-only.
	warn := "warn"
	one := 1
	ti, err := r.UpdateType(ctx, "cli:test", a, "order.created", TypePatch{Mode: &warn, CurrentVersion: &one})
	if err != nil || *ti.CurrentVersion != 1 || ti.EffectiveMode != ModeWarn {
		t.Fatalf("update type: %+v %v", ti, err)
	}
	nine := 9
	if _, err := r.UpdateType(ctx, "cli:test", a, "order.created", TypePatch{CurrentVersion: &nine}); !errors.Is(err, ErrVersionNotFound) {
		t.Fatalf("current version 9: %v", err)
	}
	enforce, days := "enforce", 3
	if _, err := r.UpdateSettings(ctx, "cli:test", a, SettingsPatch{Mode: &enforce, QuarantineDays: &days}); err != nil {
		t.Fatal(err)
	}
	rules, err := r.LoadRules(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	ra := rules[a]
	if ra == nil || ra.Settings.Mode != ModeEnforce || ra.Settings.QuarantineDays != 3 || ra.ModeOf("order.created") != ModeWarn ||
		ra.Types["order.created"].Version != 1 || ra.ModeOf("other") != ModeEnforce {
		t.Fatalf("rules of %s: %+v", a, ra)
	}
	all, err := r.LoadRules(ctx, "")
	if err != nil || all[a] == nil || all[b] != nil {
		t.Fatalf("all rules: tenant a %v, tenant b %v (%v)", all[a], all[b], err)
	}
	if ts, err := r.Types(ctx, b); err != nil || len(ts) != 0 {
		t.Fatalf("tenant b sees types %+v (%v)", ts, err)
	}
	if _, err := r.Get(ctx, b, "order.created", 0); !errors.Is(err, ErrVersionNotFound) {
		t.Fatalf("tenant b reads a's schema: %v", err)
	}
	if _, err := r.AddVersion(ctx, "cli:test", "no-such-tenant", "x", []byte(`{}`), false); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// The admin API: 201 with the version, 400 naming the compile problem, 409
// on an incompatible version unless forced, 404s, settings round trip.
func TestAdminRoutes(t *testing.T) {
	pool := migrated(t)
	tenant := newTenant(t, pool)
	store := tenancy.NewPGStore(pool)
	admin := tenancy.NewAdmin(store)
	ctx := context.Background()
	if _, _, err := admin.EnsureTenant(ctx, "cli:test", tenancy.OperatorTenant, tenancy.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateKey(ctx, "cli:test", tenancy.OperatorTenant, tenancy.KeySpec{Name: "schemas-test", Scopes: []tenancy.Scope{tenancy.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	h := tenancy.AdminHandler(admin, tenancy.NewCachedAuthenticator(store, 0, nil), httpapi.NewMetrics(prometheus.NewRegistry(), "test"), logger,
		AdminRoutes(NewRegistry(pool), logger))
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(method, "/v1/admin/tenants/"+tenant+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw, _ := io.ReadAll(rec.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return rec.Code, out
	}
	errCode := func(out map[string]any) string {
		e, _ := out["error"].(map[string]any)
		s, _ := e["code"].(string)
		return s
	}
	if code, out := call("POST", "/schemas/order.created/versions", `{"schema":`+orderV1+`}`); code != http.StatusCreated || out["version"] != 1.0 {
		t.Fatalf("create: %d %v", code, out)
	}
	code, out := call("POST", "/schemas/order.created/versions", `{"schema":{"type":"object","properties":{"a":{"type":"strin"}}}}`)
	if code != http.StatusBadRequest || errCode(out) != CodeSchemaInvalid || !strings.Contains(out["error"].(map[string]any)["message"].(string), "/properties/a/type") {
		t.Fatalf("uncompilable: %d %v", code, out)
	}
	narrowed := strings.Replace(orderV1, `"amount":{"type":"integer"}`, `"amount":{"type":"string"}`, 1)
	if code, out := call("POST", "/schemas/order.created/versions", `{"schema":`+narrowed+`}`); code != http.StatusConflict || errCode(out) != CodeSchemaIncompatible {
		t.Fatalf("incompatible: %d %v", code, out)
	}
	if code, out := call("POST", "/schemas/order.created/versions", `{"schema":`+narrowed+`,"force":true}`); code != http.StatusCreated || out["version"] != 2.0 {
		t.Fatalf("forced: %d %v", code, out)
	}
	if code, out := call("GET", "/schemas/order.created/versions/current", ""); code != http.StatusOK || out["version"] != 2.0 {
		t.Fatalf("current: %d %v", code, out)
	}
	if code, out := call("GET", "/schemas/order.created/versions/7", ""); code != http.StatusNotFound || errCode(out) != CodeVersionNotFound {
		t.Fatalf("v7: %d %v", code, out)
	}
	if code, out := call("GET", "/schemas/nothing/versions", ""); code != http.StatusNotFound || errCode(out) != CodeTypeNotFound {
		t.Fatalf("unknown type: %d %v", code, out)
	}
	if code, out := call("PATCH", "/schema-settings", `{"mode":"strict"}`); code != http.StatusBadRequest || errCode(out) != "invalid_mode" {
		t.Fatalf("bad mode: %d %v", code, out)
	}
	if code, out := call("PATCH", "/schema-settings", `{"mode":"enforce","quarantine_invalid":true}`); code != http.StatusOK || out["mode"] != "enforce" || out["quarantine_invalid"] != true {
		t.Fatalf("settings: %d %v", code, out)
	}
	if code, out := call("PATCH", "/schemas/order.created", `{"mode":"warn"}`); code != http.StatusOK || out["effective_mode"] != "warn" {
		t.Fatalf("type mode: %d %v", code, out)
	}
	if code, out := call("GET", "/schemas", ""); code != http.StatusOK || len(out["types"].([]any)) != 1 {
		t.Fatalf("types: %d %v", code, out)
	}
	if n := auditCount(t, pool, tenant, ActionSettingsUpdate) + auditCount(t, pool, tenant, ActionTypeUpdate) + auditCount(t, pool, tenant, ActionVersionCreate); n != 4 {
		t.Fatalf("%d audit entries, want 4", n)
	}
}
