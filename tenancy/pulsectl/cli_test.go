package pulsectl

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for goose
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

const actor = "cli:pulsectl-test"

// cli runs pulsectl with the test database in the environment (as
// PULSESTREAM_POSTGRES_URL, the way make dev calls it).
type cli struct {
	t   *testing.T
	url string
}

func newCLI(t *testing.T) cli {
	t.Helper()
	url := testenv.PostgresURL(t)
	migratetest.Postgres(t, url)
	return cli{t: t, url: url}
}

func (c cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(name string) string {
		if name == "PULSESTREAM_POSTGRES_URL" {
			return c.url
		}
		return ""
	}
	code = run(context.Background(), args, env{stdout: &out, stderr: &errOut, getenv: getenv, actor: actor})
	return code, out.String(), errOut.String()
}

func (c cli) ok(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != 0 {
		c.t.Fatalf("pulsectl %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func randomTenant(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "cli-" + hex.EncodeToString(b[:])
}

func authenticator(t *testing.T, url string) tenancy.Authenticator {
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return tenancy.NewCachedAuthenticator(tenancy.NewPGStore(pool), 0, prometheus.NewRegistry())
}

func TestVersionFlagPrintsTheVersionWithoutADatabase(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"-version"}, env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }, actor: actor})
	if code != 0 || !strings.HasPrefix(out.String(), "pulsectl dev (go") {
		t.Fatalf("pulsectl -version: exit %d, printed %q", code, out.String())
	}
}

func TestProbeSucceedsOnlyWhenEveryURLAnswers200(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ready.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer notReady.Close()
	tlsReady := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer tlsReady.Close()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"probe", ready.URL + "/readyz"}, 0},
		{[]string{"probe", ready.URL + "/readyz", notReady.URL + "/readyz"}, 1},
		{[]string{"probe", "--timeout", "1s", "http://127.0.0.1:1/readyz"}, 1},
		{[]string{"probe", tlsReady.URL}, 1}, // an unknown certificate
		{[]string{"probe", "--insecure-skip-verify", tlsReady.URL}, 0},
		{[]string{"probe"}, 2},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tc.args, env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }, actor: actor})
		if code != tc.code {
			t.Errorf("pulsectl %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.code, out.String())
		}
	}
}

func TestBootstrapPrintsAWorkingKeyInEnvFormat(t *testing.T) {
	c := newCLI(t)
	tenant := randomTenant(t)
	auth := authenticator(t, c.url)
	var keys []string
	for range 2 { // idempotent: the second run reuses the tenant, prints a new key
		out := c.ok("bootstrap", "--tenant", tenant, "--format", "env")
		name, key, ok := strings.Cut(strings.TrimSpace(out), "=")
		if !ok || name != "PULSESTREAM_"+strings.ToUpper(strings.ReplaceAll(tenant, "-", "_"))+"_API_KEY" || strings.Contains(key, "\n") {
			t.Fatalf("bootstrap --format env printed %q", out)
		}
		for _, s := range []tenancy.Scope{tenancy.ScopeIngest, tenancy.ScopeQuery} {
			if _, err := auth.Authenticate(context.Background(), key, netip.MustParseAddr("127.0.0.1"), s); err != nil {
				t.Fatalf("bootstrap key, scope %s: %v", s, err)
			}
		}
		keys = append(keys, key)
	}
	if keys[0] == keys[1] {
		t.Fatal("bootstrap printed the same key twice")
	}
	if out := c.ok("bootstrap", "--tenant", tenant, "--admin-key", "--format", "env"); !strings.Contains(out, "\nPULSESTREAM_ADMIN_API_KEY=ps_") {
		t.Fatalf("bootstrap --admin-key printed %q", out)
	}
}

// With a signing-secret-key, bootstrap's env output also carries the key's
// signing secret (make dev relies on it), and it is the one stored sealed.
func TestBootstrapEnvPrintsTheSigningSecret(t *testing.T) {
	const master = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	c := newCLI(t)
	tenant := randomTenant(t)
	out := c.ok("bootstrap", "--tenant", tenant, "--format", "env", "--signing-secret-key", master)
	vars := map[string]string{}
	for line := range strings.Lines(out) {
		name, val, _ := strings.Cut(strings.TrimSpace(line), "=")
		vars[name] = val
	}
	base := "PULSESTREAM_" + strings.ToUpper(strings.ReplaceAll(tenant, "-", "_"))
	key, secret := vars[base+"_API_KEY"], vars[base+"_SIGNING_SECRET"]
	if len(vars) != 2 || !strings.HasPrefix(secret, "pss_") {
		t.Fatalf("bootstrap --format env printed %q", out)
	}
	p, err := authenticator(t, c.url).Authenticate(context.Background(), key, netip.MustParseAddr("127.0.0.1"), tenancy.ScopeIngest)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := tenancy.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sealer.Open(p.KeyID, p.SealedSigningSecret); err != nil || string(got) != secret {
		t.Fatalf("stored secret %q, %v; printed %q", got, err, secret)
	}
}

func TestCLIManagesTenantsAndKeysAndAuditsAsTheOSUser(t *testing.T) {
	c := newCLI(t)
	tenant := randomTenant(t)
	auth := authenticator(t, c.url)
	ctx := context.Background()

	c.ok("tenants", "create", "--rate-limit-per-sec", "50", tenant)
	var got tenancy.Tenant
	if err := json.Unmarshal([]byte(c.ok("tenants", "set", "--format", "json", "--retention-days", "9", tenant)), &got); err != nil {
		t.Fatal(err)
	}
	if got.RateLimitPerSec != 50 || got.RetentionDays != 9 {
		t.Fatalf("tenant after set: %+v", got)
	}
	if out := c.ok("tenants", "list"); !strings.Contains(out, tenant) {
		t.Fatalf("tenants list lacks %s:\n%s", tenant, out)
	}

	var k tenancy.CreatedKey
	if err := json.Unmarshal([]byte(c.ok("keys", "create", "--tenant", tenant, "--scopes", "ingest", "--name", "cli", "--expires-in", "1h", "--format", "json")), &k); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(ctx, k.Key, netip.MustParseAddr("127.0.0.1"), tenancy.ScopeIngest); err != nil {
		t.Fatalf("created key: %v", err)
	}
	if out := c.ok("keys", "list", "--tenant", tenant); !strings.Contains(out, k.Prefix) || strings.Contains(out, k.Key) {
		t.Fatalf("keys list:\n%s", out)
	}

	c.ok("tenants", "suspend", tenant)
	if _, err := auth.Authenticate(ctx, k.Key, netip.MustParseAddr("127.0.0.1"), tenancy.ScopeIngest); err == nil || !strings.Contains(err.Error(), tenancy.CodeTenantSuspended) {
		t.Fatalf("suspended tenant's key: %v", err)
	}
	c.ok("tenants", "resume", tenant)
	c.ok("keys", "revoke", k.Prefix)
	if _, err := auth.Authenticate(ctx, k.Key, netip.MustParseAddr("127.0.0.1"), tenancy.ScopeIngest); err == nil || !strings.Contains(err.Error(), tenancy.CodeKeyRevoked) {
		t.Fatalf("revoked key: %v", err)
	}

	var entries []tenancy.AuditEntry
	if err := json.Unmarshal([]byte(c.ok("audit", "--tenant", tenant, "--format", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	want := []string{tenancy.ActionKeyRevoke, tenancy.ActionTenantResume, tenancy.ActionTenantSuspend, tenancy.ActionKeyCreate, tenancy.ActionTenantUpdate, tenancy.ActionTenantCreate}
	if len(entries) != len(want) {
		t.Fatalf("audit: %+v", entries)
	}
	for i, e := range entries {
		if e.Action != want[i] || e.Actor != actor || e.At.IsZero() {
			t.Fatalf("audit entry %d = %+v, want %s by %s", i, e, want[i], actor)
		}
	}
}

func TestCLIRejectsBadInputNamingTheSetting(t *testing.T) {
	c := newCLI(t)
	tenant := randomTenant(t)
	c.ok("tenants", "create", tenant)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"tenants", "create", "Bad!"}, 2, "invalid tenant id"},
		{[]string{"tenants", "set", "--rate-limit-burst", "-5", tenant}, 2, "--rate-limit-burst"},
		{[]string{"keys", "create", "--tenant", tenant, "--scopes", "ingest,root"}, 2, "--scopes"},
		{[]string{"keys", "create", "--tenant", tenant, "--scopes", "query", "--allowed-cidrs", "10.0.0.1/8"}, 2, "--allowed-cidrs"},
		{[]string{"keys", "create", "--scopes", "query"}, 2, "--tenant is required"},
		{[]string{"tenants", "create", tenant}, 1, "already exists"},
		{[]string{"tenants", "get", randomTenant(t)}, 1, "does not exist"},
		{[]string{"keys", "revoke", "ps_aaaaaaaa"}, 1, "no API key"},
		{[]string{"bootstrap", "--format", "yaml"}, 2, "--format"},
		{[]string{"nonsense"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := c.run(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tt.code, tt.msg)
			}
		})
	}
}
