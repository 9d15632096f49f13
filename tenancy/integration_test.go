package tenancy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for goose
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
)

// pgStore migrates the test database (once per test binary) and returns a
// store on a pool closed at the end of the test.
func pgStore(t *testing.T) (*PGStore, *pgxpool.Pool) {
	t.Helper()
	pool := migratetest.PostgresPool(t)
	return NewPGStore(pool), pool
}

// randomTenant returns a tenant id no other test uses.
func randomTenant(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "t-" + hex.EncodeToString(b[:])
}

const testActor = "cli:tenancy-test"

func mustTenant(t *testing.T, admin *Admin) string {
	t.Helper()
	id := randomTenant(t)
	if _, err := admin.CreateTenant(context.Background(), testActor, id, TenantSettings{}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return id
}

func mustKey(t *testing.T, admin *Admin, tenant string, spec KeySpec) CreatedKey {
	t.Helper()
	if spec.Scopes == nil {
		spec.Scopes = []Scope{ScopeIngest, ScopeQuery}
	}
	k, err := admin.CreateKey(context.Background(), testActor, tenant, spec)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return k
}

// get sends GET /x to router with key from remote and returns the status
// and error code.
func get(t *testing.T, router http.Handler, key, remote string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if remote != "" {
		req.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	router.ServeHTTP(w, req)
	var body apierror.Body
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body.Error.Code
}

func TestCreatedKeyAuthenticatesAgainstPostgres(t *testing.T) {
	store, _ := pgStore(t)
	auth := NewCachedAuthenticator(store, time.Second, prometheus.NewRegistry())
	admin := NewAdmin(store, auth)
	tenant := mustTenant(t, admin)
	k := mustKey(t, admin, tenant, KeySpec{Name: "ci"})

	p, err := auth.Authenticate(context.Background(), k.Key, netip.MustParseAddr("127.0.0.1"), ScopeIngest)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if p.Tenant.ID != tenant || p.KeyID != k.ID || p.KeyPrefix != k.Prefix || p.Tenant.Status != StatusActive {
		t.Fatalf("principal = %+v", p)
	}
	if p.Tenant.RateLimitPerSec <= 0 || p.Tenant.MaxEventBytes <= 0 {
		t.Fatalf("tenant settings missing: %+v", p.Tenant)
	}
	if code, c := get(t, protected(auth, ScopeQuery), k.Key, ""); code != http.StatusOK {
		t.Fatalf("middleware: %d %s", code, c)
	}
}

func TestRevokedKeyIsRefusedWithinCacheTTL(t *testing.T) {
	store, _ := pgStore(t)
	const ttl = 300 * time.Millisecond
	// Two replicas: "local" serves the admin change, "remote" only shares the database.
	local := NewCachedAuthenticator(store, ttl, prometheus.NewRegistry())
	remote := NewCachedAuthenticator(store, ttl, prometheus.NewRegistry())
	admin := NewAdmin(store, local)
	tenant := mustTenant(t, admin)
	k := mustKey(t, admin, tenant, KeySpec{})
	for _, r := range []*gin.Engine{protected(local, ScopeIngest), protected(remote, ScopeIngest)} {
		if code, c := get(t, r, k.Key, ""); code != http.StatusOK {
			t.Fatalf("before revoke: %d %s", code, c)
		}
	}
	revokedAt := time.Now()
	if _, err := admin.RevokeKey(context.Background(), testActor, tenant, k.Prefix); err != nil {
		t.Fatal(err)
	}
	if code, c := get(t, protected(local, ScopeIngest), k.Key, ""); code != http.StatusUnauthorized || c != CodeKeyRevoked {
		t.Fatalf("local replica right after revoke: %d %s, want 401 %s", code, c, CodeKeyRevoked)
	}
	r := protected(remote, ScopeIngest)
	for {
		// A request is judged by when it started: one that waited for the
		// CPU on a loaded machine was still asked within the ttl.
		started := time.Now()
		code, c := get(t, r, k.Key, "")
		if code == http.StatusUnauthorized && c == CodeKeyRevoked {
			break
		}
		if started.Sub(revokedAt) > ttl+100*time.Millisecond {
			t.Fatalf("remote replica still answers %d %s to a request sent %s after revoke (ttl %s)", code, c, started.Sub(revokedAt), ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExpiredKeyIsRefused(t *testing.T) {
	store, _ := pgStore(t)
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	admin := NewAdmin(store, auth)
	r := protected(auth, ScopeIngest)
	// The key lives for window. Its answer counts as "before expiry" only if
	// it came before the expiry: when a loaded machine took longer to create
	// the key and ask, a new tenant and key get twice the window.
	var (
		tenant  string
		k       CreatedKey
		expires time.Time
	)
	for window := time.Second; ; window *= 2 {
		tenant = mustTenant(t, admin)
		expires = time.Now().Add(window)
		k = mustKey(t, admin, tenant, KeySpec{ExpiresAt: &expires})
		code, c := get(t, r, k.Key, "")
		if time.Now().Before(expires) {
			if code != http.StatusOK {
				t.Fatalf("before expiry: %d %s", code, c)
			}
			break
		}
		if window > time.Minute {
			t.Fatalf("creating a key and asking with it took over %s", window)
		}
	}
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	// The cached row is still fresh (ttl 1m): expiry is checked per request.
	if code, c := get(t, r, k.Key, ""); code != http.StatusUnauthorized || c != CodeKeyExpired {
		t.Fatalf("after expiry: %d %s, want 401 %s", code, c, CodeKeyExpired)
	}
	keys, err := admin.ListKeys(context.Background(), tenant)
	if err != nil || len(keys) != 1 || keys[0].Status != KeyExpired {
		t.Fatalf("listing = %+v, %v; want one expired key", keys, err)
	}
}

func TestTwoActiveKeysWorkDuringRotation(t *testing.T) {
	store, _ := pgStore(t)
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	admin := NewAdmin(store, auth)
	tenant := mustTenant(t, admin)
	old := mustKey(t, admin, tenant, KeySpec{Name: "old"})
	r := protected(auth, ScopeIngest)
	if code, _ := get(t, r, old.Key, ""); code != http.StatusOK {
		t.Fatalf("old key: %d", code)
	}
	next := mustKey(t, admin, tenant, KeySpec{Name: "new"})
	for _, k := range []CreatedKey{old, next} {
		if code, c := get(t, r, k.Key, ""); code != http.StatusOK {
			t.Fatalf("key %s during rotation: %d %s", k.Prefix, code, c)
		}
	}
	if _, err := admin.RevokeKey(context.Background(), testActor, "", old.ID); err != nil {
		t.Fatal(err)
	}
	if code, c := get(t, r, old.Key, ""); code != http.StatusUnauthorized || c != CodeKeyRevoked {
		t.Fatalf("old key after rotation: %d %s", code, c)
	}
	if code, c := get(t, r, next.Key, ""); code != http.StatusOK {
		t.Fatalf("new key after rotation: %d %s", code, c)
	}
}

func TestKeysAreNotRecoverableFromTheDatabase(t *testing.T) {
	store, pool := pgStore(t)
	admin := NewAdmin(store)
	tenant := mustTenant(t, admin)
	k := mustKey(t, admin, tenant, KeySpec{Name: "secret-check", AllowedCIDRs: []string{"10.0.0.0/8"}})
	secret := k.Key[len(k.Prefix)+1:]
	ctx := context.Background()

	var hash []byte
	var rowText string
	if err := pool.QueryRow(ctx, `SELECT hash, row_to_json(k)::text FROM api_keys k WHERE tenant_id = $1`, tenant).Scan(&hash, &rowText); err != nil {
		t.Fatal(err)
	}
	want := HashKey(k.Key)
	if len(hash) != 32 || !bytes.Equal(hash, want[:]) {
		t.Fatalf("stored hash = %x, want the 32-byte SHA-256 of the key", hash)
	}
	var auditText string
	if err := pool.QueryRow(ctx, `SELECT COALESCE(string_agg(row_to_json(a)::text, ' '), '') FROM audit_log a WHERE tenant_id = $1`, tenant).Scan(&auditText); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"api_keys row": rowText, "audit_log rows": auditText} {
		for _, s := range []string{k.Key, secret, secret[:16], secret[len(secret)-16:]} {
			if strings.Contains(text, s) {
				t.Fatalf("%s contains (part of) the secret: %s", what, text)
			}
		}
	}
	if !strings.Contains(rowText, k.Prefix) {
		t.Fatalf("api_keys row lacks the public prefix %s: %s", k.Prefix, rowText)
	}
	// And nothing the admin service returns later shows it.
	keys, err := admin.ListKeys(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	listing, _ := json.Marshal(keys)
	if strings.Contains(string(listing), secret) {
		t.Fatalf("key listing shows the secret: %s", listing)
	}
}

func TestRefusalsForScopeSuspensionAndAddress(t *testing.T) {
	store, _ := pgStore(t)
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	admin := NewAdmin(store, auth)
	ctx := context.Background()
	tenant := mustTenant(t, admin)
	ingestOnly := mustKey(t, admin, tenant, KeySpec{Scopes: []Scope{ScopeIngest}})
	fenced := mustKey(t, admin, tenant, KeySpec{AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}})

	t.Run("key without the needed scope gets 403", func(t *testing.T) {
		if code, c := get(t, protected(auth, ScopeQuery), ingestOnly.Key, ""); code != http.StatusForbidden || c != CodeMissingScope {
			t.Fatalf("%d %s", code, c)
		}
	})
	t.Run("address outside the allowlist gets 403", func(t *testing.T) {
		r := protected(auth, ScopeIngest)
		if code, c := get(t, r, fenced.Key, "192.0.2.1:1234"); code != http.StatusForbidden || c != CodeAddressNotAllowed {
			t.Fatalf("outside: %d %s", code, c)
		}
		if code, c := get(t, r, fenced.Key, "10.9.8.7:1234"); code != http.StatusOK {
			t.Fatalf("inside v4: %d %s", code, c)
		}
		if code, c := get(t, r, fenced.Key, "[2001:db8::1]:1234"); code != http.StatusOK {
			t.Fatalf("inside v6: %d %s", code, c)
		}
	})
	t.Run("suspended tenant gets 403 until resumed", func(t *testing.T) {
		r := protected(auth, ScopeIngest)
		if _, err := admin.SuspendTenant(ctx, testActor, tenant); err != nil {
			t.Fatal(err)
		}
		if code, c := get(t, r, ingestOnly.Key, ""); code != http.StatusForbidden || c != CodeTenantSuspended {
			t.Fatalf("suspended: %d %s", code, c)
		}
		if _, err := admin.ResumeTenant(ctx, testActor, tenant); err != nil {
			t.Fatal(err)
		}
		if code, c := get(t, r, ingestOnly.Key, ""); code != http.StatusOK {
			t.Fatalf("resumed: %d %s", code, c)
		}
	})
}

func TestAdminServiceActionsAreAudited(t *testing.T) {
	store, _ := pgStore(t)
	admin := NewAdmin(store)
	ctx := context.Background()
	tenant := randomTenant(t)
	actor := "cli:" + randomTenant(t)
	start := time.Now().Add(-time.Minute) // clock skew between us and PostgreSQL
	if _, err := admin.CreateTenant(ctx, actor, tenant, TenantSettings{RateLimitPerSec: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpdateTenant(ctx, actor, tenant, TenantSettings{RetentionDays: ptr(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SuspendTenant(ctx, actor, tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ResumeTenant(ctx, actor, tenant); err != nil {
		t.Fatal(err)
	}
	k, err := admin.CreateKey(ctx, actor, tenant, KeySpec{Scopes: []Scope{ScopeQuery}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeKey(ctx, actor, tenant, k.Prefix); err != nil {
		t.Fatal(err)
	}
	entries, err := admin.Audit(ctx, AuditFilter{TenantID: tenant})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, entries, actor, start, tenant, k.Prefix)
}

// checkAudit asserts entries (newest first) are exactly the six actions of
// the audit tests, by actor, after start.
func checkAudit(t *testing.T, entries []AuditEntry, actor string, start time.Time, tenant, keyPrefix string) {
	t.Helper()
	want := []struct{ action, target string }{
		{ActionKeyRevoke, keyPrefix},
		{ActionKeyCreate, keyPrefix},
		{ActionTenantResume, tenant},
		{ActionTenantSuspend, tenant},
		{ActionTenantUpdate, tenant},
		{ActionTenantCreate, tenant},
	}
	if len(entries) != len(want) {
		t.Fatalf("audit has %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, w := range want {
		e := entries[i]
		if e.Action != w.action || e.Target != w.target || e.Actor != actor || e.TenantID != tenant || e.At.Before(start) || e.At.After(time.Now().Add(time.Minute)) {
			t.Fatalf("entry %d = %+v, want %s on %s by %s", i, e, w.action, w.target, actor)
		}
	}
}

// adminClient calls an admin API server with key.
type adminClient struct {
	t   *testing.T
	url string
	key string
}

func (c adminClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-API-Key", c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// adminServer starts the admin API over the real store and returns a client
// holding a fresh operator admin key.
func adminServer(t *testing.T) (adminClient, *Admin, CreatedKey) {
	t.Helper()
	store, _ := pgStore(t)
	auth := NewCachedAuthenticator(store, time.Second, prometheus.NewRegistry())
	admin := NewAdmin(store, auth)
	ctx := context.Background()
	if _, _, err := admin.EnsureTenant(ctx, testActor, OperatorTenant, TenantSettings{Name: ptr("PulseStream operators")}); err != nil {
		t.Fatal(err)
	}
	k := mustKey(t, admin, OperatorTenant, KeySpec{Name: "test " + t.Name(), Scopes: []Scope{ScopeAdmin}})
	t.Cleanup(func() { _, _ = admin.RevokeKey(context.Background(), testActor, OperatorTenant, k.ID) })
	srv := httptest.NewServer(AdminHandler(admin, auth, httpapi.NewMetrics(prometheus.NewRegistry(), "test"), slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return adminClient{t: t, url: srv.URL, key: k.Key}, admin, k
}

func TestAdminAPIActionsAreAudited(t *testing.T) {
	c, _, adminKey := adminServer(t)
	tenant := randomTenant(t)
	start := time.Now().Add(-time.Minute)
	steps := []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/v1/admin/tenants", map[string]any{"id": tenant, "name": "Test " + tenant, "rate_limit_per_sec": 100}, 201},
		{"PATCH", "/v1/admin/tenants/" + tenant, map[string]any{"rate_limit_burst": 500}, 200},
		{"POST", "/v1/admin/tenants/" + tenant + "/suspend", nil, 200},
		{"POST", "/v1/admin/tenants/" + tenant + "/resume", nil, 200},
	}
	for _, s := range steps {
		if code, body := c.do(s.method, s.path, s.body); code != s.status {
			t.Fatalf("%s %s: %d %v", s.method, s.path, code, body)
		}
	}
	code, created := c.do("POST", "/v1/admin/tenants/"+tenant+"/keys", map[string]any{"name": "api", "scopes": []string{"ingest"}, "allowed_cidrs": []string{"127.0.0.1"}})
	if code != 201 {
		t.Fatalf("create key: %d %v", code, created)
	}
	prefix, _ := created["prefix"].(string)
	raw, _ := created["key"].(string)
	if p, ok := ParseKey(raw); !ok || p != prefix {
		t.Fatalf("created key %q with prefix %q", raw, prefix)
	}
	if code, body := c.do("POST", "/v1/admin/tenants/"+tenant+"/keys/"+prefix+"/revoke", nil); code != 200 || body["status"] != KeyRevoked {
		t.Fatalf("revoke: %d %v", code, body)
	}
	code, body := c.do("GET", "/v1/admin/audit?tenant="+tenant, nil)
	if code != 200 {
		t.Fatalf("audit: %d %v", code, body)
	}
	var page struct{ Entries []AuditEntry }
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	checkAudit(t, page.Entries, "key:"+adminKey.Prefix, start, tenant, prefix)

	code, listing := c.do("GET", "/v1/admin/tenants/"+tenant+"/keys", nil)
	if code != 200 || strings.Contains(fmt.Sprint(listing), raw[len(prefix)+1:]) {
		t.Fatalf("key listing: %d %v", code, listing)
	}
}

func TestAdminAPIRejectsBadInputWithFieldCodes(t *testing.T) {
	c, admin, _ := adminServer(t)
	tenant := mustTenant(t, admin)
	keys := "/v1/admin/tenants/" + tenant + "/keys"
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"bad tenant id", "POST", "/v1/admin/tenants", map[string]any{"id": "Bad Id!"}, 400, "invalid_tenant_id"},
		{"bad tenant id in path", "GET", "/v1/admin/tenants/UPPER", nil, 400, "invalid_tenant_id"},
		{"negative limit", "POST", "/v1/admin/tenants", map[string]any{"id": randomTenant(t), "rate_limit_per_sec": -1}, 400, "invalid_rate_limit_per_sec"},
		{"zero burst on update", "PATCH", "/v1/admin/tenants/" + tenant, map[string]any{"rate_limit_burst": 0}, 400, "invalid_rate_limit_burst"},
		{"wrong type", "PATCH", "/v1/admin/tenants/" + tenant, map[string]any{"retention_days": "ten"}, 400, "invalid_retention_days"},
		{"unknown field", "PATCH", "/v1/admin/tenants/" + tenant, map[string]any{"colour": "red"}, 400, "invalid_body"},
		{"nothing to change", "PATCH", "/v1/admin/tenants/" + tenant, map[string]any{}, 400, "invalid_settings"},
		{"unknown scope", "POST", keys, map[string]any{"scopes": []string{"ingest", "root"}}, 400, "invalid_scopes"},
		{"no scope", "POST", keys, map[string]any{"scopes": []string{}}, 400, "invalid_scopes"},
		{"bad cidr", "POST", keys, map[string]any{"scopes": []string{"query"}, "allowed_cidrs": []string{"10.0.0.1/8"}}, 400, "invalid_allowed_cidrs"},
		{"past expiry", "POST", keys, map[string]any{"scopes": []string{"query"}, "expires_at": "2001-01-01T00:00:00Z"}, 400, "invalid_expires_at"},
		{"unknown tenant", "GET", "/v1/admin/tenants/" + randomTenant(t), nil, 404, "tenant_not_found"},
		{"key for unknown tenant", "POST", "/v1/admin/tenants/" + randomTenant(t) + "/keys", map[string]any{"scopes": []string{"query"}}, 404, "tenant_not_found"},
		{"unknown key", "POST", keys + "/ps_aaaaaaaa/revoke", nil, 404, "key_not_found"},
		{"malformed key ref", "POST", keys + "/nope/revoke", nil, 400, "invalid_key"},
		{"duplicate tenant", "POST", "/v1/admin/tenants", map[string]any{"id": tenant}, 409, "tenant_exists"},
		{"suspend operator tenant", "POST", "/v1/admin/tenants/ops/suspend", nil, 409, "reserved_tenant"},
		{"bad audit limit", "GET", "/v1/admin/audit?limit=-3", nil, 400, "invalid_limit"},
		{"unknown route", "GET", "/v1/admin/nope", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := c.do(tt.method, tt.path, tt.body)
			if code != tt.status || errCode(body) != tt.code {
				t.Fatalf("%d %v, want %d %s", code, body, tt.status, tt.code)
			}
		})
	}
}

func TestAdminAPIAdmitsOnlyOperatorAdminKeys(t *testing.T) {
	c, admin, _ := adminServer(t)
	tenant := mustTenant(t, admin)
	tenantAdmin := mustKey(t, admin, tenant, KeySpec{Scopes: []Scope{ScopeAdmin}})
	opsQuery := mustKey(t, admin, OperatorTenant, KeySpec{Scopes: []Scope{ScopeQuery}})
	t.Cleanup(func() { _, _ = admin.RevokeKey(context.Background(), testActor, OperatorTenant, opsQuery.ID) })
	for _, tt := range []struct {
		name, key string
		status    int
		code      string
	}{
		{"no key", "", 401, CodeMissingKey},
		{"admin key of another tenant", tenantAdmin.Key, 403, CodeOperatorOnly},
		{"operator key without admin scope", opsQuery.Key, 403, CodeMissingScope},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.key = tt.key
			if code, body := c.do("GET", "/v1/admin/tenants", nil); code != tt.status || errCode(body) != tt.code {
				t.Fatalf("%d %v, want %d %s", code, body, tt.status, tt.code)
			}
		})
	}
}

func TestBootstrapIsIdempotentAndPrintsANewKeyEachTime(t *testing.T) {
	store, _ := pgStore(t)
	auth := NewCachedAuthenticator(store, time.Second, prometheus.NewRegistry())
	admin := NewAdmin(store, auth)
	ctx := context.Background()
	tenant := randomTenant(t)
	var keys []CreatedKey
	for range 2 {
		tn, k, err := admin.Bootstrap(ctx, testActor, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if tn.ID != tenant || tn.Status != StatusActive {
			t.Fatalf("tenant = %+v", tn)
		}
		keys = append(keys, k)
	}
	if keys[0].Key == keys[1].Key {
		t.Fatal("bootstrap returned the same key twice")
	}
	for _, k := range keys {
		for _, s := range []Scope{ScopeIngest, ScopeQuery} {
			if _, err := auth.Authenticate(ctx, k.Key, netip.MustParseAddr("127.0.0.1"), s); err != nil {
				t.Fatalf("bootstrap key %s, scope %s: %v", k.Prefix, s, err)
			}
		}
	}
	if _, err := admin.GetTenant(ctx, OperatorTenant); err != nil {
		t.Fatalf("operator tenant: %v", err)
	}
	entries, err := admin.Audit(ctx, AuditFilter{TenantID: tenant})
	if err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, e := range entries {
		if e.Action == ActionTenantCreate {
			creates++
		}
	}
	if creates != 1 || len(entries) != 3 {
		t.Fatalf("audit after two bootstraps: %+v; want one tenant.create and two key.create", entries)
	}
}

func TestDuplicateTenantAndNameAreConflicts(t *testing.T) {
	store, _ := pgStore(t)
	admin := NewAdmin(store)
	ctx := context.Background()
	a := mustTenant(t, admin)
	if _, err := admin.CreateTenant(ctx, testActor, a, TenantSettings{}); !errors.Is(err, ErrTenantExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	if _, err := admin.CreateTenant(ctx, testActor, randomTenant(t), TenantSettings{Name: ptr(a)}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
}
