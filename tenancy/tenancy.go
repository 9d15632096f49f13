// Package tenancy owns tenants and API keys: how a request's key becomes a
// Principal (tenant, scopes, limits), how keys are created, rotated and
// revoked, the tenants' meter definitions (meter.go), and the audit log of
// admin actions.
//
// The gateway and the query service depend only on Authenticator and
// Middleware; the PostgreSQL store, the in-process cache and the admin API
// live behind them.
//
// Wiring, in a service's New:
//
//	store := tenancy.NewPGStore(pool)                                 // pgx/v5
//	auth := tenancy.NewCachedAuthenticator(store, cfg.Auth.CacheTTL, reg)
//	router.Use(tenancy.Middleware(auth, tenancy.ScopeIngest))         // or per route group
//	admin := tenancy.NewAdmin(store, auth)                            // purges auth's cache on changes
//	adminHandler := tenancy.AdminHandler(admin, auth, httpMetrics, logger) // own listener, 127.0.0.1:8090
//
// Keys read ps_<8-char public prefix>_<52-char secret> (key.go); only their
// SHA-256 is stored, and the row is found by the public prefix and compared
// in constant time. Libraries: hashicorp/golang-lru/v2 (expirable LRU: a
// bounded, thread-safe cache with per-entry TTL, so no hand-written
// eviction), golang.org/x/sync/singleflight (one store query per prefix
// however many requests miss at once), google/uuid (v7 key ids, time-ordered),
// gin for the admin API and middleware (mandated), pgx/v5 for the store.
package tenancy

import (
	"context"
	"net/netip"
	"time"
)

// Scope is what a key may do.
type Scope string

// The scopes a key can hold.
const (
	ScopeIngest Scope = "ingest"
	ScopeQuery  Scope = "query"
	ScopeAdmin  Scope = "admin"
)

// Tenant status values.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Future policy values: what happens to an event dated too far ahead.
const (
	FutureClamp  = "clamp"  // accepted with time = received_at, flagged time_clamped
	FutureReject = "reject" // rejected with code time_in_future
)

// Quota policy values: what happens to events past the monthly quota.
const (
	QuotaHard = "hard" // refused: 429 quota_exceeded
	QuotaSoft = "soft" // accepted with the warning quota_exceeded
)

// Tenant is one customer of PulseStream and its settings.
type Tenant struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	RateLimitPerSec int    `json:"rate_limit_per_sec"`
	RateLimitBurst  int    `json:"rate_limit_burst"`
	RetentionDays   int    `json:"retention_days"`
	MaxEventBytes   int    `json:"max_event_bytes"`
	// RequireSignature: every key of the tenant must sign its requests.
	RequireSignature bool `json:"require_signature"`
	// FutureToleranceSeconds: how far after its receive time an event's
	// (skew-corrected) time may lie before FuturePolicy applies.
	FutureToleranceSeconds int `json:"future_tolerance_seconds"`
	// FuturePolicy is FutureClamp or FutureReject.
	FuturePolicy string `json:"future_policy"`
	// MonthlyQuota is the most events accepted per UTC calendar month (0:
	// no quota); QuotaPolicy says what happens past it.
	MonthlyQuota int64     `json:"monthly_quota"`
	QuotaPolicy  string    `json:"quota_policy"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Principal is who is calling: the key and its tenant.
type Principal struct {
	Tenant       Tenant
	KeyID        string
	KeyPrefix    string
	Scopes       []Scope
	AllowedCIDRs []netip.Prefix
	// RequireSignature: the key's or its tenant's requests must be signed.
	RequireSignature bool
	// SealedSigningSecret is the key's signing secret as stored (Sealer.Open
	// with KeyID opens it); nil when the key has none. It is shared with the
	// authenticator's cache: read it, never change it.
	SealedSigningSecret []byte
}

// Has reports whether the principal holds scope s.
func (p Principal) Has(s Scope) bool {
	for _, have := range p.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Authenticator turns a raw API key into a Principal allowed to act with
// scope need from address remote, or returns an *AuthError saying why not.
type Authenticator interface {
	Authenticate(ctx context.Context, rawKey string, remote netip.Addr, need Scope) (Principal, error)
}
