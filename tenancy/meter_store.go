package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Audit actions of meters.
const (
	ActionMeterCreate = "meter.create"
	ActionMeterUpdate = "meter.update"
	ActionMeterDelete = "meter.delete"
)

// ErrMeterNotFound: no meter with this slug in the tenant.
var ErrMeterNotFound = fmt.Errorf("meter %w", ErrNotFound)

// PutMeter creates or replaces meter slug of tenant tenantID and reports
// whether it created it. Errors: *ValidationError, ErrTenantNotFound.
func (a *Admin) PutMeter(ctx context.Context, actor, tenantID, slug string, spec MeterSpec) (Meter, bool, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(tenantID), ValidateMeterSlug(slug)); err != nil {
		return Meter{}, false, firstErr(err)
	}
	spec, err := spec.validate()
	if err != nil {
		return Meter{}, false, err
	}
	return a.store.PutMeter(ctx, tenantID, slug, spec, audit{Actor: actor, TenantID: tenantID, Target: slug})
}

// GetMeter returns meter slug of tenant tenantID or ErrMeterNotFound.
func (a *Admin) GetMeter(ctx context.Context, tenantID, slug string) (Meter, error) {
	if err := errors.Join(ValidateTenantID(tenantID), ValidateMeterSlug(slug)); err != nil {
		return Meter{}, firstErr(err)
	}
	return a.store.Meter(ctx, tenantID, slug)
}

// ListMeters returns the meters of tenant tenantID, or ErrTenantNotFound.
func (a *Admin) ListMeters(ctx context.Context, tenantID string) ([]Meter, error) {
	if err := ValidateTenantID(tenantID); err != nil {
		return nil, err
	}
	if _, err := a.store.GetTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	return a.store.ListMeters(ctx, tenantID)
}

// DeleteMeter removes meter slug of tenant tenantID and returns what it was.
func (a *Admin) DeleteMeter(ctx context.Context, actor, tenantID, slug string) (Meter, error) {
	if err := errors.Join(validateActor(actor), ValidateTenantID(tenantID), ValidateMeterSlug(slug)); err != nil {
		return Meter{}, firstErr(err)
	}
	return a.store.DeleteMeter(ctx, tenantID, slug, audit{Actor: actor, Action: ActionMeterDelete, TenantID: tenantID, Target: slug})
}

const meterCols = `tenant_id, slug, definition, created_at, updated_at`

func scanMeter(row pgx.Row) (Meter, error) {
	var m Meter
	var def []byte
	if err := row.Scan(&m.TenantID, &m.Slug, &def, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return Meter{}, err
	}
	if err := json.Unmarshal(def, &m.MeterSpec); err != nil {
		return Meter{}, fmt.Errorf("meter %s/%s: stored definition: %w", m.TenantID, m.Slug, err)
	}
	return m, nil
}

// PutMeter inserts or replaces a meter with its audit entry (meter.create
// or meter.update, the new definition and, on update, the old one).
func (s *PGStore) PutMeter(ctx context.Context, tenantID, slug string, spec MeterSpec, a audit) (Meter, bool, error) {
	var m Meter
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR SHARE`, tenantID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrTenantNotFound
			}
			return err
		}
		old, err := scanMeter(tx.QueryRow(ctx, `SELECT `+meterCols+` FROM meters WHERE tenant_id = $1 AND slug = $2 FOR UPDATE`, tenantID, slug))
		created = errors.Is(err, pgx.ErrNoRows)
		if err != nil && !created {
			return err
		}
		m, err = scanMeter(tx.QueryRow(ctx, `INSERT INTO meters (tenant_id, slug, definition) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id, slug) DO UPDATE SET definition = EXCLUDED.definition, updated_at = now()
			RETURNING `+meterCols, tenantID, slug, spec))
		if err != nil {
			return err
		}
		a.Action, a.Details = ActionMeterCreate, map[string]any{"definition": spec}
		if !created {
			a.Action, a.Details["previous"] = ActionMeterUpdate, old.MeterSpec
		}
		return insertAudit(ctx, tx, a)
	})
	if errors.Is(err, ErrTenantNotFound) {
		return Meter{}, false, err
	}
	if err != nil {
		return Meter{}, false, fmt.Errorf("put meter %s/%s: %w", tenantID, slug, err)
	}
	return m, created, nil
}

// Meter returns meter slug of tenantID or ErrMeterNotFound. The query
// service reads definitions through it.
func (s *PGStore) Meter(ctx context.Context, tenantID, slug string) (Meter, error) {
	m, err := scanMeter(s.pool.QueryRow(ctx, `SELECT `+meterCols+` FROM meters WHERE tenant_id = $1 AND slug = $2`, tenantID, slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return Meter{}, ErrMeterNotFound
	}
	if err != nil {
		return Meter{}, fmt.Errorf("read meter %s/%s: %w", tenantID, slug, err)
	}
	return m, nil
}

// ListMeters returns tenantID's meters ordered by slug.
func (s *PGStore) ListMeters(ctx context.Context, tenantID string) ([]Meter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+meterCols+` FROM meters WHERE tenant_id = $1 ORDER BY slug`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list meters of %s: %w", tenantID, err)
	}
	defer rows.Close()
	out := []Meter{}
	for rows.Next() {
		m, err := scanMeter(rows)
		if err != nil {
			return nil, fmt.Errorf("list meters of %s: %w", tenantID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list meters of %s: %w", tenantID, err)
	}
	return out, nil
}

// DeleteMeter deletes a meter with its audit entry (the deleted definition)
// or returns ErrMeterNotFound.
func (s *PGStore) DeleteMeter(ctx context.Context, tenantID, slug string, a audit) (Meter, error) {
	var m Meter
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		m, err = scanMeter(tx.QueryRow(ctx, `DELETE FROM meters WHERE tenant_id = $1 AND slug = $2 RETURNING `+meterCols, tenantID, slug))
		if err != nil {
			return err
		}
		a.Details = map[string]any{"definition": m.MeterSpec}
		return insertAudit(ctx, tx, a)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Meter{}, ErrMeterNotFound
	}
	if err != nil {
		return Meter{}, fmt.Errorf("delete meter %s/%s: %w", tenantID, slug, err)
	}
	return m, nil
}
