package tenancy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

var tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

const maxNameLen = 200

// Purger is a cache that must forget what it knows after an admin change
// (a *CachedAuthenticator in the same process).
type Purger interface{ Purge() }

// Admin is the one implementation of every admin action, called by both the
// admin HTTP API and pulsectl. It validates input (*ValidationError naming the
// field), writes the change and its audit entry in one transaction, and purges
// local caches so the change is seen at once in this process (other
// processes see it within their cache TTL).
//
// actor says who acts, for the audit log: "key:<prefix>" for the HTTP API,
// "cli:<os user>" for pulsectl.
type Admin struct {
	store  *PGStore
	caches []Purger
	sealer *Sealer      // nil: keys get no signing secret
	usage  UsageCounter // nil: Usage fails
	now    func() time.Time
}

// NewAdmin returns the admin service over store, purging caches after changes.
func NewAdmin(store *PGStore, caches ...Purger) *Admin {
	return &Admin{store: store, caches: caches, now: time.Now}
}

// WithSealer makes new keys get a request signing secret sealed by s (nil:
// none, and require_signature cannot be turned on). It returns a.
func (a *Admin) WithSealer(s *Sealer) *Admin {
	a.sealer = s
	return a
}

// signingAvailable refuses to require signatures that no key could make.
func (a *Admin) signingAvailable(require *bool) error {
	if require != nil && *require && a.sealer == nil {
		return invalid("require_signature", "signing-secret-key is not set here, so keys get no signing secret and could never sign")
	}
	return nil
}

func (a *Admin) changed() {
	for _, c := range a.caches {
		c.Purge()
	}
}

// ValidateTenantID checks a tenant id against ^[a-z0-9][a-z0-9_-]{0,62}$.
func ValidateTenantID(id string) error {
	if !tenantIDPattern.MatchString(id) {
		return invalid("tenant_id", "tenant id %q must match ^[a-z0-9][a-z0-9_-]{0,62}$", id)
	}
	return nil
}

func validateActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return invalid("actor", "every admin action needs an actor for the audit log")
	}
	return nil
}

func validateName(field, name string, required bool) error {
	if required && strings.TrimSpace(name) == "" {
		return invalid(field, "must not be empty")
	}
	if len(name) > maxNameLen {
		return invalid(field, "must be at most %d bytes", maxNameLen)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return invalid(field, "must not contain control characters")
	}
	return nil
}

func (s TenantSettings) validate() error {
	if s.Name != nil {
		if err := validateName("name", *s.Name, true); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		field string
		v     *int
	}{
		{"rate_limit_per_sec", s.RateLimitPerSec},
		{"rate_limit_burst", s.RateLimitBurst},
		{"retention_days", s.RetentionDays},
		{"max_event_bytes", s.MaxEventBytes},
		{"future_tolerance_seconds", s.FutureToleranceSeconds},
	} {
		if f.v != nil && (*f.v < 1 || *f.v > math.MaxInt32) {
			return invalid(f.field, "must be between 1 and %d, got %d", math.MaxInt32, *f.v)
		}
	}
	if p := s.FuturePolicy; p != nil && *p != FutureClamp && *p != FutureReject {
		return invalid("future_policy", "must be %s or %s, got %q", FutureClamp, FutureReject, *p)
	}
	if q := s.MonthlyQuota; q != nil && *q < 0 {
		return invalid("monthly_quota", "must be 0 (no quota) or more, got %d", *q)
	}
	if p := s.QuotaPolicy; p != nil && *p != QuotaHard && *p != QuotaSoft {
		return invalid("quota_policy", "must be %s or %s, got %q", QuotaHard, QuotaSoft, *p)
	}
	return nil
}

func (s TenantSettings) empty() bool {
	return s.Name == nil && s.RateLimitPerSec == nil && s.RateLimitBurst == nil && s.RetentionDays == nil && s.MaxEventBytes == nil &&
		s.RequireSignature == nil && s.FutureToleranceSeconds == nil && s.FuturePolicy == nil &&
		s.MonthlyQuota == nil && s.QuotaPolicy == nil
}

// CreateTenant creates tenant id (name defaults to id). Errors:
// *ValidationError, ErrTenantExists, ErrNameTaken.
func (a *Admin) CreateTenant(ctx context.Context, actor, id string, set TenantSettings) (Tenant, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(id), set.validate(), a.signingAvailable(set.RequireSignature)); err != nil {
		return Tenant{}, firstErr(err)
	}
	return a.store.CreateTenant(ctx, id, set, audit{Actor: actor, Action: ActionTenantCreate, TenantID: id, Target: id})
}

// EnsureTenant creates tenant id unless it exists (then it is returned
// unchanged) and reports whether it was created.
func (a *Admin) EnsureTenant(ctx context.Context, actor, id string, set TenantSettings) (Tenant, bool, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(id), set.validate()); err != nil {
		return Tenant{}, false, firstErr(err)
	}
	return a.store.EnsureTenant(ctx, id, set, audit{Actor: actor, Action: ActionTenantCreate, TenantID: id, Target: id})
}

// GetTenant returns tenant id or ErrTenantNotFound.
func (a *Admin) GetTenant(ctx context.Context, id string) (Tenant, error) {
	if err := ValidateTenantID(id); err != nil {
		return Tenant{}, err
	}
	return a.store.GetTenant(ctx, id)
}

// ListTenants returns every tenant.
func (a *Admin) ListTenants(ctx context.Context) ([]Tenant, error) { return a.store.ListTenants(ctx) }

// UpdateTenant changes the given settings (name, limits) of tenant id.
func (a *Admin) UpdateTenant(ctx context.Context, actor, id string, set TenantSettings) (Tenant, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(id), set.validate(), a.signingAvailable(set.RequireSignature)); err != nil {
		return Tenant{}, firstErr(err)
	}
	if set.empty() {
		return Tenant{}, invalid("settings", "give at least one setting to change")
	}
	t, err := a.store.UpdateTenant(ctx, id, set, "", audit{Actor: actor, Action: ActionTenantUpdate, TenantID: id, Target: id, Details: settingsDetails(set)})
	if err == nil {
		a.changed()
	}
	return t, err
}

func settingsDetails(s TenantSettings) map[string]any {
	d := map[string]any{}
	if s.Name != nil {
		d["name"] = *s.Name
	}
	if s.RequireSignature != nil {
		d["require_signature"] = *s.RequireSignature
	}
	if s.FuturePolicy != nil {
		d["future_policy"] = *s.FuturePolicy
	}
	if s.MonthlyQuota != nil {
		d["monthly_quota"] = *s.MonthlyQuota
	}
	if s.QuotaPolicy != nil {
		d["quota_policy"] = *s.QuotaPolicy
	}
	for k, v := range map[string]*int{"rate_limit_per_sec": s.RateLimitPerSec, "rate_limit_burst": s.RateLimitBurst, "retention_days": s.RetentionDays, "max_event_bytes": s.MaxEventBytes,
		"future_tolerance_seconds": s.FutureToleranceSeconds} {
		if v != nil {
			d[k] = *v
		}
	}
	return d
}

// SuspendTenant makes every key of tenant id refused with 403
// tenant_suspended. The operator tenant cannot be suspended
// (ErrReservedTenant).
func (a *Admin) SuspendTenant(ctx context.Context, actor, id string) (Tenant, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(id)); err != nil {
		return Tenant{}, firstErr(err)
	}
	if id == OperatorTenant {
		return Tenant{}, ErrReservedTenant
	}
	return a.setStatus(ctx, actor, id, StatusSuspended, ActionTenantSuspend)
}

// ResumeTenant makes a suspended tenant active again.
func (a *Admin) ResumeTenant(ctx context.Context, actor, id string) (Tenant, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(id)); err != nil {
		return Tenant{}, firstErr(err)
	}
	return a.setStatus(ctx, actor, id, StatusActive, ActionTenantResume)
}

func (a *Admin) setStatus(ctx context.Context, actor, id, status, action string) (Tenant, error) {
	t, err := a.store.UpdateTenant(ctx, id, TenantSettings{}, status, audit{Actor: actor, Action: action, TenantID: id, Target: id})
	if err == nil {
		a.changed()
	}
	return t, err
}

// ParseCIDR accepts "10.0.0.0/8", "2001:db8::/32" or a bare address (that
// address alone). A network with host bits set ("10.0.0.1/8") is refused
// rather than silently widened or narrowed.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 networks in IPv4 form", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has bits set right of the mask; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

func (spec KeySpec) validate(now time.Time) ([]Scope, []netip.Prefix, error) {
	if err := validateName("name", spec.Name, false); err != nil {
		return nil, nil, err
	}
	if len(spec.Scopes) == 0 {
		return nil, nil, invalid("scopes", "give at least one of ingest, query, admin")
	}
	var scopes []Scope
	for _, s := range spec.Scopes {
		if !slices.Contains(Scopes, s) {
			return nil, nil, invalid("scopes", "unknown scope %q (known: ingest, query, admin)", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	cidrs := []netip.Prefix{}
	for _, s := range spec.AllowedCIDRs {
		p, err := ParseCIDR(s)
		if err != nil {
			return nil, nil, invalid("allowed_cidrs", "%v", err)
		}
		cidrs = append(cidrs, p)
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(now) {
		return nil, nil, invalid("expires_at", "must be in the future, got %s", spec.ExpiresAt.Format(time.RFC3339))
	}
	return scopes, cidrs, nil
}

// CreateKey creates a key for tenant tenantID. The returned CreatedKey.Key is
// the only copy of the raw key; only its SHA-256 is stored. A tenant may hold
// any number of active keys (rotation: create the new one, switch, revoke the
// old one).
func (a *Admin) CreateKey(ctx context.Context, actor, tenantID string, spec KeySpec) (CreatedKey, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(tenantID)); err != nil {
		return CreatedKey{}, firstErr(err)
	}
	scopes, cidrs, err := spec.validate(a.now())
	if err != nil {
		return CreatedKey{}, err
	}
	if err := a.signingAvailable(&spec.RequireSignature); err != nil {
		return CreatedKey{}, err
	}
	raw, prefix, err := NewRawKey()
	if err != nil {
		return CreatedKey{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return CreatedKey{}, fmt.Errorf("key id: %w", err)
	}
	rec := KeyRecord{
		KeyInfo: KeyInfo{ID: id.String(), TenantID: tenantID, Prefix: prefix, Name: spec.Name, Scopes: scopes, AllowedCIDRs: cidrs, ExpiresAt: spec.ExpiresAt,
			RequireSignature: spec.RequireSignature},
		Hash: HashKey(raw),
	}
	secret, err := a.signingSecret(&rec)
	if err != nil {
		return CreatedKey{}, err
	}
	info, err := a.store.CreateKey(ctx, rec, audit{Actor: actor, Action: ActionKeyCreate, TenantID: tenantID, Target: prefix})
	if err != nil {
		return CreatedKey{}, err
	}
	// A garbage key with this prefix may have been cached as unknown.
	a.changed()
	return CreatedKey{KeyInfo: info, Key: raw, SigningSecret: secret}, nil
}

// signingSecret makes the new key's signing secret and seals it into rec;
// "" when no sealer is set.
func (a *Admin) signingSecret(rec *KeyRecord) (string, error) {
	if a.sealer == nil {
		return "", nil
	}
	secret, err := NewSigningSecret()
	if err != nil {
		return "", err
	}
	if rec.SealedSigningSecret, err = a.sealer.Seal(rec.ID, secret); err != nil {
		return "", err
	}
	return secret, nil
}

// ListKeys returns the keys of tenant tenantID (never their secrets).
func (a *Admin) ListKeys(ctx context.Context, tenantID string) ([]KeyInfo, error) {
	if err := ValidateTenantID(tenantID); err != nil {
		return nil, err
	}
	return a.store.ListKeys(ctx, tenantID)
}

// RevokeKey revokes the key whose id or public prefix is ref. tenantID, when
// not empty, must be the key's tenant (else ErrKeyNotFound). Revocation is
// immediate in this process and within the cache TTL everywhere else.
func (a *Admin) RevokeKey(ctx context.Context, actor, tenantID, ref string) (KeyInfo, error) {
	if err := validateActor(actor); err != nil {
		return KeyInfo{}, err
	}
	if tenantID != "" {
		if err := ValidateTenantID(tenantID); err != nil {
			return KeyInfo{}, err
		}
	}
	if _, err := uuid.Parse(ref); err != nil && !ValidPrefix(ref) {
		return KeyInfo{}, invalid("key", "%q is neither a key id nor a key prefix (ps_xxxxxxxx)", ref)
	}
	k, err := a.store.RevokeKey(ctx, tenantID, ref, audit{Actor: actor, Action: ActionKeyRevoke})
	if err == nil {
		a.changed()
	}
	return k, err
}

// Audit returns audit entries, newest first.
func (a *Admin) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.TenantID != "" {
		if err := ValidateTenantID(f.TenantID); err != nil {
			return nil, err
		}
	}
	if f.Limit < 0 || f.Limit > MaxAuditLimit {
		return nil, invalid("limit", "must be between 1 and %d", MaxAuditLimit)
	}
	if f.BeforeID < 0 {
		return nil, invalid("before", "must be a positive audit entry id")
	}
	return a.store.ListAudit(ctx, f)
}

// Bootstrap is what `make dev` needs: it makes sure the operator tenant and
// tenant tenantID exist (creating only what is missing) and returns a NEW key
// of tenantID with the ingest and query scopes.
func (a *Admin) Bootstrap(ctx context.Context, actor, tenantID string) (Tenant, CreatedKey, error) {
	if _, _, err := a.EnsureTenant(ctx, actor, OperatorTenant, TenantSettings{Name: ptr("PulseStream operators")}); err != nil {
		return Tenant{}, CreatedKey{}, fmt.Errorf("operator tenant: %w", err)
	}
	t, _, err := a.EnsureTenant(ctx, actor, tenantID, TenantSettings{})
	if err != nil {
		return Tenant{}, CreatedKey{}, err
	}
	k, err := a.CreateKey(ctx, actor, tenantID, KeySpec{Name: "bootstrap", Scopes: []Scope{ScopeIngest, ScopeQuery}})
	if err != nil {
		return Tenant{}, CreatedKey{}, err
	}
	return t, k, nil
}

func ptr[T any](v T) *T { return &v }

// firstErr unwraps an errors.Join of validation errors to its first one, so
// callers get one *ValidationError naming one field.
func firstErr(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := j.Unwrap(); len(errs) > 0 {
			return errs[0]
		}
	}
	return err
}
