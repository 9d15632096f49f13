package chsink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

func events(tenant string, offset int64, ids ...string) []record.Item {
	items := make([]record.Item, len(ids))
	for i, id := range ids {
		items[i] = record.Item{Kind: record.KindEvent, TenantID: tenant, ExternalID: id, Offset: offset + int64(i),
			Event: &schemas.Event{Version: 1, TenantID: tenant, ID: id, Type: "t", Time: time.Unix(0, 0).UTC()}}
	}
	return items
}

func writeWant(ctx context.Context, t *testing.T, s *chsink.Sink, items []record.Item, rows, dups int) {
	t.Helper()
	st, err := s.Write(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != rows || st.Duplicates != dups {
		t.Fatalf("write: %+v, want %d rows and %d duplicates", st, rows, dups)
	}
}

func rollupCount(ctx context.Context, t *testing.T, conn driver.Conn) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(ctx, "SELECT sum(events) FROM events_per_minute").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A sink started on a table another sink wrote knows its keys from the
// engine's cityHash64 of them: the two hashes must agree for any bytes
// (escapes, non-ASCII, ids longer than the hash's stack buffer), or the new
// sink would take stored keys for new ones and count them twice.
func TestNewSinkKnowsTheKeysAnotherSinkStored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := migratedDatabase(ctx, t)
	ids := []string{"tab\there", "new\nline", "quote'd", "back\\slash", "nul\x00byte", "ünïcødé-ключ-鍵", strings.Repeat("long-", 60), "plain"}
	writeWant(ctx, t, chsink.New(conn), events("tenant/a", 0, ids...), len(ids), 0)

	fresh := chsink.New(conn)
	writeWant(ctx, t, fresh, append(events("tenant/a", 100, ids...), events("tenant/a", 200, "new-1", "new-2")...), 2, len(ids))
	if n := rollupCount(ctx, t, conn); n != int64(len(ids)+2) {
		t.Fatalf("rollup counts %d, want %d", n, len(ids)+2)
	}
}

// What another writer stored while this sink did not hold the partition is
// known after Reassigned (the consumer calls it when partitions change).
func TestReassignedSinkKnowsWhatAnotherWriterStored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := migratedDatabase(ctx, t)
	mine, other := chsink.New(conn), chsink.New(conn)
	writeWant(ctx, t, mine, events("t", 0, "a", "b"), 2, 0)
	writeWant(ctx, t, other, events("t", 10, "c", "d"), 2, 0)
	mine.Reassigned()
	writeWant(ctx, t, mine, events("t", 20, "a", "c", "d", "e"), 1, 3)
	if n := rollupCount(ctx, t, conn); n != 5 {
		t.Fatalf("rollup counts %d, want 5", n)
	}
}

// Beyond KnownMax rows the sink keeps no set and looks every key up, at the
// rebuild and when its own writes pass the bound.
func TestSinkBeyondKnownMaxLooksEveryKeyUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := migratedDatabase(ctx, t)
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	first := chsink.New(conn)
	first.KnownMax = 4 // passed by its own first write
	writeWant(ctx, t, first, events("t", 0, ids...), 10, 0)
	writeWant(ctx, t, first, events("t", 100, ids...), 0, 10)

	other := chsink.New(conn)
	other.KnownMax = 4 // passed at the rebuild
	writeWant(ctx, t, other, events("t", 200, append(ids, "id-new")...), 1, 10)
	none := chsink.New(conn)
	none.KnownMax = 0 // no set at all
	writeWant(ctx, t, none, events("t", 300, append(ids, "id-new", "id-newer")...), 1, 11)
	if n := rollupCount(ctx, t, conn); n != 12 {
		t.Fatalf("rollup counts %d, want 12", n)
	}
}
