// Package querytest is test support for the query service: connections to
// the real PostgreSQL and ClickHouse engine (testkit/testenv, migrated with
// the migrations module), random tenant ids so tests never share rows, and
// writers that put rows straight into both read models the way the
// projector lays them out (migrations/postgres/00002_events.sql,
// migrations/clickhouse/00001_events.sql): version (1<<62) - offset for an
// event copy, (1<<63) + offset with is_deleted = 1 for a tombstone.
package querytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// Postgres returns a pool on the migrated test database.
func Postgres(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := testenv.PostgresURL(tb)
	migratetest.Postgres(tb, url)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func chOptions(tb testing.TB) *clickhouse.Options {
	proto := clickhouse.HTTP
	if testenv.ClickHouseProtocol() == "native" {
		proto = clickhouse.Native
	}
	return &clickhouse.Options{
		Addr:     []string{testenv.ClickHouseAddr(tb)},
		Protocol: proto,
		Auth:     clickhouse.Auth{Database: testenv.ClickHouseDatabase()},
	}
}

// ClickHouse returns a connection to the migrated ClickHouse engine.
func ClickHouse(tb testing.TB) driver.Conn {
	tb.Helper()
	opts := chOptions(tb)
	migratetest.ClickHouse(tb, opts.Addr[0], opts.Auth.Database)
	conn, err := clickhouse.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Tenant returns a fresh random tenant id.
func Tenant(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "qt-" + hex.EncodeToString(b[:])
}

// Row is one event copy as the projector would store it.
type Row struct {
	Tenant, ID, Type, Source, Subject string
	Time                              time.Time
	Data                              any // JSON-encoded into data
	Partition                         int32
	Offset                            int64
	Deleted                           bool // a tombstone: PostgreSQL keeps ids and deleted_at only
	// RollupSign is the ClickHouse row's rollup_sign, as the projector sets
	// it (migration clickhouse/00010): +1 for a key's first event, -1 for the
	// tombstone of a live event (carrying its type and time), 0 otherwise.
	RollupSign int8
}

// InsertPG writes rows to PostgreSQL with COPY (first copy of a key wins:
// callers pass one row per key).
func InsertPG(tb testing.TB, pool *pgxpool.Pool, rows []Row) {
	tb.Helper()
	cols := []string{"tenant_id", "external_id", "ingest_id", "type", "source", "subject", "event_time", "received_at",
		"datacontenttype", "data", "content_hash", "kafka_partition", "kafka_offset", "deleted_at"}
	now := time.Now()
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		if r.Deleted {
			return []any{r.Tenant, r.ID, nil, nil, nil, nil, nil, nil, nil, nil, "h", r.Partition, r.Offset, now}, nil
		}
		data, err := json.Marshal(r.Data)
		if err != nil {
			return nil, err
		}
		return []any{r.Tenant, r.ID, "ing-" + r.ID, r.Type, nullable(r.Source), nullable(r.Subject), r.Time, r.Time,
			"application/json", string(data), "h", r.Partition, r.Offset, nil}, nil
	})
	if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{"events"}, cols, src); err != nil {
		tb.Fatalf("insert %d rows into PostgreSQL: %v", len(rows), err)
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// InsertCH writes rows to ClickHouse in one batch. A Deleted row is a
// tombstone (it carries no type or time of its own).
func InsertCH(tb testing.TB, conn driver.Conn, rows []Row) {
	tb.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at, kafka_partition, kafka_offset, version, is_deleted, rollup_sign)")
	if err != nil {
		tb.Fatalf("prepare ClickHouse batch: %v", err)
	}
	for _, r := range rows {
		version, deleted := uint64(1<<62)-uint64(r.Offset), uint8(0)
		if r.Deleted {
			version, deleted = uint64(1<<63)+uint64(r.Offset), 1
		}
		if err := b.Append(r.Tenant, r.ID, r.Type, r.Source, r.Subject, r.Time, r.Time, r.Partition, r.Offset, version, deleted, r.RollupSign); err != nil {
			tb.Fatalf("append ClickHouse row: %v", err)
		}
	}
	if err := b.Send(); err != nil {
		tb.Fatalf("insert %d rows into ClickHouse: %v", len(rows), err)
	}
}

// Auth is a fake Authenticator: raw key -> tenant id, query scope.
type Auth map[string]string

// Authenticate implements tenancy.Authenticator.
func (a Auth) Authenticate(_ context.Context, rawKey string, _ netip.Addr, need tenancy.Scope) (tenancy.Principal, error) {
	t, ok := a[rawKey]
	if !ok {
		return tenancy.Principal{}, &tenancy.AuthError{Status: 401, Code: "invalid_key", Message: "unknown key"}
	}
	return tenancy.Principal{Tenant: tenancy.Tenant{ID: t}, Scopes: []tenancy.Scope{tenancy.ScopeQuery}}, nil
}
