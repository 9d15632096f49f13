package migratetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"
)

// PrivatePostgres creates schema on the server of baseURL, migrated, dropped
// at cleanup, and returns a URL whose connections use it: a test that
// truncates or drops tables (a replay with --drop) touches only its own.
func PrivatePostgres(tb testing.TB, baseURL, schema string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, baseURL); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(baseURL, "?") {
		sep = "&"
	}
	url := baseURL + sep + "search_path=" + schema
	Postgres(tb, url)
	return url
}

// PrivateClickHouse creates database db on the engine at addr, migrated and
// dropped at cleanup.
func PrivateClickHouse(tb testing.TB, addr, db string) {
	tb.Helper()
	conn, err := clickhouse.Open(clickHouseOptions(addr, ""))
	if err != nil {
		tb.Fatal(err)
	}
	if err := conn.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		_ = conn.Close()
	})
	ClickHouse(tb, addr, db)
}
