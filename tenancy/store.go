package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore keeps tenants, keys and the audit log in PostgreSQL (tables of
// migrations/postgres/00001_tenancy.sql). Every mutation writes its audit
// entry in the same transaction (pgx.BeginFunc), so an action without its
// audit entry cannot be committed.
type PGStore struct {
	pool *pgxpool.Pool
}

// NewPGStore returns a store over pool.
func NewPGStore(pool *pgxpool.Pool) *PGStore { return &PGStore{pool: pool} }

// Ping checks that PostgreSQL answers (for readiness checks).
func (s *PGStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

const tenantCols = `t.id, t.name, t.status, t.rate_limit_per_sec, t.rate_limit_burst, t.retention_days, t.max_event_bytes, t.require_signature, t.future_tolerance_seconds, t.future_policy, t.monthly_quota, t.quota_policy, t.created_at, t.updated_at`

const keyCols = `k.id, k.tenant_id, k.prefix, k.name, k.scopes, k.allowed_cidrs, k.expires_at, k.revoked_at, k.created_at, k.require_signature, k.signing_secret IS NOT NULL`

func tenantDest(t *Tenant) []any {
	return []any{&t.ID, &t.Name, &t.Status, &t.RateLimitPerSec, &t.RateLimitBurst, &t.RetentionDays, &t.MaxEventBytes, &t.RequireSignature, &t.FutureToleranceSeconds, &t.FuturePolicy, &t.MonthlyQuota, &t.QuotaPolicy, &t.CreatedAt, &t.UpdatedAt}
}

// keyRow collects a key row before conversion to KeyInfo.
type keyRow struct {
	info   KeyInfo
	scopes []string
}

func (r *keyRow) dest() []any {
	return []any{&r.info.ID, &r.info.TenantID, &r.info.Prefix, &r.info.Name, &r.scopes, &r.info.AllowedCIDRs, &r.info.ExpiresAt, &r.info.RevokedAt, &r.info.CreatedAt, &r.info.RequireSignature, &r.info.HasSigningSecret}
}

func (r *keyRow) result(now time.Time) KeyInfo {
	k := r.info
	k.Scopes = make([]Scope, len(r.scopes))
	for i, s := range r.scopes {
		k.Scopes[i] = Scope(s)
	}
	if k.AllowedCIDRs == nil {
		k.AllowedCIDRs = []netip.Prefix{}
	}
	k.Status = k.status(now)
	return k
}

// LookupKey returns the key whose public prefix is prefix, with its tenant,
// or ErrKeyNotFound. This is the Authenticator's only query.
func (s *PGStore) LookupKey(ctx context.Context, prefix string) (KeyRecord, error) {
	var rec KeyRecord
	var kr keyRow
	var hash []byte
	dest := append(kr.dest(), &hash, &rec.SealedSigningSecret)
	dest = append(dest, tenantDest(&rec.Tenant)...)
	err := s.pool.QueryRow(ctx, `SELECT `+keyCols+`, k.hash, k.signing_secret, `+tenantCols+`
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1`, prefix).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return KeyRecord{}, ErrKeyNotFound
	}
	if err != nil {
		return KeyRecord{}, fmt.Errorf("look up api key %s: %w", prefix, err)
	}
	if len(hash) != len(rec.Hash) {
		return KeyRecord{}, fmt.Errorf("api key %s: stored hash has %d bytes", prefix, len(hash))
	}
	copy(rec.Hash[:], hash)
	rec.KeyInfo = kr.result(time.Now())
	return rec, nil
}

// audit is the entry a mutation writes with its change.
type audit struct {
	Actor    string
	Action   string
	TenantID string
	Target   string
	Details  map[string]any
}

func insertAudit(ctx context.Context, tx pgx.Tx, a audit) error {
	if a.Details == nil {
		a.Details = map[string]any{}
	}
	var tenant *string
	if a.TenantID != "" {
		tenant = &a.TenantID
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, tenant_id, target, details) VALUES ($1, $2, $3, $4, $5)`,
		a.Actor, a.Action, tenant, a.Target, a.Details)
	if err != nil {
		return fmt.Errorf("write audit entry %s: %w", a.Action, err)
	}
	return nil
}

func uniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

func tenantWriteErr(id string, err error) error {
	if c, ok := uniqueViolation(err); ok {
		if c == "tenants_name_key" {
			return ErrNameTaken
		}
		return ErrTenantExists
	}
	return fmt.Errorf("write tenant %s: %w", id, err)
}

// CreateTenant inserts t (ID, Name and the settings; zero settings take the
// table defaults) or returns ErrTenantExists / ErrNameTaken.
func (s *PGStore) CreateTenant(ctx context.Context, id string, set TenantSettings, a audit) (Tenant, error) {
	t, created, err := s.insertTenant(ctx, id, set, a, false)
	if err == nil && !created {
		return Tenant{}, ErrTenantExists
	}
	return t, err
}

// EnsureTenant creates the tenant unless it exists and reports whether it
// created it. Concurrent callers are safe (INSERT ... ON CONFLICT).
func (s *PGStore) EnsureTenant(ctx context.Context, id string, set TenantSettings, a audit) (Tenant, bool, error) {
	return s.insertTenant(ctx, id, set, a, true)
}

func (s *PGStore) insertTenant(ctx context.Context, id string, set TenantSettings, a audit, existingOK bool) (Tenant, bool, error) {
	var t Tenant
	created := false
	name := id
	if set.Name != nil {
		name = *set.Name
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Settings left nil take the table's defaults: insert without them,
		// then apply the given ones.
		err := tx.QueryRow(ctx, `INSERT INTO tenants AS t (id, name) VALUES ($1, $2)
			ON CONFLICT (id) DO NOTHING RETURNING `+tenantCols, id, name).Scan(tenantDest(&t)...)
		if errors.Is(err, pgx.ErrNoRows) {
			if !existingOK {
				return nil
			}
			return tx.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenants t WHERE t.id = $1`, id).Scan(tenantDest(&t)...)
		}
		if err != nil {
			return err
		}
		created = true
		err = tx.QueryRow(ctx, `UPDATE tenants t SET
				rate_limit_per_sec = COALESCE($2, rate_limit_per_sec), rate_limit_burst = COALESCE($3, rate_limit_burst),
				retention_days = COALESCE($4, retention_days), max_event_bytes = COALESCE($5, max_event_bytes),
				require_signature = COALESCE($6, require_signature),
				future_tolerance_seconds = COALESCE($7, future_tolerance_seconds), future_policy = COALESCE($8, future_policy),
				monthly_quota = COALESCE($9, monthly_quota), quota_policy = COALESCE($10, quota_policy)
			WHERE t.id = $1 RETURNING `+tenantCols,
			id, set.RateLimitPerSec, set.RateLimitBurst, set.RetentionDays, set.MaxEventBytes, set.RequireSignature,
			set.FutureToleranceSeconds, set.FuturePolicy, set.MonthlyQuota, set.QuotaPolicy).Scan(tenantDest(&t)...)
		if err != nil {
			return err
		}
		a.Details = map[string]any{"tenant": t}
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return Tenant{}, false, tenantWriteErr(id, err)
	}
	return t, created, nil
}

// GetTenant returns the tenant or ErrTenantNotFound.
func (s *PGStore) GetTenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	err := s.pool.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenants t WHERE t.id = $1`, id).Scan(tenantDest(&t)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, ErrTenantNotFound
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("read tenant %s: %w", id, err)
	}
	return t, nil
}

// ListTenants returns every tenant ordered by id.
func (s *PGStore) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tenantCols+` FROM tenants t ORDER BY t.id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	out := []Tenant{}
	for rows.Next() {
		var t Tenant
		if err := rows.Scan(tenantDest(&t)...); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// UpdateTenant changes the non-nil settings and, when status is not empty,
// the status; it returns ErrTenantNotFound or ErrNameTaken.
func (s *PGStore) UpdateTenant(ctx context.Context, id string, set TenantSettings, status string, a audit) (Tenant, error) {
	var t Tenant
	var st *string
	if status != "" {
		st = &status
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE tenants t SET
				name = COALESCE($2, name), status = COALESCE($3, status),
				rate_limit_per_sec = COALESCE($4, rate_limit_per_sec), rate_limit_burst = COALESCE($5, rate_limit_burst),
				retention_days = COALESCE($6, retention_days), max_event_bytes = COALESCE($7, max_event_bytes),
				require_signature = COALESCE($8, require_signature),
				future_tolerance_seconds = COALESCE($9, future_tolerance_seconds), future_policy = COALESCE($10, future_policy),
				monthly_quota = COALESCE($11, monthly_quota), quota_policy = COALESCE($12, quota_policy), updated_at = now()
			WHERE t.id = $1 RETURNING `+tenantCols,
			id, set.Name, st, set.RateLimitPerSec, set.RateLimitBurst, set.RetentionDays, set.MaxEventBytes, set.RequireSignature,
			set.FutureToleranceSeconds, set.FuturePolicy, set.MonthlyQuota, set.QuotaPolicy).Scan(tenantDest(&t)...)
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, a)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, ErrTenantNotFound
	}
	if err != nil {
		return Tenant{}, tenantWriteErr(id, err)
	}
	return t, nil
}

// CreateKey stores a key (its hash, never the key) for an existing tenant.
func (s *PGStore) CreateKey(ctx context.Context, rec KeyRecord, a audit) (KeyInfo, error) {
	scopes := make([]string, len(rec.Scopes))
	for i, sc := range rec.Scopes {
		scopes[i] = string(sc)
	}
	var kr keyRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the tenant row so a key cannot be added to a tenant that is
		// being created or changed concurrently, and to see that it exists.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR SHARE`, rec.TenantID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrTenantNotFound
			}
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO api_keys AS k (id, tenant_id, prefix, hash, name, scopes, allowed_cidrs, expires_at, require_signature, signing_secret)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+keyCols,
			rec.ID, rec.TenantID, rec.Prefix, rec.Hash[:], rec.Name, scopes, rec.AllowedCIDRs, rec.ExpiresAt, rec.RequireSignature, rec.SealedSigningSecret).Scan(kr.dest()...)
		if err != nil {
			return err
		}
		a.Details = map[string]any{"key_id": kr.info.ID, "name": rec.Name, "scopes": scopes, "allowed_cidrs": rec.AllowedCIDRs, "expires_at": rec.ExpiresAt,
			"require_signature": rec.RequireSignature, "has_signing_secret": rec.SealedSigningSecret != nil}
		return insertAudit(ctx, tx, a)
	})
	if errors.Is(err, ErrTenantNotFound) {
		return KeyInfo{}, err
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("create api key for tenant %s: %w", rec.TenantID, err)
	}
	return kr.result(time.Now()), nil
}

// ListKeys returns the tenant's keys, newest first, or ErrTenantNotFound.
func (s *PGStore) ListKeys(ctx context.Context, tenantID string) ([]KeyInfo, error) {
	if _, err := s.GetTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.tenant_id = $1 ORDER BY k.created_at DESC, k.id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", tenantID, err)
	}
	defer rows.Close()
	now := time.Now()
	out := []KeyInfo{}
	for rows.Next() {
		var kr keyRow
		if err := rows.Scan(kr.dest()...); err != nil {
			return nil, fmt.Errorf("list api keys of %s: %w", tenantID, err)
		}
		out = append(out, kr.result(now))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", tenantID, err)
	}
	return out, nil
}

// RevokeKey revokes the key whose id or prefix is ref (of tenantID, or of any
// tenant when tenantID is empty). Revoking a revoked key keeps the first
// revocation time. It returns ErrKeyNotFound.
func (s *PGStore) RevokeKey(ctx context.Context, tenantID, ref string, a audit) (KeyInfo, error) {
	var kr keyRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE api_keys k SET revoked_at = COALESCE(revoked_at, now())
			WHERE (k.id = $2 OR k.prefix = $2) AND ($1 = '' OR k.tenant_id = $1) RETURNING `+keyCols, tenantID, ref).Scan(kr.dest()...)
		if err != nil {
			return err
		}
		a.TenantID = kr.info.TenantID
		a.Target = kr.info.Prefix
		a.Details = map[string]any{"key_id": kr.info.ID, "revoked_at": kr.info.RevokedAt}
		return insertAudit(ctx, tx, a)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return KeyInfo{}, ErrKeyNotFound
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("revoke api key %s: %w", ref, err)
	}
	return kr.result(time.Now()), nil
}

// ListAudit returns audit entries, newest first.
func (s *PGStore) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultAuditLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, action, COALESCE(tenant_id, ''), target, details FROM audit_log
		WHERE ($1 = '' OR tenant_id = $1) AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, f.TenantID, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantID, &e.Target, &e.Details); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
