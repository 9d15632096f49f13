// Package quarantine keeps the events the gateway refused for good so that
// none is lost: events rejected by a tenant's event schema (and, when the
// tenant asks, by the envelope checks) are produced to the quarantine topic
// (Holder, before the request is answered), projected into PostgreSQL's
// quarantine table by a consumer group that runs in every gateway
// (Projection), listed by GET /v1/quarantine and re-ingested by
// POST /v1/quarantine/replay (Handler, Replayer). Rows expire after the
// tenant's quarantine_days (Sweeper), and a subject's erasure deletes its
// rows (services/gateway/erasure).
//
// Exactly once: a replay sends the events through the same ingest service
// as POST /v1/events, so an event whose id was already accepted is answered
// duplicate (Redis markers) and stored once in the read models whatever
// happens (their unique keys); a replayed row is marked and never selected
// again.
package quarantine

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/schemas"
)

// Row states.
const (
	StateQuarantined = "quarantined"
	StateReplayed    = "replayed"
)

// Entry is one quarantined event as GET /v1/quarantine lists it.
type Entry struct {
	QuarantineID  string     `json:"quarantine_id"`
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	Subject       string     `json:"subject,omitempty"`
	Code          string     `json:"code"`
	Message       string     `json:"message"`
	Pointer       string     `json:"pointer,omitempty"`
	SchemaVersion *int       `json:"schema_version,omitempty"`
	ReceivedAt    time.Time  `json:"received_at"`
	State         string     `json:"state"`
	ReplayedAt    *time.Time `json:"replayed_at,omitempty"`
	IngestID      *string    `json:"ingest_id,omitempty"`
	Original      []byte     `json:"original_base64"` // the bytes as sent
}

// Filter selects a tenant's entries. Zero fields select everything.
type Filter struct {
	Type, Code, Subject, ID, State string
	From, To                       time.Time // received_at in [From, To)
	IDs                            []string  // quarantine ids
	After                          string    // keyset cursor: quarantine ids greater than this
	Limit                          int
}

// PGStore is the quarantine read model in PostgreSQL (migration 00020).
type PGStore struct{ pool *pgxpool.Pool }

// NewPGStore returns the store over pool.
func NewPGStore(pool *pgxpool.Pool) *PGStore { return &PGStore{pool: pool} }

// Insert stores quarantined events; one already stored is left as it is
// (a record projected twice).
func (s *PGStore) Insert(ctx context.Context, qs []*schemas.Quarantined) error {
	if len(qs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, q := range qs {
		var sv *int
		if q.SchemaVersion > 0 {
			sv = &q.SchemaVersion
		}
		b.Queue(`INSERT INTO quarantine (tenant_id, id, external_id, type, subject, code, message, pointer, schema_version, original, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
			q.TenantID, q.QuarantineID, q.ID, q.Type, q.Subject, q.Code, q.Message, q.Pointer, sv, q.Original, q.ReceivedAt)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("store quarantined events: %w", err)
		}
		return nil
	})
}

// notExpired keeps rows younger than the tenant's quarantine_days ($1 is
// the tenant); 7 days when the tenant never set it (eventschemas.DefaultSettings).
const notExpired = `received_at > now() - COALESCE((SELECT quarantine_days FROM schema_settings WHERE tenant_id = $1), 7) * interval '1 day'`

// List returns the tenant's entries matching f, oldest first.
func (s *PGStore) List(ctx context.Context, tenant string, f Filter) ([]Entry, error) {
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	var ids []string
	if f.IDs != nil {
		ids = f.IDs
	}
	rows, err := s.pool.Query(ctx, `SELECT id, external_id, type, subject, code, message, pointer, schema_version, received_at, state, replayed_at, ingest_id, original
		FROM quarantine WHERE tenant_id = $1 AND `+notExpired+`
		AND ($2 = '' OR type = $2) AND ($3 = '' OR code = $3) AND ($4 = '' OR subject = $4) AND ($5 = '' OR external_id = $5)
		AND ($6 = '' OR state = $6) AND ($7::timestamptz IS NULL OR received_at >= $7) AND ($8::timestamptz IS NULL OR received_at < $8)
		AND ($9::text[] IS NULL OR id = ANY($9)) AND id > $10
		ORDER BY id LIMIT $11`,
		tenant, f.Type, f.Code, f.Subject, f.ID, f.State, from, to, ids, f.After, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := row.Scan(&e.QuarantineID, &e.ID, &e.Type, &e.Subject, &e.Code, &e.Message, &e.Pointer, &e.SchemaVersion, &e.ReceivedAt,
			&e.State, &e.ReplayedAt, &e.IngestID, &e.Original)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return es, nil
}

// MarkReplayed records that a replay stored the entry (ingestID: the
// acceptance, or the earlier one it duplicated). Only a row still
// quarantined changes: it reports false when another replay was first.
func (s *PGStore) MarkReplayed(ctx context.Context, tenant, id, ingestID string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE quarantine SET state = 'replayed', replayed_at = now(), ingest_id = NULLIF($3, '')
		WHERE tenant_id = $1 AND id = $2 AND state = 'quarantined'`, tenant, id, ingestID)
	if err != nil {
		return false, fmt.Errorf("mark quarantined event %s replayed: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateReason records why the entry still fails (after a replay).
func (s *PGStore) UpdateReason(ctx context.Context, tenant, id, code, msg, pointer string, version int) error {
	var sv *int
	if version > 0 {
		sv = &version
	}
	_, err := s.pool.Exec(ctx, `UPDATE quarantine SET code = $3, message = $4, pointer = $5, schema_version = $6
		WHERE tenant_id = $1 AND id = $2 AND state = 'quarantined'`, tenant, id, code, msg, pointer, sv)
	if err != nil {
		return fmt.Errorf("update quarantined event %s: %w", id, err)
	}
	return nil
}

// Sweep deletes every tenant's expired entries and returns how many.
func (s *PGStore) Sweep(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM quarantine q WHERE received_at <= now() -
		COALESCE((SELECT quarantine_days FROM schema_settings s WHERE s.tenant_id = q.tenant_id), 7) * interval '1 day'`)
	if err != nil {
		return 0, fmt.Errorf("sweep quarantine: %w", err)
	}
	return tag.RowsAffected(), nil
}
