package eventschemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/tenancy"
)

// Mode is how a type's schema is applied at the gateway.
type Mode string

// The modes: not checked; checked, violations accepted with a warning;
// checked, violations rejected (and quarantined).
const (
	ModeOff     Mode = "off"
	ModeWarn    Mode = "warn"
	ModeEnforce Mode = "enforce"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOff, ModeWarn, ModeEnforce:
		return m, nil
	}
	return "", &tenancy.ValidationError{Field: "mode", Message: fmt.Sprintf("must be off, warn or enforce, got %q", s)}
}

// NotifyChannel is the PostgreSQL channel every registry change is announced
// on (payload: the tenant id), by triggers of migration 00020.
const NotifyChannel = "pulsestream_event_schemas"

// Audit actions.
const (
	ActionVersionCreate  = "schema.version.create"
	ActionTypeUpdate     = "schema.type.update"
	ActionSettingsUpdate = "schema.settings.update"
)

// Errors of the registry.
var (
	ErrTypeNotFound    = errors.New("no schema for this type")
	ErrVersionNotFound = errors.New("no such schema version")
)

// Version is one immutable schema version.
type Version struct {
	Type      string          `json:"type"`
	Version   int             `json:"version"`
	Schema    json.RawMessage `json:"schema"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
	Current   bool            `json:"current"`
	Forced    *bool           `json:"forced,omitempty"` // set on creation only
	Warnings  []string        `json:"compatibility_overridden,omitempty"`
}

// TypeInfo is one registered type of a tenant.
type TypeInfo struct {
	Type           string `json:"type"`
	Mode           *Mode  `json:"mode"` // nil: the tenant's mode applies
	EffectiveMode  Mode   `json:"effective_mode"`
	CurrentVersion *int   `json:"current_version"`
	Versions       int    `json:"versions"`
}

// Settings are a tenant's schema settings.
type Settings struct {
	Mode              Mode `json:"mode"`
	QuarantineInvalid bool `json:"quarantine_invalid"`
	QuarantineDays    int  `json:"quarantine_days"`
}

// DefaultSettings are those of a tenant that never set any.
var DefaultSettings = Settings{Mode: ModeOff, QuarantineDays: 7}

// SettingsPatch changes some settings.
type SettingsPatch struct {
	Mode              *string `json:"mode,omitempty"`
	QuarantineInvalid *bool   `json:"quarantine_invalid,omitempty"`
	QuarantineDays    *int    `json:"quarantine_days,omitempty"`
}

// TypePatch changes a type: its mode ("" or "inherit": the tenant's) and
// its current version (an existing one: a rollback or roll forward).
type TypePatch struct {
	Mode           *string `json:"mode,omitempty"`
	CurrentVersion *int    `json:"current_version,omitempty"`
}

var typePattern = regexp.MustCompile("^[^/\x00-\x1f\x7f]{1,256}$")

func validateType(t string) error {
	if !typePattern.MatchString(t) {
		return &tenancy.ValidationError{Field: "type", Message: "must be 1 to 256 characters without '/' or control characters"}
	}
	return nil
}

// Registry is the PostgreSQL store and the one implementation of every
// registry action, called by the admin API and pulsectl.
type Registry struct {
	pool *pgxpool.Pool
}

// NewRegistry returns the registry over pool.
func NewRegistry(pool *pgxpool.Pool) *Registry { return &Registry{pool: pool} }

func tenantExists(ctx context.Context, q pgx.Tx, tenant string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1`, tenant).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return tenancy.ErrTenantNotFound
	}
	return err
}

// AddVersion compiles doc and stores it as the next version of (tenant,
// type), which becomes current. Unless force, a version incompatible with
// the current one is refused (*IncompatibleError); a document that does not
// compile is refused (*CompileError).
func (r *Registry) AddVersion(ctx context.Context, actor, tenant, typ string, doc []byte, force bool) (Version, error) {
	if err := validateType(typ); err != nil {
		return Version{}, err
	}
	if _, err := Compile(doc); err != nil {
		return Version{}, err
	}
	doc, err := normalize(doc)
	if err != nil {
		return Version{}, err
	}
	var v Version
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO event_types (tenant_id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING`, tenant, typ); err != nil {
			return err
		}
		var current *int
		if err := tx.QueryRow(ctx, `SELECT current_version FROM event_types WHERE tenant_id = $1 AND type = $2 FOR UPDATE`, tenant, typ).Scan(&current); err != nil {
			return err
		}
		var problems []string
		if current != nil {
			var old []byte
			if err := tx.QueryRow(ctx, `SELECT document FROM event_schemas WHERE tenant_id = $1 AND type = $2 AND version = $3`, tenant, typ, *current).Scan(&old); err != nil {
				return err
			}
			if problems = Incompatible(old, doc); len(problems) > 0 && !force {
				return &IncompatibleError{Problems: problems}
			}
		}
		err := tx.QueryRow(ctx, `INSERT INTO event_schemas (tenant_id, type, version, document, created_by)
			SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4 FROM event_schemas WHERE tenant_id = $1 AND type = $2
			RETURNING version, created_at`, tenant, typ, string(doc), actor).Scan(&v.Version, &v.CreatedAt)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE event_types SET current_version = $3, updated_at = now() WHERE tenant_id = $1 AND type = $2`, tenant, typ, v.Version); err != nil {
			return err
		}
		v.Type, v.Schema, v.CreatedBy, v.Current, v.Forced, v.Warnings = typ, doc, actor, true, &force, problems
		return tenancy.WriteAudit(ctx, tx, tenancy.AuditEntry{Actor: actor, Action: ActionVersionCreate, TenantID: tenant, Target: typ,
			Details: map[string]any{"version": v.Version, "forced": force, "overridden": problems}})
	})
	if err != nil {
		return Version{}, fmt.Errorf("add schema version of %s: %w", typ, err)
	}
	return v, nil
}

// Versions lists the versions of (tenant, type), oldest first.
func (r *Registry) Versions(ctx context.Context, tenant, typ string) ([]Version, error) {
	rows, err := r.pool.Query(ctx, `SELECT s.type, s.version, s.document, s.created_by, s.created_at, s.version = t.current_version
		FROM event_schemas s JOIN event_types t USING (tenant_id, type) WHERE s.tenant_id = $1 AND s.type = $2 ORDER BY s.version`, tenant, typ)
	if err != nil {
		return nil, fmt.Errorf("list schema versions: %w", err)
	}
	vs, err := pgx.CollectRows(rows, scanVersion)
	if err != nil {
		return nil, fmt.Errorf("list schema versions: %w", err)
	}
	if len(vs) == 0 {
		return nil, ErrTypeNotFound
	}
	return vs, nil
}

func scanVersion(row pgx.CollectableRow) (Version, error) {
	var v Version
	var doc string
	err := row.Scan(&v.Type, &v.Version, &doc, &v.CreatedBy, &v.CreatedAt, &v.Current)
	v.Schema = json.RawMessage(doc)
	return v, err
}

// Get is one version of (tenant, type); version 0 is the current one.
func (r *Registry) Get(ctx context.Context, tenant, typ string, version int) (Version, error) {
	rows, err := r.pool.Query(ctx, `SELECT s.type, s.version, s.document, s.created_by, s.created_at, s.version = t.current_version
		FROM event_schemas s JOIN event_types t USING (tenant_id, type)
		WHERE s.tenant_id = $1 AND s.type = $2 AND s.version = CASE WHEN $3 = 0 THEN t.current_version ELSE $3 END`, tenant, typ, version)
	if err != nil {
		return Version{}, fmt.Errorf("get schema version: %w", err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, ErrVersionNotFound
	}
	return v, err
}

// Types lists the tenant's registered types (with a schema or a mode).
func (r *Registry) Types(ctx context.Context, tenant string) ([]TypeInfo, error) {
	set, err := r.Settings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT t.type, t.mode, t.current_version, (SELECT count(*) FROM event_schemas s WHERE s.tenant_id = t.tenant_id AND s.type = t.type)
		FROM event_types t WHERE t.tenant_id = $1 ORDER BY t.type`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list schema types: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TypeInfo, error) {
		var t TypeInfo
		err := row.Scan(&t.Type, &t.Mode, &t.CurrentVersion, &t.Versions)
		t.EffectiveMode = set.Mode
		if t.Mode != nil {
			t.EffectiveMode = *t.Mode
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list schema types: %w", err)
	}
	return ts, nil
}

// UpdateType sets a type's mode and/or current version.
func (r *Registry) UpdateType(ctx context.Context, actor, tenant, typ string, p TypePatch) (TypeInfo, error) {
	if err := validateType(typ); err != nil {
		return TypeInfo{}, err
	}
	if p.Mode == nil && p.CurrentVersion == nil {
		return TypeInfo{}, &tenancy.ValidationError{Field: "settings", Message: "nothing to change: send mode and/or current_version"}
	}
	var mode *Mode
	if p.Mode != nil && *p.Mode != "" && *p.Mode != "inherit" {
		m, err := ParseMode(*p.Mode)
		if err != nil {
			return TypeInfo{}, err
		}
		mode = &m
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO event_types (tenant_id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING`, tenant, typ); err != nil {
			return err
		}
		if p.Mode != nil {
			if _, err := tx.Exec(ctx, `UPDATE event_types SET mode = $3, updated_at = now() WHERE tenant_id = $1 AND type = $2`, tenant, typ, mode); err != nil {
				return err
			}
		}
		if p.CurrentVersion != nil {
			_, err := tx.Exec(ctx, `UPDATE event_types SET current_version = $3, updated_at = now() WHERE tenant_id = $1 AND type = $2`, tenant, typ, *p.CurrentVersion)
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: no such version
				return ErrVersionNotFound
			}
			if err != nil {
				return err
			}
		}
		return tenancy.WriteAudit(ctx, tx, tenancy.AuditEntry{Actor: actor, Action: ActionTypeUpdate, TenantID: tenant, Target: typ,
			Details: map[string]any{"mode": p.Mode, "current_version": p.CurrentVersion}})
	})
	if err != nil {
		return TypeInfo{}, fmt.Errorf("update schema type %s: %w", typ, err)
	}
	ts, err := r.Types(ctx, tenant)
	for _, t := range ts {
		if t.Type == typ {
			return t, nil
		}
	}
	return TypeInfo{}, err
}

// Settings are the tenant's schema settings (DefaultSettings when unset).
func (r *Registry) Settings(ctx context.Context, tenant string) (Settings, error) {
	s := DefaultSettings
	var exists bool
	err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, tenant).Scan(&exists)
	if err != nil {
		return s, fmt.Errorf("read schema settings: %w", err)
	}
	if !exists {
		return s, tenancy.ErrTenantNotFound
	}
	err = r.pool.QueryRow(ctx, `SELECT mode, quarantine_invalid, quarantine_days FROM schema_settings WHERE tenant_id = $1`, tenant).
		Scan(&s.Mode, &s.QuarantineInvalid, &s.QuarantineDays)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("read schema settings: %w", err)
	}
	return s, nil
}

// UpdateSettings changes the tenant's schema settings.
func (r *Registry) UpdateSettings(ctx context.Context, actor, tenant string, p SettingsPatch) (Settings, error) {
	s, err := r.Settings(ctx, tenant)
	if err != nil {
		return s, err
	}
	if p.Mode == nil && p.QuarantineInvalid == nil && p.QuarantineDays == nil {
		return s, &tenancy.ValidationError{Field: "settings", Message: "nothing to change: send mode, quarantine_invalid and/or quarantine_days"}
	}
	if p.Mode != nil {
		if s.Mode, err = ParseMode(*p.Mode); err != nil {
			return s, err
		}
	}
	if p.QuarantineInvalid != nil {
		s.QuarantineInvalid = *p.QuarantineInvalid
	}
	if p.QuarantineDays != nil {
		if *p.QuarantineDays < 1 || *p.QuarantineDays > 3650 {
			return s, &tenancy.ValidationError{Field: "quarantine_days", Message: fmt.Sprintf("must be between 1 and 3650, got %d", *p.QuarantineDays)}
		}
		s.QuarantineDays = *p.QuarantineDays
	}
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO schema_settings (tenant_id, mode, quarantine_invalid, quarantine_days) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id) DO UPDATE SET mode = $2, quarantine_invalid = $3, quarantine_days = $4, updated_at = now()`,
			tenant, s.Mode, s.QuarantineInvalid, s.QuarantineDays); err != nil {
			return err
		}
		return tenancy.WriteAudit(ctx, tx, tenancy.AuditEntry{Actor: actor, Action: ActionSettingsUpdate, TenantID: tenant,
			Details: map[string]any{"mode": s.Mode, "quarantine_invalid": s.QuarantineInvalid, "quarantine_days": s.QuarantineDays}})
	})
	if err != nil {
		return s, fmt.Errorf("update schema settings: %w", err)
	}
	return s, nil
}

// Document is the schema text.
func (v Version) Document() []byte { return v.Schema }
