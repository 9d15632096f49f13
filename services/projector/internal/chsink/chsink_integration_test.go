package chsink_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// Long ids make the existence query far bigger than ClickHouse's default
// 256 KiB max_query_size; the sink must still find every stored key.
func TestReplayedBatchWithLongKeysInsertsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := migratedDatabase(ctx, t)

	items := make([]record.Item, 3000)
	for i := range items {
		id := strings.Repeat("k", 300) + "-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		items[i] = record.Item{Kind: record.KindEvent, TenantID: "tenant-long", ExternalID: id, Offset: int64(i),
			Event: &schemas.Event{Version: 1, TenantID: "tenant-long", ID: id, Type: "t", Time: time.Unix(0, 0).UTC()}}
	}
	s := chsink.New(conn)
	s.LookupChunk = 3000
	st, err := s.Write(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 3000 {
		t.Fatalf("first write: %+v", st)
	}
	st, err = s.Write(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 0 || st.Duplicates != 3000 {
		t.Fatalf("replayed write: %+v, want 0 rows and 3000 duplicates", st)
	}
	var n int64
	if err := conn.QueryRow(ctx, "SELECT sum(events) FROM events_per_minute WHERE tenant_id = 'tenant-long'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3000 {
		t.Fatalf("rollup counts %d, want 3000", n)
	}
}

// migratedDatabase is a fresh, migrated ClickHouse database, dropped at the
// end of the test.
func migratedDatabase(ctx context.Context, t *testing.T) driver.Conn {
	t.Helper()
	addr := testenv.ClickHouseAddr(t)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	db := "projtest_ch_" + hex.EncodeToString(b)
	root, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	if err := root.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	migratetest.ClickHouse(t, addr, db)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// The existence lookup sends the external ids as TSV inside a string
// literal: ids with the characters both escape must still be found, and an
// id stored for one tenant must not make the same id of another tenant a
// duplicate.
func TestLookupFindsIdsWithEscapedCharactersPerTenant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := migratedDatabase(ctx, t)
	ids := []string{"tab\there", "new\nline", "cr\rhere", "back\\slash", "quote'd", `\t literally`, "nul\x00byte", "plain"}
	event := func(tenant, id string, offset int64) record.Item {
		return record.Item{Kind: record.KindEvent, TenantID: tenant, ExternalID: id, Offset: offset,
			Event: &schemas.Event{Version: 1, TenantID: tenant, ID: id, Type: "t", Time: time.Unix(0, 0).UTC()}}
	}
	var first, again []record.Item
	for i, id := range ids {
		first = append(first, event("tenant-a", id, int64(i)))
		again = append(again, event("tenant-a", id, int64(100+i)), event("tenant-b", id, int64(200+i)))
	}
	s := chsink.New(conn)
	if st, err := s.Write(ctx, first); err != nil || st.Rows != len(ids) {
		t.Fatalf("first write: %+v, %v", st, err)
	}
	st, err := s.Write(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != len(ids) || st.Duplicates != len(ids) {
		t.Fatalf("second write: %+v, want %d rows (tenant-b) and %d duplicates (tenant-a)", st, len(ids), len(ids))
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events FINAL WHERE tenant_id = 'tenant-a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(ids)) {
		t.Fatalf("tenant-a holds %d events, want %d", n, len(ids))
	}
}
