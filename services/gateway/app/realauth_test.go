package app

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/pulsestream/pulsestream/tenancy"
)

// TestIntegrationNewServesWithRealKeysAndRefusesRevokedOnes runs the real
// wiring (app.New: PostgreSQL-backed cached authenticator, Redis, Kafka) with
// keys made by the tenancy admin service.
func TestIntegrationNewServesWithRealKeysAndRefusesRevokedOnes(t *testing.T) {
	rate := 1000
	e := startRealGateway(t, slog.New(slog.DiscardHandler), tenancy.TenantSettings{RateLimitPerSec: &rate}, func(c *Config) {
		c.Kafka.Partitions = 2
		c.Auth.CacheTTL = 0 // see the revocation at once
	})
	queryKey := e.tenant.Key(tenancy.ScopeQuery)
	g := &testGateway{url: e.url}

	resp, err := http.Get(g.url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	body := batch(event("real-1", "t", `{"x":1}`))
	if ans := g.post(t, e.key, "application/json", body); ans.status != 200 || ans.body.Accepted != 1 || ans.header.Get("RateLimit-Limit") == "" {
		t.Fatalf("ingest key: %d %v %s", ans.status, ans.header, ans.raw)
	}
	if ans := g.post(t, queryKey.Key, "application/json", body); ans.status != 403 {
		t.Fatalf("query key: %d %s", ans.status, ans.raw)
	}
	prefix, _ := tenancy.ParseKey(e.key)
	if _, err := e.tenant.Admin.RevokeKey(context.Background(), "test", e.tenant.ID, prefix); err != nil {
		t.Fatal(err)
	}
	if ans := g.post(t, e.key, "application/json", body); ans.status != 401 || ans.header.Get("WWW-Authenticate") == "" || ans.errorCode() != tenancy.CodeKeyRevoked {
		t.Fatalf("revoked key: %d %s", ans.status, ans.raw)
	}
}
