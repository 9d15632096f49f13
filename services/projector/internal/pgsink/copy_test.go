package pgsink

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

func TestCopyColumnsAreTheStageColumns(t *testing.T) {
	names := make([]string, len(copyColumns))
	for i, c := range copyColumns {
		names[i] = c.name
	}
	if !slices.Equal(names, StageColumns) {
		t.Fatalf("copyColumns %v, StageColumns %v", names, StageColumns)
	}
}

// readCopy parses a binary COPY stream and decodes every field with pgx's
// own codecs (by the column's OID): the reference the encoder must agree with.
func readCopy(t *testing.T, stream []byte, cols []copyColumn) [][]any {
	t.Helper()
	if len(stream) < len(copyHeader) || string(stream[:len(copyHeader)]) != copyHeader {
		t.Fatalf("stream does not start with the binary COPY header: %q", stream[:min(len(stream), 19)])
	}
	b := stream[len(copyHeader):]
	m := pgtype.NewMap()
	var rows [][]any
	for {
		n := int16(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n == -1 {
			if len(b) != 0 {
				t.Fatalf("%d bytes after the trailer", len(b))
			}
			return rows
		}
		if int(n) != len(cols) {
			t.Fatalf("row of %d fields, want %d", n, len(cols))
		}
		row := make([]any, n)
		for i := range row {
			size := int32(binary.BigEndian.Uint32(b))
			b = b[4:]
			if size == -1 {
				continue // NULL
			}
			var v any
			if err := m.Scan(cols[i].oid, pgtype.BinaryFormatCode, b[:size], &v); err != nil {
				t.Fatalf("column %s: %v", cols[i].name, err)
			}
			row[i] = v
			b = b[size:]
		}
		rows = append(rows, row)
	}
}

func TestCopyEncodingDecodesWithPgx(t *testing.T) {
	at := time.Date(2026, 11, 28, 5, 1, 2, 345_678_912, time.UTC)
	full := &schemas.Event{Version: 1, TenantID: "t-1", IngestID: "01JDZ8Q6W3K7", ID: "é-1", Type: "order.created", Source: "shop",
		Subject: "cart-1", Time: at, ReceivedAt: at.Add(time.Second), DataContentType: "application/json",
		Data: json.RawMessage(`{"amount":42,"name":"Zoë \u2603"}`), ContentHash: "9f86", Extensions: map[string]any{"traceparent": "00-ab"}}
	sparse := &schemas.Event{Version: 1, TenantID: "t-1", ID: "e-2", Type: "", DataBase64: "AAEC"}
	items := []record.Item{
		{Kind: record.KindEvent, TenantID: "t-1", ExternalID: "é-1", Partition: 3, Offset: 1 << 40, Event: full},
		{Kind: record.KindEvent, TenantID: "t-1", ExternalID: "e-2", Partition: 0, Offset: 7, Event: sparse},
		{Kind: record.KindTombstone, TenantID: "t-2", ExternalID: "e-3", Partition: 5, Offset: 9, Timestamp: at,
			Tombstone: &schemas.Tombstone{}},
	}
	ts := func(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
	want := [][]any{
		{int16(1), "t-1", "é-1", "01JDZ8Q6W3K7", "order.created", "shop", "cart-1", ts(at), ts(at.Add(time.Second)), "application/json",
			map[string]any{"amount": float64(42), "name": "Zoë ☃"}, nil, map[string]any{"traceparent": "00-ab"}, "9f86", int32(3), int64(1 << 40), nil},
		// an empty type is stored as '' (type is not optional); other empty strings and zero times as NULL
		{int16(1), "t-1", "e-2", nil, "", nil, nil, nil, nil, nil, nil, "AAEC", nil, nil, int32(0), int64(7), nil},
		// a tombstone: key, position and deleted_at (the record time when it has none)
		{int16(2), "t-2", "e-3", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, int32(5), int64(9), ts(at)},
	}
	rows, err := NewRows(items)
	if err != nil {
		t.Fatal(err)
	}
	for _, direct := range []bool{false, true} {
		rows.rewind()
		rows.direct = direct
		stream, err := io.ReadAll(rows)
		if err != nil {
			t.Fatal(err)
		}
		got := readCopy(t, stream, rows.columns())
		if len(got) != len(want) {
			t.Fatalf("direct %v: %d rows, want %d", direct, len(got), len(want))
		}
		for i := range want {
			w := want[i]
			if direct {
				w = w[1:] // no kind
			}
			for j := range w {
				if !equalValue(got[i][j], w[j]) {
					t.Errorf("direct %v, row %d, column %s: %#v, want %#v", direct, i, rows.columns()[j].name, got[i][j], w[j])
				}
			}
		}
	}
}

func equalValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && (a == nil) == (b == nil)
}

// A batch larger than one read chunk streams in several reads, every row once.
func TestCopyStreamsManyChunks(t *testing.T) {
	items := make([]record.Item, 3000)
	for i := range items {
		items[i] = record.Item{Kind: record.KindEvent, TenantID: "t", ExternalID: string(rune('a' + i%26)), Offset: int64(i),
			Event: &schemas.Event{Type: "x", Data: json.RawMessage(`{"pad":"0123456789012345678901234567890123456789"}`)}}
	}
	rows, err := NewRows(items)
	if err != nil {
		t.Fatal(err)
	}
	var stream []byte
	buf := make([]byte, 1000) // smaller than a chunk: Read must continue where it stopped
	reads := 0
	for {
		n, err := rows.Read(buf)
		stream = append(stream, buf[:n]...)
		reads++
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(stream) <= readChunk {
		t.Fatalf("stream of %d bytes: the test needs more than one chunk", len(stream))
	}
	got := readCopy(t, stream, rows.columns())
	if len(got) != len(items) {
		t.Fatalf("%d rows, want %d", len(got), len(items))
	}
	for i, r := range got {
		if r[15] != int64(i) { // kafka_offset
			t.Fatalf("row %d has offset %v", i, r[15])
		}
	}
}
