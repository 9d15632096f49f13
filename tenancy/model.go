package tenancy

import (
	"net/netip"
	"time"
)

// OperatorTenant is the reserved tenant whose admin-scoped keys may use the
// admin API. `pulsectl bootstrap` creates it; it cannot be suspended.
const OperatorTenant = "ops"

// Scopes lists every scope a key can hold, in display order.
var Scopes = []Scope{ScopeIngest, ScopeQuery, ScopeAdmin}

// Key status values, derived from revoked_at and expires_at.
const (
	KeyActive  = "active"
	KeyRevoked = "revoked"
	KeyExpired = "expired"
)

// KeyInfo is everything about an API key except its secret: what listings,
// the admin API and audit entries show.
type KeyInfo struct {
	ID           string         `json:"id"`
	TenantID     string         `json:"tenant_id"`
	Prefix       string         `json:"prefix"`
	Name         string         `json:"name"`
	Scopes       []Scope        `json:"scopes"`
	AllowedCIDRs []netip.Prefix `json:"allowed_cidrs"`
	ExpiresAt    *time.Time     `json:"expires_at,omitempty"`
	RevokedAt    *time.Time     `json:"revoked_at,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	Status       string         `json:"status"`
	// RequireSignature: requests with this key must be signed (RFC 9421).
	RequireSignature bool `json:"require_signature"`
	// HasSigningSecret: the key has a signing secret (keys made before
	// signing existed, or with no signing-secret-key set, have none).
	HasSigningSecret bool `json:"has_signing_secret"`
}

// status derives the key's status at now.
func (k KeyInfo) status(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return KeyExpired
	default:
		return KeyActive
	}
}

// KeyRecord is a stored key with its hash and its tenant, as the
// Authenticator needs it.
type KeyRecord struct {
	KeyInfo
	Hash   KeyHash
	Tenant Tenant
	// SealedSigningSecret is the signing secret as stored (nil: none).
	SealedSigningSecret []byte
}

// CreatedKey is a new key: the only time the raw key is ever available.
type CreatedKey struct {
	KeyInfo
	Key string `json:"key"`
	// SigningSecret is the HMAC key of the key's request signatures, shown
	// only here; empty when no signing-secret-key is set.
	SigningSecret string `json:"signing_secret,omitempty"`
}

// KeySpec is what a new key may do.
type KeySpec struct {
	Name   string  `json:"name"`
	Scopes []Scope `json:"scopes"`
	// ExpiresAt is optional; it must be in the future.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// AllowedCIDRs, when not empty, restricts the key to these networks
	// ("10.0.0.0/8", "2001:db8::/32"; a bare address means just that address).
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	// RequireSignature makes the gateway refuse this key's unsigned requests.
	RequireSignature bool `json:"require_signature,omitempty"`
}

// TenantSettings are the changeable fields of a tenant; nil leaves a field as
// it is (or at its default on creation).
type TenantSettings struct {
	Name            *string `json:"name,omitempty"`
	RateLimitPerSec *int    `json:"rate_limit_per_sec,omitempty"`
	RateLimitBurst  *int    `json:"rate_limit_burst,omitempty"`
	RetentionDays   *int    `json:"retention_days,omitempty"`
	MaxEventBytes   *int    `json:"max_event_bytes,omitempty"`
	// RequireSignature makes every key of the tenant sign its requests.
	RequireSignature *bool `json:"require_signature,omitempty"`
	// FutureToleranceSeconds and FuturePolicy are the time policy (Tenant).
	FutureToleranceSeconds *int    `json:"future_tolerance_seconds,omitempty"`
	FuturePolicy           *string `json:"future_policy,omitempty"`
	// MonthlyQuota (0: none) and QuotaPolicy are the quota (Tenant).
	MonthlyQuota *int64  `json:"monthly_quota,omitempty"`
	QuotaPolicy  *string `json:"quota_policy,omitempty"`
}

// AuditEntry is one admin action: who did what to which tenant and when.
type AuditEntry struct {
	ID       int64          `json:"id"`
	At       time.Time      `json:"at"`
	Actor    string         `json:"actor"`
	Action   string         `json:"action"`
	TenantID string         `json:"tenant_id,omitempty"`
	Target   string         `json:"target,omitempty"`
	Details  map[string]any `json:"details"`
}

// Audit actions.
const (
	ActionTenantCreate  = "tenant.create"
	ActionTenantUpdate  = "tenant.update"
	ActionTenantSuspend = "tenant.suspend"
	ActionTenantResume  = "tenant.resume"
	ActionKeyCreate     = "key.create"
	ActionKeyRevoke     = "key.revoke"
)

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	TenantID string // empty: every tenant
	BeforeID int64  // 0: from the newest; else entries with a smaller id (paging)
	Limit    int    // 0: DefaultAuditLimit
}

// Audit page sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)
