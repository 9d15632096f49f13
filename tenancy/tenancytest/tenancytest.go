// Package tenancytest is test support for the services: it creates a tenant
// and its API keys through the tenancy admin service, the way an operator
// would, on a migrated PostgreSQL.
package tenancytest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/tenancy"
)

// Tenant is a tenant created for a test, with the admin service that made it.
type Tenant struct {
	ID    string
	Admin *tenancy.Admin
	tb    testing.TB
}

// New creates tenant id with settings (zero value: the defaults).
func New(tb testing.TB, pool *pgxpool.Pool, id string, settings tenancy.TenantSettings) *Tenant {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := tenancy.NewAdmin(tenancy.NewPGStore(pool))
	if _, err := admin.CreateTenant(ctx, "test", id, settings); err != nil {
		tb.Fatalf("create tenant %s: %v", id, err)
	}
	return &Tenant{ID: id, Admin: admin, tb: tb}
}

// Key creates a key of the tenant with scopes; its Key field is the secret.
func (t *Tenant) Key(scopes ...tenancy.Scope) tenancy.CreatedKey {
	t.tb.Helper()
	return t.KeyOf(tenancy.KeySpec{Name: "test", Scopes: scopes})
}

// KeyOf creates a key of the tenant as spec says.
func (t *Tenant) KeyOf(spec tenancy.KeySpec) tenancy.CreatedKey {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := t.Admin.CreateKey(ctx, "test", t.ID, spec)
	if err != nil {
		t.tb.Fatalf("create key of %s: %v", t.ID, err)
	}
	return k
}

// PutKey puts key where a client might: "bearer" (Authorization: Bearer),
// "x-api-key", "basic" (as the Basic password, a scheme PulseStream refuses)
// "query" (an api_key parameter, which PulseStream ignores) or "request-id"
// (inside an X-Request-Id, which services echo and log unless it holds a key).
func PutKey(req *http.Request, key, where string) {
	switch where {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+key)
	case "x-api-key":
		req.Header.Set("X-API-Key", key)
	case "basic":
		req.SetBasicAuth("user", key)
	case "query":
		q := req.URL.Query()
		q.Set("api_key", key)
		req.URL.RawQuery = q.Encode()
	case "request-id": // services echo and log request ids
		req.Header.Set("X-Request-Id", "req-"+key)
	}
}

// Secret is the secret part of key (after its public prefix).
func Secret(key string) string { return key[strings.LastIndexByte(key, '_')+1:] }

// WrongSecret is key with the same public prefix and another secret.
func WrongSecret(key string) string {
	return key[:len(key)-len(Secret(key))] + strings.Repeat("a", len(Secret(key)))
}
