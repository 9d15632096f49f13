// Package chsink writes the ClickHouse read model: table events
// (ReplacingMergeTree(version, is_deleted) ORDER BY (tenant_id, external_id),
// migration 00001) and the exact per-minute rollup events_per_minute
// (SummingMergeTree fed by a materialized view, migration 00010).
//
// Why the counts are exact under duplicates, replays and crashes:
//
//  1. Before inserting a batch the sink asks ClickHouse for the current state
//     of every key in it that may be stored (argMax over all stored rows by
//     version, so it sees deleted keys too and does not depend on merges);
//     a key it knows is not stored is not asked about (known.go).
//  2. It walks the batch in log order (all copies of a key share a partition,
//     so offsets order them) and keeps only records that change a key's state:
//     the first event of an unseen key (rollup_sign +1), the first tombstone of
//     a live key (-1, carrying the deleted event's type and time so the right
//     minute is decremented), a tombstone of an unseen key (0: it stores the
//     deletion so later copies are refused). Every other record is a
//     duplicate and is not inserted.
//  3. It inserts those rows as ONE block (one INSERT), with a deduplication
//     token. The materialized views turn the same block into signed counts in
//     events_per_minute (and into meter_values, meter_minutes), but ClickHouse
//     commits the events part and each view's part separately: an engine that
//     dies, or a view that fails, in the middle leaves some committed and not
//     the others. So a failed block is kept and sent again, with the same
//     token, before anything else of its partitions: each table that holds its
//     part skips it, the others write it (resend.go). A crash after the whole
//     INSERT leaves every table updated, and the replayed batch finds every key
//     already in its final state.
//
// Versions make the events table agree with PostgreSQL even without the
// lookup: an event row has version (1<<62) - offset (the first copy in the
// log wins), a tombstone (1<<63) + offset with is_deleted = 1 (it beats every
// copy). Counts: SELECT sum(events) FROM events_per_minute (exact at any
// merge state), or count() FROM events FINAL.
//
// A batch's tombstones also erase the personal columns of their keys' event
// rows from storage, not only from FINAL (scrub.go).
//
// The remaining assumptions: one writer per partition (the consumer group
// guarantees it; BlockRebalanceOnPoll keeps a batch from straddling a
// rebalance), and the process that saw an INSERT fail is the one that retries
// it (a block that landed in part when the projector stops or its partitions
// move is planned again from the lookup by the next writer, which can leave
// the rollup short or doubled: resend.go).
//
// clickhouse-go/v2 is the team's mandated driver (HTTP protocol locally).
package chsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// Version of an event copy at offset: lower offsets win.
func EventVersion(offset int64) uint64 { return 1<<62 - uint64(offset) }

// TombstoneVersion of a tombstone at offset: beats every event copy.
func TombstoneVersion(offset int64) uint64 { return 1<<63 + uint64(offset) }

// Sink is the ClickHouse read model.
type Sink struct {
	conn driver.Conn
	// LookupChunk bounds the keys per existence query (query size).
	LookupChunk int
	// KnownMax bounds the rows read into the set of stored keys (known.go);
	// with more, or 0, every key of a batch is looked up.
	KnownMax int
	known    known
	pending  pending // blocks to send again (resend.go)
	// insertCols are the insert's column names and types, from the first
	// batch's DESCRIBE TABLE (clickhouse-go runs one before every HTTP batch
	// unless given them: one more request per batch to the engine, which runs
	// one at a time). Cleared when an insert fails, so a changed table is
	// described again on the retry.
	insertCols atomic.Pointer[[]clickhouse.ColumnNameAndType]
}

// New returns a sink writing through conn.
func New(conn driver.Conn) *Sink {
	return &Sink{conn: conn, LookupChunk: 20000, KnownMax: DefaultKnownMax}
}

// DefaultKnownMax: 20 million rows, a set of about 200-400 MB at most.
const DefaultKnownMax = 20_000_000

// Name implements consumer.Sink.
func (s *Sink) Name() string { return "clickhouse" }

type key struct{ tenant, id string }

// state is a key's logical state.
type state struct {
	exists  bool
	deleted bool
	typ     string
	time    time.Time
}

// Row is one row of the events table.
type Row struct {
	TenantID, ExternalID, Type, Source, Subject string
	Data                                        string // the JSON data as sent; '' for binary data or none (migration 00030)
	EventTime, ReceivedAt                       time.Time
	Partition                                   int32
	Offset                                      int64
	Version                                     uint64
	IsDeleted                                   uint8
	Sign                                        int8
}

// batchKeys indexes the distinct keys of a batch: keys in first-seen order,
// and for every item the slot of its key in keys. The lookup and Plan work
// on slots, so the batch's keys are hashed once (one map for the batch,
// where the lookup's dedup, its filter and Plan's running state each had
// one).
type batchKeys struct {
	keys  []key
	slot  []int32
	index map[key]int32
}

func indexKeys(items []record.Item) batchKeys {
	bk := batchKeys{slot: make([]int32, len(items)), index: make(map[key]int32, len(items))}
	for i := range items {
		k := key{items[i].TenantID, items[i].ExternalID}
		n, ok := bk.index[k]
		if !ok {
			n = int32(len(bk.keys))
			bk.index[k] = n
			bk.keys = append(bk.keys, k)
		}
		bk.slot[i] = n
	}
	return bk
}

// Plan turns a batch into the rows that change state, given the stored state
// of its keys. It is pure: the exactness argument lives here (plan).
func Plan(items []record.Item, stored map[key]state) (rows []Row, duplicates int) {
	bk := indexKeys(items)
	states := make([]state, len(bk.keys))
	for i, k := range bk.keys {
		states[i] = stored[k]
	}
	return plan(items, bk.slot, states)
}

// plan is Plan over slots: states[slot[i]] is the state of item i's key,
// stored state on entry, updated as the walk goes.
func plan(items []record.Item, slot []int32, states []state) (rows []Row, duplicates int) {
	rows = make([]Row, 0, len(items))
	for i := range items {
		it := &items[i]
		st := &states[slot[i]]
		switch it.Kind {
		case record.KindEvent:
			if st.exists {
				duplicates++
				continue
			}
			ev := it.Event
			rows = append(rows, Row{TenantID: it.TenantID, ExternalID: it.ExternalID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Data: string(ev.Data),
				EventTime: ev.Time, ReceivedAt: ev.ReceivedAt, Partition: it.Partition, Offset: it.Offset, Version: EventVersion(it.Offset), Sign: 1})
			*st = state{exists: true, typ: ev.Type, time: ev.Time}
		case record.KindTombstone:
			if st.deleted {
				duplicates++
				continue
			}
			var sign int8
			if st.exists {
				sign = -1
			}
			rows = append(rows, Row{TenantID: it.TenantID, ExternalID: it.ExternalID, Type: st.typ, EventTime: st.time, ReceivedAt: it.DeletedAt(),
				Partition: it.Partition, Offset: it.Offset, Version: TombstoneVersion(it.Offset), IsDeleted: 1, Sign: sign})
			*st = state{exists: true, deleted: true, typ: st.typ, time: st.time}
		}
	}
	return rows, duplicates
}

// Write implements consumer.Sink.
func (s *Sink) Write(ctx context.Context, items []record.Item) (consumer.Stats, error) {
	st, written, err := s.resend(ctx, items)
	if err != nil {
		return consumer.Stats{}, err
	}
	if !written {
		if st, err = s.write(ctx, items); err != nil {
			return consumer.Stats{}, err
		}
	}
	if err := s.scrub(ctx, items); err != nil {
		return consumer.Stats{}, err
	}
	return st, nil
}

// write looks up, plans and inserts items. A block whose INSERT failed for
// a reason that may pass is kept to be sent again (resend.go).
func (s *Sink) write(ctx context.Context, items []record.Item) (consumer.Stats, error) {
	bk := indexKeys(items)
	ask, err := s.toAsk(ctx, bk)
	if err != nil {
		return consumer.Stats{}, err
	}
	states, err := s.lookup(ctx, bk, ask)
	if err != nil {
		return consumer.Stats{}, err
	}
	rows, dups := plan(items, bk.slot, states)
	st := consumer.Stats{Rows: len(rows), Duplicates: dups}
	if len(rows) == 0 {
		return st, nil
	}
	blk := &pendingBlock{token: newToken(), rows: rows, stats: st}
	if err := s.insert(ctx, rows, blk.token); err != nil {
		if !s.Permanent(err) {
			blk.batch, blk.parts = batchID(items), partitions(rows)
			s.keep(blk)
		}
		return consumer.Stats{}, err
	}
	return st, nil
}

// insertColumns are the columns of events the sink writes, in the order of
// insertSQL, each with its values for a batch of rows. The batch is built
// column by column (one typed slice per column, appended at once), not row
// by row, which boxed every value of every row into an interface.
var insertColumns = []struct {
	name   string
	values func([]Row) any
}{
	{"tenant_id", func(rs []Row) any { return lowCardinalityOf(rs, func(r *Row) string { return r.TenantID }) }},
	{"external_id", func(rs []Row) any { return columnOf(rs, func(r *Row) string { return r.ExternalID }) }},
	{"type", func(rs []Row) any { return lowCardinalityOf(rs, func(r *Row) string { return r.Type }) }},
	{"source", func(rs []Row) any { return lowCardinalityOf(rs, func(r *Row) string { return r.Source }) }},
	{"subject", func(rs []Row) any { return columnOf(rs, func(r *Row) string { return r.Subject }) }},
	{"event_time", func(rs []Row) any { return columnOf(rs, func(r *Row) time.Time { return r.EventTime }) }},
	{"received_at", func(rs []Row) any { return columnOf(rs, func(r *Row) time.Time { return r.ReceivedAt }) }},
	{"kafka_partition", func(rs []Row) any { return columnOf(rs, func(r *Row) int32 { return r.Partition }) }},
	{"kafka_offset", func(rs []Row) any { return columnOf(rs, func(r *Row) int64 { return r.Offset }) }},
	{"version", func(rs []Row) any { return columnOf(rs, func(r *Row) uint64 { return r.Version }) }},
	{"is_deleted", func(rs []Row) any { return columnOf(rs, func(r *Row) uint8 { return r.IsDeleted }) }},
	{"rollup_sign", func(rs []Row) any { return columnOf(rs, func(r *Row) int8 { return r.Sign }) }},
	{"data", func(rs []Row) any { return columnOf(rs, func(r *Row) string { return r.Data }) }},
}

func columnOf[T any](rows []Row, value func(*Row) T) []T {
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = value(&rows[i])
	}
	return out
}

// lowCardinalityOf is a LowCardinality(String) column's values: one boxed
// string per distinct value, shared by its rows. The driver reads such a
// column by reflection, one interface per row: from a []string each row's
// string was boxed anew (an allocation per row and column, 4-5 % of the
// projector's CPU with its GC share); the elements of a []any are already
// interfaces. A batch holds few distinct tenants, types and sources, often
// in runs (a producer's request is one tenant's): a row like the one before
// takes its box without a lookup.
func lowCardinalityOf(rows []Row, value func(*Row) string) []any {
	out := make([]any, len(rows))
	var last any = ""
	lastS := ""
	var boxed map[string]any
	for i := range rows {
		s := value(&rows[i])
		if s != lastS {
			if boxed == nil {
				boxed = map[string]any{}
			}
			b, ok := boxed[s]
			if !ok {
				b = s
				boxed[s] = b
			}
			last, lastS = b, s
		}
		out[i] = last
	}
	return out
}

var insertSQL = func() string {
	names := make([]string, len(insertColumns))
	for i, c := range insertColumns {
		names[i] = c.name
	}
	return "INSERT INTO events (" + strings.Join(names, ", ") + ")"
}()

// insert sends rows as one block with its deduplication token.
func (s *Sink) insert(ctx context.Context, rows []Row, token string) (err error) {
	opts := []clickhouse.QueryOption{clickhouse.WithSettings(dedupSettings(token))}
	if cols := s.insertCols.Load(); cols != nil {
		opts = append(opts, clickhouse.WithColumnNamesAndTypes(*cols))
	}
	pctx := clickhouse.Context(ctx, opts...)
	defer func() {
		if err != nil {
			s.insertCols.Store(nil)
		}
	}()
	b, err := s.conn.PrepareBatch(pctx, insertSQL)
	if err != nil {
		return fmt.Errorf("prepare clickhouse insert: %w", err)
	}
	defer func() { _ = b.Abort() }()
	if s.insertCols.Load() == nil {
		cols := make([]clickhouse.ColumnNameAndType, 0, len(b.Columns()))
		for _, c := range b.Columns() {
			cols = append(cols, clickhouse.ColumnNameAndType{Name: c.Name(), Type: string(c.Type())})
		}
		s.insertCols.Store(&cols)
	}
	for i, c := range insertColumns {
		if err := b.Column(i).Append(c.values(rows)); err != nil {
			// The value of a record the driver cannot convert: the consumer
			// splits the batch until that record is alone, for the DLQ.
			return &rowError{fmt.Errorf("append column %s of %d rows: %w", c.name, len(rows), err)}
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rows into clickhouse events: %w", len(rows), err)
	}
	return nil
}

// lookup returns the stored state of the batch's keys, by slot: asked (the
// keys that may be stored, toAsk) are looked up, the others and a key not
// found have the zero state.
func (s *Sink) lookup(ctx context.Context, bk batchKeys, ask []key) ([]state, error) {
	states := make([]state, len(bk.keys))
	chunk := max(s.LookupChunk, 1)
	for start := 0; start < len(ask); start += chunk {
		if err := s.lookupChunk(ctx, ask[start:min(start+chunk, len(ask))], bk.index, states); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// lookupChunk asks for the stored state of keys and sets it in states, at
// the slot index gives. Rows of a key not in the batch (the same external id
// in another tenant of the list) are read and ignored.
func (s *Sink) lookupChunk(ctx context.Context, keys []key, index map[key]int32, states []state) error {
	q := lookupQuery(keys)
	// The id list can exceed the default 256 KiB query size.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_query_size": 64 << 20}))
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("look up %d keys in clickhouse: %w", len(keys), err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k   key
			st  state
			del uint8
		)
		if err := rows.Scan(&k.tenant, &k.id, &del, &st.typ, &st.time); err != nil {
			return fmt.Errorf("scan clickhouse key state: %w", err)
		}
		n, ok := index[k]
		if !ok {
			continue
		}
		st.exists, st.deleted = true, del == 1
		states[n] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read clickhouse key states: %w", err)
	}
	return nil
}

// lookupQuery is the existence query of keys. The external ids travel as
// one TSV string literal read through format() (a 10,000-key lookup took a
// median 0.2 s on the local engine, against 0.9-2.5 s for the same keys as a
// literal list of (tenant_id, external_id) tuples: parsing and matching the
// tuples was the cost).
func lookupQuery(keys []key) string {
	var q strings.Builder
	q.Grow(256 + 24*len(keys))
	q.WriteString("SELECT tenant_id, external_id, argMax(is_deleted, version), argMax(type, version), argMax(event_time, version) FROM events WHERE tenant_id IN (")
	writeTenants(&q, keys)
	q.WriteString(") AND external_id IN (SELECT external_id FROM format(TSV, 'external_id String', '")
	for i, k := range keys {
		if i > 0 {
			q.WriteString(`\n`)
		}
		tsvLiteral(&q, k.id)
	}
	q.WriteString("')) GROUP BY tenant_id, external_id")
	return q.String()
}

// writeTenants writes the distinct tenants of keys as a list of literals.
// A batch holds few tenants, usually in runs: only a tenant unlike the
// previous key's is looked up in the set.
func writeTenants(q *strings.Builder, keys []key) {
	tenants := map[string]struct{}{}
	prev := ""
	for i, k := range keys {
		if i > 0 && k.tenant == prev {
			continue
		}
		prev = k.tenant
		if _, ok := tenants[k.tenant]; ok {
			continue
		}
		if len(tenants) > 0 {
			q.WriteByte(',')
		}
		tenants[k.tenant] = struct{}{}
		quote(q, k.tenant)
	}
}

// tsvLiteral writes s as one TSV field inside a ClickHouse string literal:
// escaped for TSV (backslash, tab, newline, carriage return, NUL), then for
// the literal (backslash, quote).
func tsvLiteral(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\\\`)
		case '\t':
			b.WriteString(`\\t`)
		case '\n':
			b.WriteString(`\\n`)
		case '\r':
			b.WriteString(`\\r`)
		case 0:
			b.WriteString(`\\0`)
		case '\'':
			b.WriteString(`\'`)
		default:
			b.WriteByte(c)
		}
	}
}

// quote writes s as a ClickHouse string literal.
func quote(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
}

// Ping checks that ClickHouse answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

type rowError struct{ err error }

func (e *rowError) Error() string { return e.err.Error() }
func (e *rowError) Unwrap() error { return e.err }

// Permanent implements consumer.Sink: values the driver cannot convert and
// ClickHouse exceptions about the data itself are the record's fault;
// connection errors, timeouts and server-side trouble are retried.
func (s *Sink) Permanent(err error) bool {
	var re *rowError
	if errors.As(err, &re) {
		return true
	}
	var ce *column.ColumnConverterError
	if errors.As(err, &ce) {
		return true
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 321: // CANNOT_PARSE_*, TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, INCORRECT_DATA, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
			return true
		}
	}
	return false
}

// Truncate empties the read model (replay --drop).
func Truncate(ctx context.Context, conn driver.Conn) error {
	for _, t := range []string{"events", "events_per_minute", "meter_values", "meter_minutes"} {
		if err := conn.Exec(ctx, "TRUNCATE TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("truncate clickhouse %s: %w", t, err)
		}
	}
	return nil
}
