// Package migratetest is test support: it applies this module's migrations to
// the servers integration tests run against (addresses from testkit/testenv),
// once per test process. It lives beside the migrations, not in testkit, so
// that testkit needs no migrations and platform's own tests (which use
// testkit) add no module cycle.
package migratetest

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/pulsestream/pulsestream/migrations"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

var migrated sync.Map // target name + address -> *migration

type migration struct {
	once sync.Once
	err  error
}

// Postgres applies the PostgreSQL migrations to the database at url, once per
// test process.
func Postgres(tb testing.TB, url string) {
	tb.Helper()
	migrate(tb, migrations.Postgres, url, func() *sql.DB {
		db, err := sql.Open("pgx", url)
		if err != nil {
			tb.Fatal(err)
		}
		return db
	})
}

// PostgresPool applies the PostgreSQL migrations to the integration tests'
// database (testenv.PostgresURL), once per test process, and returns a pool
// on it closed at the end of the test.
func PostgresPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := testenv.PostgresURL(tb)
	Postgres(tb, url)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// ClickHouse applies the ClickHouse migrations to database on the engine at
// addr (protocol from testenv.ClickHouseProtocol), once per test process.
func ClickHouse(tb testing.TB, addr, database string) {
	tb.Helper()
	migrate(tb, migrations.ClickHouse, addr+"/"+database, func() *sql.DB {
		return clickhouse.OpenDB(clickHouseOptions(addr, database))
	})
}

// clickHouseOptions is a connection to database ("" for the server's
// default) with the protocol of testenv.ClickHouseProtocol.
func clickHouseOptions(addr, database string) *clickhouse.Options {
	proto := clickhouse.HTTP
	if testenv.ClickHouseProtocol() == "native" {
		proto = clickhouse.Native
	}
	return &clickhouse.Options{Addr: []string{addr}, Protocol: proto, Auth: clickhouse.Auth{Database: database}}
}

// migrate runs migrations.Up once per target and address. ClickHouse has no
// migration lock, so test packages running in parallel may collide on the
// version table: a failed attempt is retried a few times.
func migrate(tb testing.TB, t migrations.Target, where string, open func() *sql.DB) {
	tb.Helper()
	v, _ := migrated.LoadOrStore(t.Name+" "+where, new(migration))
	m := v.(*migration)
	m.once.Do(func() {
		db := open()
		defer db.Close()
		for attempt := range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, m.err = migrations.Up(ctx, db, t)
			cancel()
			if m.err == nil {
				return
			}
			time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
		}
	})
	if m.err != nil {
		tb.Fatalf("migrate %s at %s: %v", t.Name, where, m.err)
	}
}
