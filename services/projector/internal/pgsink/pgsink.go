// Package pgsink writes the PostgreSQL read model (table events, migration
// 00002): one row per (tenant_id, external_id), first write wins.
//
// A batch is one transaction (pgx.BeginFunc, so commit/rollback cannot be
// forgotten): COPY the items into a session temp staging table, then
//
//  1. INSERT the first item of each key in the batch (lowest partition
//     offset; all copies of a key share a partition) ON CONFLICT DO NOTHING:
//     an event becomes a stored row, a tombstone becomes a deleted row (so a
//     later event with that id stays refused);
//  2. UPDATE the stored, not yet deleted rows that have a tombstone in the
//     batch: NULL every payload column, keep tenant_id, external_id,
//     content_hash, kafka_partition/kafka_offset, set deleted_at.
//
// Both steps only ever add information the log already implies, so applying
// a batch twice, or overlapping batches after a crash or replay, yields the
// same rows as applying every record once in log order.
//
// The fast path: a batch of events only (no tombstone) is first COPied
// straight into events, in one transaction. The primary key refuses the
// whole COPY if any key is already stored or repeats in the batch (SQLSTATE
// 23505); the transaction then rolls back, nothing is written, and the batch
// takes the staged path above. Either way each key holds its first record,
// so the rows are the same; the fast path writes each row once instead of
// twice (staging, then events) and skips the DISTINCT ON sort. After a
// refused COPY the sink stays on the staged path until a staged batch finds
// no stored key (a replay or a restart over written rows pays one refused
// COPY, not one per batch).
//
// pgx/v5 is the team's mandated driver; COPY is its fastest bulk path. The
// rows are encoded by the sink itself in the binary COPY format (copy.go).
package pgsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// Sink is the PostgreSQL read model.
type Sink struct {
	pool *pgxpool.Pool
	// staged is set after a direct COPY was refused for a stored key, and
	// cleared by a staged batch that found none (Write may run concurrently).
	staged atomic.Bool
}

// New returns a sink writing through pool.
func New(pool *pgxpool.Pool) *Sink { return &Sink{pool: pool} }

// Name implements consumer.Sink.
func (s *Sink) Name() string { return "postgres" }

// stageDDL derives the staging table from the read model (schemas.EventsTable):
// its columns, types, NOT NULLs and defaults, plus the record kind.
const stageDDL = `CREATE TEMP TABLE IF NOT EXISTS projector_stage (
	kind smallint NOT NULL,
	LIKE ` + schemas.EventsTable + ` INCLUDING DEFAULTS
) ON COMMIT DELETE ROWS`

// StageColumns are the staging table's COPY columns: the kind, then
// schemas.EventsColumns (copyColumns encodes them, in this order).
var StageColumns = append([]string{"kind"}, schemas.EventsColumns...)

// eventColumns lists schemas.EventsColumns for SQL.
var eventColumns = strings.Join(schemas.EventsColumns, ", ")

var insertFirst = `INSERT INTO ` + schemas.EventsTable + ` (` + eventColumns + `)
SELECT ` + eventColumns + `
FROM (SELECT DISTINCT ON (tenant_id, external_id) * FROM projector_stage
      ORDER BY tenant_id, external_id, kafka_partition, kafka_offset) first
ORDER BY kafka_partition, kafka_offset
ON CONFLICT (tenant_id, external_id) DO NOTHING`

const applyTombstones = `UPDATE ` + schemas.EventsTable + ` e SET
	ingest_id = NULL, type = NULL, source = NULL, subject = NULL, event_time = NULL, received_at = NULL,
	datacontenttype = NULL, data = NULL, data_base64 = NULL, extensions = NULL, deleted_at = t.deleted_at
FROM (SELECT DISTINCT ON (tenant_id, external_id) tenant_id, external_id, deleted_at FROM projector_stage
      WHERE kind = 2 ORDER BY tenant_id, external_id, kafka_partition, kafka_offset) t
WHERE e.tenant_id = t.tenant_id AND e.external_id = t.external_id AND e.deleted_at IS NULL`

// Write implements consumer.Sink: one transaction per batch.
func (s *Sink) Write(ctx context.Context, items []record.Item) (consumer.Stats, error) {
	rows, err := NewRows(items)
	if err != nil {
		return consumer.Stats{}, err
	}
	if !s.staged.Load() && eventsOnly(items) {
		err := s.writeDirect(ctx, rows)
		if err == nil {
			return consumer.Stats{Rows: len(items)}, nil
		}
		if !isUniqueViolation(err) {
			return consumer.Stats{}, err
		}
		s.staged.Store(true)
		rows.rewind()
	}
	st, err := s.writeStaged(ctx, rows, len(items))
	if err == nil && st.Duplicates == 0 {
		s.staged.Store(false)
	}
	return st, err
}

// writeDirect COPies an events-only batch straight into events.
func (s *Sink) writeDirect(ctx context.Context, rows *Rows) error {
	rows.direct = true
	defer func() { rows.direct = false }()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := copyRows(ctx, tx, schemas.EventsTable, rows); err != nil {
			return fmt.Errorf("copy %d records into events: %w", len(rows.items), err)
		}
		return nil
	})
}

// writeStaged is the general path: staging table, first record per key,
// tombstones.
func (s *Sink) writeStaged(ctx context.Context, rows *Rows, n int) (consumer.Stats, error) {
	var st consumer.Stats
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, stageDDL); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		if err := copyRows(ctx, tx, "projector_stage", rows); err != nil {
			return fmt.Errorf("copy %d records into staging: %w", n, err)
		}
		ins, err := tx.Exec(ctx, insertFirst)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		del, err := tx.Exec(ctx, applyTombstones)
		if err != nil {
			return fmt.Errorf("apply tombstones: %w", err)
		}
		st.Rows = int(ins.RowsAffected() + del.RowsAffected())
		return nil
	})
	if err != nil {
		return consumer.Stats{}, err
	}
	st.Duplicates = n - st.Rows
	if st.Duplicates < 0 { // an event and its tombstone in one batch change one key twice
		st.Duplicates = 0
	}
	return st, nil
}

func eventsOnly(items []record.Item) bool {
	for i := range items {
		if items[i].Kind != record.KindEvent {
			return false
		}
	}
	return true
}

// isUniqueViolation reports a key the direct COPY found already stored (or
// repeated in the batch).
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Ping checks that PostgreSQL answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// rowError is a record whose values cannot be built (never retried).
type rowError struct{ err error }

func (e *rowError) Error() string { return e.err.Error() }
func (e *rowError) Unwrap() error { return e.err }

// Permanent implements consumer.Sink: data exceptions (class 22, e.g. a NUL
// byte or an invalid jsonb value) and integrity violations (class 23) are the
// data's fault; everything else (connection loss, timeouts, admin shutdown,
// missing table during a rebuild) is retried.
func (s *Sink) Permanent(err error) bool {
	var re *rowError
	if errors.As(err, &re) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22", "23":
			return true
		}
	}
	return false
}

// Truncate empties the read model (replay --drop).
func Truncate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, "TRUNCATE "+schemas.EventsTable); err != nil {
		return fmt.Errorf("truncate postgres events: %w", err)
	}
	return nil
}

// Rows are the COPY rows of a batch, encoded in PostgreSQL's binary COPY
// format as they are read (copy.go).
type Rows struct {
	items  []record.Item
	ext    [][]byte
	direct bool // rows of the direct COPY: schemas.EventsColumns, no kind

	i      int    // next item to encode
	buf    []byte // encoded, not yet read
	off    int    // read position in buf
	header bool   // the header is in buf (or was read)
}

// NewRows prepares the COPY rows of items.
func NewRows(items []record.Item) (*Rows, error) {
	r := &Rows{items: items}
	for i := range items {
		if ev := items[i].Event; ev != nil && len(ev.Extensions) > 0 {
			if r.ext == nil {
				r.ext = make([][]byte, len(items))
			}
			b, err := json.Marshal(ev.Extensions)
			if err != nil {
				return nil, &rowError{fmt.Errorf("encode extensions of %s: %w", ev.ID, err)}
			}
			r.ext[i] = b
		}
	}
	return r, nil
}

// rewind makes the rows readable again from the first.
func (r *Rows) rewind() { r.i, r.buf, r.off, r.header = 0, r.buf[:0], 0, false }
