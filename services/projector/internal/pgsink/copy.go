package pgsink

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// The COPY rows are encoded here, in PostgreSQL's binary COPY format, and
// sent through pgx's own COPY protocol (pgconn.CopyFrom). pgx.CopyFrom
// encoded each value through its type map: a plan lookup per value and, for
// the pointers the rows passed to avoid boxing, reflection and an allocation
// per value anyway. That was 12 % of the projector's CPU with both sinks and
// 29 % with PostgreSQL alone (pprof, docs/benchmarks.md "Projection, fifth
// pass"). The read model's column types are fixed by its migrations; the
// sink checks them against copyColumns (checkTypes) before it encodes, so a
// table whose types differ is an error naming the column, never rows
// written with the wrong encoding.

// copyColumn is one COPY column: its name, the type it is encoded as (an
// OID), and its encoder, which appends the field (length, then bytes; -1 for
// NULL) of item i.
type copyColumn struct {
	name   string
	oid    uint32
	encode func(b []byte, r *Rows, i int) []byte
}

// copyColumns are StageColumns with their encodings, in that order (a test
// keeps the names equal). The values are those the read model has always
// stored: an empty optional string is NULL, a tombstone stores only its key,
// position and deleted_at.
var copyColumns = []copyColumn{
	{"kind", pgtype.Int2OID, func(b []byte, r *Rows, i int) []byte { return appendInt2(b, int16(r.items[i].Kind)) }},
	{"tenant_id", pgtype.TextOID, func(b []byte, r *Rows, i int) []byte { return appendText(b, r.items[i].TenantID) }},
	{"external_id", pgtype.TextOID, func(b []byte, r *Rows, i int) []byte { return appendText(b, r.items[i].ExternalID) }},
	{"ingest_id", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.IngestID }, true)},
	{"type", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.Type }, false)},
	{"source", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.Source }, true)},
	{"subject", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.Subject }, true)},
	{"event_time", pgtype.TimestamptzOID, eventTime(func(ev *schemas.Event) time.Time { return ev.Time })},
	{"received_at", pgtype.TimestamptzOID, eventTime(func(ev *schemas.Event) time.Time { return ev.ReceivedAt })},
	{"datacontenttype", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.DataContentType }, true)},
	{"data", pgtype.JSONBOID, func(b []byte, r *Rows, i int) []byte {
		if ev := r.event(i); ev != nil && len(ev.Data) > 0 {
			return appendJSONB(b, ev.Data)
		}
		return appendNull(b)
	}},
	{"data_base64", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.DataBase64 }, true)},
	{"extensions", pgtype.JSONBOID, func(b []byte, r *Rows, i int) []byte {
		if r.event(i) != nil && r.ext != nil && r.ext[i] != nil {
			return appendJSONB(b, r.ext[i])
		}
		return appendNull(b)
	}},
	{"content_hash", pgtype.TextOID, eventText(func(ev *schemas.Event) string { return ev.ContentHash }, true)},
	{"kafka_partition", pgtype.Int4OID, func(b []byte, r *Rows, i int) []byte { return appendInt4(b, r.items[i].Partition) }},
	{"kafka_offset", pgtype.Int8OID, func(b []byte, r *Rows, i int) []byte { return appendInt8(b, r.items[i].Offset) }},
	{"deleted_at", pgtype.TimestamptzOID, func(b []byte, r *Rows, i int) []byte {
		if it := &r.items[i]; it.Kind == record.KindTombstone {
			return appendTime(b, it.DeletedAt())
		}
		return appendNull(b)
	}},
}

// event is item i's event (nil for a tombstone: its payload columns are NULL).
func (r *Rows) event(i int) *schemas.Event {
	if r.items[i].Kind != record.KindEvent {
		return nil
	}
	return r.items[i].Event
}

func eventText(get func(*schemas.Event) string, emptyIsNull bool) func([]byte, *Rows, int) []byte {
	return func(b []byte, r *Rows, i int) []byte {
		ev := r.event(i)
		if ev == nil {
			return appendNull(b)
		}
		s := get(ev)
		if s == "" && emptyIsNull {
			return appendNull(b)
		}
		return appendText(b, s)
	}
}

func eventTime(get func(*schemas.Event) time.Time) func([]byte, *Rows, int) []byte {
	return func(b []byte, r *Rows, i int) []byte {
		ev := r.event(i)
		if ev == nil || get(ev).IsZero() {
			return appendNull(b)
		}
		return appendTime(b, get(ev))
	}
}

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xFFFFFFFF) }

func appendInt2(b []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(b, 2), uint16(v))
}

func appendInt4(b []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, 4), uint32(v))
}

func appendInt8(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), uint64(v))
}

func appendText(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// appendJSONB: jsonb's binary form is a version byte (1) and the JSON text.
func appendJSONB(b []byte, js []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(js)))
	return append(append(b, 1), js...)
}

// microsecFromUnixEpochToY2K: timestamptz counts microseconds from 2000-01-01 UTC.
const microsecFromUnixEpochToY2K = 946_684_800 * 1_000_000

// appendTime encodes t as timestamptz, truncated to microseconds (as pgx does).
func appendTime(b []byte, t time.Time) []byte {
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
	return appendInt8(b, us)
}

// copyHeader starts a binary COPY stream: the signature, no flags, no
// header extension.
const copyHeader = "PGCOPY\n\377\r\n\000" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// readChunk is about how much Read encodes at once (pgconn sends COPY data
// in messages of up to 64 KiB).
const readChunk = 64 << 10

// columns are the COPY columns of these rows: without kind for the direct COPY.
func (r *Rows) columns() []copyColumn {
	if r.direct {
		return copyColumns[1:]
	}
	return copyColumns
}

// Read implements io.Reader: the binary COPY stream of the rows, encoded a
// chunk at a time, ending with the trailer (a field count of -1).
func (r *Rows) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
		if !r.header {
			r.buf, r.header = append(r.buf, copyHeader...), true
		}
		cols := r.columns()
		for ; r.i < len(r.items) && len(r.buf) < readChunk; r.i++ {
			r.buf = binary.BigEndian.AppendUint16(r.buf, uint16(len(cols)))
			for _, c := range cols {
				r.buf = c.encode(r.buf, r, r.i)
			}
		}
		if r.i == len(r.items) {
			r.buf = binary.BigEndian.AppendUint16(r.buf, 0xFFFF)
			r.i++ // the trailer is written once
		}
		if len(r.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// copyRows COPies the rows into table in one statement of tx, after
// checking that table's column types are the ones the rows are encoded as.
func copyRows(ctx context.Context, tx pgx.Tx, table string, r *Rows) error {
	cols := r.columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = pgx.Identifier{c.name}.Sanitize()
	}
	list := strings.Join(names, ", ")
	if err := checkTypes(ctx, tx, table, list, cols); err != nil {
		return err
	}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, "COPY "+pgx.Identifier{table}.Sanitize()+" ("+list+") FROM STDIN BINARY")
	return err
}

// checkTypes compares table's column types with cols. The description is
// prepared once per connection and table (pgx caches a named statement).
func checkTypes(ctx context.Context, tx pgx.Tx, table, list string, cols []copyColumn) error {
	sd, err := tx.Conn().Prepare(ctx, "pgsink_copy_types_"+table, "SELECT "+list+" FROM "+pgx.Identifier{table}.Sanitize())
	if err != nil {
		return fmt.Errorf("describe %s: %w", table, err)
	}
	for i, f := range sd.Fields {
		if f.DataTypeOID != cols[i].oid {
			return fmt.Errorf("column %s.%s has type OID %d; the projector encodes it as OID %d (migrate the database to this projector's version)",
				table, cols[i].name, f.DataTypeOID, cols[i].oid)
		}
	}
	return nil
}
