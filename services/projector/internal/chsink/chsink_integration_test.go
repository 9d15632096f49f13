package chsink_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsestream/pulsestream/platform/testenv"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// Long ids make the existence query far bigger than ClickHouse's default
// 256 KiB max_query_size; the sink must still find every stored key.
func TestReplayedBatchWithLongKeysInsertsNothing(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	db := "projtest_ch_" + hex.EncodeToString(b)
	root, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) }()
	testenv.MigrateClickHouse(t, addr, db)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

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
