package pgsink_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestEventsTableHasTheDeclaredColumns keeps schemas.EventsColumns (what the
// projector writes and the staging table copies) equal to the migrated
// read model: a column added by a migration but not declared would never
// be written.
func TestEventsTableHasTheDeclaredColumns(t *testing.T) {
	base := testenv.PostgresURL(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	url := migratetest.PrivatePostgres(t, base, "pgsink_columns_"+hex.EncodeToString(suffix))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, _ := pool.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, schemas.EventsTable)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Insert(slices.Clone(schemas.EventsColumns), slices.Index(schemas.EventsColumns, "deleted_at"), "stored_at")
	if !slices.Equal(got, want) {
		t.Fatalf("table %s has columns %v; schemas.EventsColumns plus stored_at is %v", schemas.EventsTable, got, want)
	}
}
