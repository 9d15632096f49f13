package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Erasure states.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateDone    = "done"
)

// ErrNotFound: no such erasure for this tenant.
var ErrNotFound = errors.New("erasure not found")

// Erasure is what GET /v1/erasures/{id} reports.
type Erasure struct {
	ID            string     `json:"id"`
	State         string     `json:"state"`
	Erased        int64      `json:"erased"`
	SubjectSHA256 string     `json:"subject_sha256"`
	RequestedAt   time.Time  `json:"requested_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// Job is an erasure claimed by one worker.
type Job struct {
	ID, TenantID, Subject, Owner string
	AfterID                      *string  // keyset position; nil before the first page
	Inflight                     []string // a page produced before a crash, to produce again
}

// PGStore keeps erasures in PostgreSQL (migration postgres/00003) and writes
// every request's audit entry (table audit_log) in the request's transaction.
// Erasures belong to the event topic their tombstones go to: a store
// requests and claims only its topic's.
type PGStore struct {
	pool  *pgxpool.Pool
	topic string
}

// NewPGStore returns a store on pool for the event topic.
func NewPGStore(pool *pgxpool.Pool, topic string) *PGStore { return &PGStore{pool: pool, topic: topic} }

// SubjectHash is the hex SHA-256 kept to prove which subject was erased.
func SubjectHash(subject string) string {
	h := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(h[:])
}

// Request stores a pending erasure of subject for tenant, and its audit entry.
func (s *PGStore) Request(ctx context.Context, id, tenant, subject, actor string) (Erasure, error) {
	e := Erasure{ID: id, State: StatePending, SubjectSHA256: SubjectHash(subject)}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO erasures (id, tenant_id, topic, subject, subject_sha256, requested_by) VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING requested_at`, id, tenant, s.topic, subject, e.SubjectSHA256, actor).Scan(&e.RequestedAt); err != nil {
			return fmt.Errorf("insert erasure %s: %w", id, err)
		}
		return tenancy.WriteAudit(ctx, tx, tenancy.AuditEntry{Actor: actor, Action: tenancy.ActionErasureRequest, TenantID: tenant, Target: id,
			Details: map[string]any{"subject_sha256": e.SubjectSHA256}})
	})
	return e, err
}

// RecordDelete writes the audit entry of DELETE /v1/events/{id}.
func (s *PGStore) RecordDelete(ctx context.Context, tenant, eventID, erasureID, actor string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tenancy.WriteAudit(ctx, tx, tenancy.AuditEntry{Actor: actor, Action: tenancy.ActionEventDelete, TenantID: tenant, Target: eventID,
			Details: map[string]any{"erasure_id": erasureID}})
	})
}

// ErasedIDs returns which of ids the read model (schemas.EventsTable) holds as deleted for tenant
// (one primary-key lookup of all of them).
func (s *PGStore) ErasedIDs(ctx context.Context, tenant string, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT external_id FROM `+schemas.EventsTable+` WHERE tenant_id = $1 AND external_id = ANY($2) AND deleted_at IS NOT NULL`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("read erased ids: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read erased ids: %w", err)
	}
	out := make(map[string]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}

// Get returns tenant's erasure id, or ErrNotFound (also for another tenant's).
func (s *PGStore) Get(ctx context.Context, tenant, id string) (Erasure, error) {
	var e Erasure
	err := s.pool.QueryRow(ctx, `SELECT id, state, erased, subject_sha256, requested_at, started_at, finished_at
		FROM erasures WHERE tenant_id = $1 AND id = $2`, tenant, id).
		Scan(&e.ID, &e.State, &e.Erased, &e.SubjectSHA256, &e.RequestedAt, &e.StartedAt, &e.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Erasure{}, ErrNotFound
	}
	if err != nil {
		return Erasure{}, fmt.Errorf("read erasure %s: %w", id, err)
	}
	return e, nil
}

// Claim takes the oldest pending erasure, or a running one whose lease
// passed (its worker died), for owner until now+lease. It returns nil when
// there is nothing to do. SKIP LOCKED lets several gateways claim at once.
func (s *PGStore) Claim(ctx context.Context, owner string, lease time.Duration) (*Job, error) {
	j := Job{Owner: owner}
	err := s.pool.QueryRow(ctx, `UPDATE erasures SET state = 'running', owner = $1, lease_until = now() + $2::interval,
			started_at = COALESCE(started_at, now())
		WHERE id = (SELECT id FROM erasures WHERE topic = $3 AND state <> 'done' AND (state = 'pending' OR lease_until < now())
			ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id, tenant_id, subject, after_id, inflight_ids`, owner, lease.String(), s.topic).
		Scan(&j.ID, &j.TenantID, &j.Subject, &j.AfterID, &j.Inflight)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim erasure: %w", err)
	}
	return &j, nil
}

// NextPage returns up to n ids of the subject's live events after the job's
// position, in external_id order.
func (s *PGStore) NextPage(ctx context.Context, j *Job, n int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT external_id FROM `+schemas.EventsTable+`
		WHERE tenant_id = $1 AND subject = $2 AND deleted_at IS NULL AND ($3::text IS NULL OR external_id > $3)
		ORDER BY external_id LIMIT $4`, j.TenantID, j.Subject, j.AfterID, n)
	if err != nil {
		return nil, fmt.Errorf("read events of erasure %s: %w", j.ID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read events of erasure %s: %w", j.ID, err)
	}
	return ids, nil
}

// ErrLeaseLost: another worker claimed the erasure (this one was too slow).
var ErrLeaseLost = errors.New("erasure lease lost")

// update runs one owner-checked UPDATE of the job's row.
func (s *PGStore) update(ctx context.Context, j *Job, set string, args ...any) error {
	tag, err := s.pool.Exec(ctx, `UPDATE erasures SET `+set+` WHERE id = $1 AND owner = $2`, append([]any{j.ID, j.Owner}, args...)...)
	if err != nil {
		return fmt.Errorf("update erasure %s: %w", j.ID, err)
	}
	if tag.RowsAffected() != 1 {
		return ErrLeaseLost
	}
	return nil
}

// Begin records a page before its tombstones are produced: the position
// moves past it, it is counted, and it is kept as in flight (produced again
// if the worker dies before End). The lease is extended.
func (s *PGStore) Begin(ctx context.Context, j *Job, ids []string, lease time.Duration) error {
	last := ids[len(ids)-1]
	if err := s.update(ctx, j, `after_id = $3, inflight_ids = $4, erased = erased + $5, lease_until = now() + $6::interval`,
		last, ids, len(ids), lease.String()); err != nil {
		return err
	}
	j.AfterID, j.Inflight = &last, ids
	return nil
}

// Touch extends the job's lease (while it waits for the projector).
func (s *PGStore) Touch(ctx context.Context, j *Job, lease time.Duration) error {
	return s.update(ctx, j, `lease_until = now() + $3::interval`, lease.String())
}

// Release ends the job's lease now, its progress (and any in-flight page)
// kept, so the next claim resumes it without waiting for the lease.
func (s *PGStore) Release(ctx context.Context, j *Job) error {
	return s.update(ctx, j, `lease_until = now() - interval '1 millisecond', owner = NULL`)
}

// End records that the in-flight page's tombstones were acknowledged.
func (s *PGStore) End(ctx context.Context, j *Job) error {
	if err := s.update(ctx, j, `inflight_ids = NULL`); err != nil {
		return err
	}
	j.Inflight = nil
	return nil
}

// Finish deletes the subject's quarantined events (the quarantine read
// model, migration 00020), then marks the job done and forgets the subject
// (its hash stays). A crash between the two claims the job again, and the
// delete is repeated harmlessly.
func (s *PGStore) Finish(ctx context.Context, j *Job) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM quarantine WHERE tenant_id = $1 AND subject = $2`, j.TenantID, j.Subject); err != nil {
		return fmt.Errorf("erase quarantined events of erasure %s: %w", j.ID, err)
	}
	return s.update(ctx, j, `state = 'done', finished_at = now(), subject = NULL, inflight_ids = NULL, owner = NULL, lease_until = NULL`)
}

// Ping checks that PostgreSQL answers.
func (s *PGStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }
