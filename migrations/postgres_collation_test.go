package migrations_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/pulsestream/pulsestream/migrations"
	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// Migration 00050 gives the indexed text columns of events the collation "C"
// (byte order, no strcoll on a linguistic database locale) without losing a
// row, and its Down gives them back the database's collation.
func TestEventsKeyColumnsCollateCAndTheMigrationReverts(t *testing.T) {
	if !testenv.Integration() {
		t.Skip("integration test: source scripts/env.sh (make test does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	// no statement cache: the migration changes the columns the checks read
	url := migratetest.PrivatePostgres(t, testenv.PostgresURL(t), "collation_"+hex.EncodeToString(b)) + "&default_query_exec_mode=exec"
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // goose's session lock and the checks share one connection
	ids := []string{"evt_1", "evt-10", "EVT-2", "évt-3", "evt-9"}
	for i, id := range ids {
		if _, err := db.ExecContext(ctx, `INSERT INTO events (tenant_id, external_id, subject, event_time, kafka_partition, kafka_offset)
			VALUES ('t', $1, 'user-1', '2026-11-28T00:00:00Z', 0, $2)`, id, i); err != nil {
			t.Fatal(err)
		}
	}
	byteOrder := slices.Clone(ids)
	slices.Sort(byteOrder) // Go compares strings byte by byte
	check := func(step, want string) {
		t.Helper()
		if got := collations(ctx, t, db); !slices.Equal(got, []string{want, want, want}) {
			t.Fatalf("%s: collations of tenant_id, external_id, subject = %v, want %s", step, got, want)
		}
		if got := externalIDs(ctx, t, db); len(got) != len(ids) {
			t.Fatalf("%s: rows %v, want %d", step, got, len(ids))
		}
	}
	check("up", "C")
	if got := externalIDs(ctx, t, db); !slices.Equal(got, byteOrder) {
		t.Fatalf("ORDER BY external_id = %v, want byte order %v", got, byteOrder)
	}
	p, err := goose.NewProvider(database.DialectPostgres, db, migrations.Postgres.FS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 49); err != nil {
		t.Fatal(err)
	}
	check("down", "default")
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("up again", "C")
}

func collations(ctx context.Context, t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
		WHERE a.attrelid = 'events'::regclass AND a.attname IN ('tenant_id', 'external_id', 'subject') ORDER BY a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	return scanStrings(t, rows)
}

func externalIDs(ctx context.Context, t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT external_id FROM events WHERE tenant_id = 't' ORDER BY external_id`)
	if err != nil {
		t.Fatal(err)
	}
	return scanStrings(t, rows)
}

func scanStrings(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
