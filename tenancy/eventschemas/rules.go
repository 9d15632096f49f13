package eventschemas

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TenantRules is what the gateway needs to check one tenant's events.
type TenantRules struct {
	Settings Settings
	Types    map[string]TypeRule
}

// TypeRule is one type's effective mode and current schema (Version 0: the
// type has a mode but no schema).
type TypeRule struct {
	Mode     Mode
	Version  int
	Document []byte
}

// ModeOf is the mode that applies to events of typ.
func (t *TenantRules) ModeOf(typ string) Mode {
	if r, ok := t.Types[typ]; ok {
		return r.Mode
	}
	return t.Settings.Mode
}

// LoadRules reads the rules of every tenant with settings or types
// (tenant "") or of one tenant; a tenant absent from the answer has none.
func (r *Registry) LoadRules(ctx context.Context, tenant string) (map[string]*TenantRules, error) {
	out := make(map[string]*TenantRules)
	get := func(id string) *TenantRules {
		t, ok := out[id]
		if !ok {
			t = &TenantRules{Settings: DefaultSettings, Types: make(map[string]TypeRule)}
			out[id] = t
		}
		return t
	}
	rows, err := r.pool.Query(ctx, `SELECT tenant_id, mode, quarantine_invalid, quarantine_days FROM schema_settings WHERE $1 = '' OR tenant_id = $1`, tenant)
	if err != nil {
		return nil, fmt.Errorf("load schema settings: %w", err)
	}
	for rows.Next() {
		var id string
		var s Settings
		if err := rows.Scan(&id, &s.Mode, &s.QuarantineInvalid, &s.QuarantineDays); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load schema settings: %w", err)
		}
		get(id).Settings = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load schema settings: %w", err)
	}
	rows, err = r.pool.Query(ctx, `SELECT t.tenant_id, t.type, t.mode, COALESCE(t.current_version, 0), COALESCE(s.document, '')
		FROM event_types t LEFT JOIN event_schemas s ON s.tenant_id = t.tenant_id AND s.type = t.type AND s.version = t.current_version
		WHERE $1 = '' OR t.tenant_id = $1`, tenant)
	if err != nil {
		return nil, fmt.Errorf("load schema types: %w", err)
	}
	defer rows.Close()
	type typeRow struct {
		tenant, typ string
		mode        *Mode
		rule        TypeRule
	}
	var trs []typeRow
	for rows.Next() {
		var tr typeRow
		var doc string
		if err := rows.Scan(&tr.tenant, &tr.typ, &tr.mode, &tr.rule.Version, &doc); err != nil {
			return nil, fmt.Errorf("load schema types: %w", err)
		}
		tr.rule.Document = []byte(doc)
		trs = append(trs, tr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load schema types: %w", err)
	}
	for _, tr := range trs { // after every tenant's settings are known
		t := get(tr.tenant)
		tr.rule.Mode = t.Settings.Mode
		if tr.mode != nil {
			tr.rule.Mode = *tr.mode
		}
		t.Types[tr.typ] = tr.rule
	}
	return out, nil
}

// Document is the text of one version (ErrVersionNotFound when absent).
func (r *Registry) Document(ctx context.Context, tenant, typ string, version int) ([]byte, error) {
	var doc string
	err := r.pool.QueryRow(ctx, `SELECT document FROM event_schemas WHERE tenant_id = $1 AND type = $2 AND version = $3`, tenant, typ, version).Scan(&doc)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrVersionNotFound
		}
		return nil, fmt.Errorf("read schema %s v%d: %w", typ, version, err)
	}
	return []byte(doc), nil
}
