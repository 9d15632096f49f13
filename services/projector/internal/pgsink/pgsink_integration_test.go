package pgsink_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/pgsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func event(id string, offset int64, typ string) record.Item {
	return record.Item{Kind: record.KindEvent, TenantID: "tenant-a", ExternalID: id, Offset: offset,
		Event: &schemas.Event{Version: 1, TenantID: "tenant-a", ID: id, Type: typ, Time: time.Unix(0, 0).UTC(), Data: json.RawMessage(`{"n":1}`)}}
}

// An events-only batch takes the direct COPY; a batch with a stored key or
// a key repeated in the batch is refused there and written by the staged
// path: every key keeps its first record, nothing is lost or doubled.
func TestDirectCopyFallsBackToStagedOnStoredOrRepeatedKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	pool, err := pgxpool.New(ctx, migratetest.PrivatePostgres(t, testenv.PostgresURL(t), "pgsink_"+hex.EncodeToString(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := pgsink.New(pool)
	steps := []struct {
		name       string
		items      []record.Item
		rows, dups int
	}{
		{"new keys", []record.Item{event("a", 0, "first"), event("b", 1, "first")}, 2, 0},
		{"a stored key among new ones", []record.Item{event("a", 2, "second"), event("c", 3, "first")}, 1, 1},
		{"new keys after a conflict", []record.Item{event("d", 4, "first")}, 1, 0},
		{"a key twice in the batch", []record.Item{event("e", 5, "first"), event("e", 6, "second"), event("f", 7, "first")}, 2, 1},
		{"a replayed batch", []record.Item{event("a", 0, "first"), event("b", 1, "first")}, 0, 2},
		{"new keys again", []record.Item{event("g", 8, "first")}, 1, 0},
	}
	for _, step := range steps {
		st, err := s.Write(ctx, step.items)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if st.Rows != step.rows || st.Duplicates != step.dups {
			t.Fatalf("%s: %+v, want %d rows and %d duplicates", step.name, st, step.rows, step.dups)
		}
	}
	var n, second int
	if err := pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE type <> 'first') FROM events").Scan(&n, &second); err != nil {
		t.Fatal(err)
	}
	if n != 7 || second != 0 {
		t.Fatalf("%d rows (%d not the first copy), want 7 first copies", n, second)
	}
}

// The sink encodes the COPY rows itself: a table whose column types are not
// the ones it encodes is refused with the column named, as a store error
// (retried, not the record's fault), and nothing is written.
func TestCopyRefusesAColumnOfAnotherType(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	pool, err := pgxpool.New(ctx, migratetest.PrivatePostgres(t, testenv.PostgresURL(t), "pgsink_types_"+hex.EncodeToString(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "ALTER TABLE events ALTER COLUMN kafka_partition TYPE bigint"); err != nil {
		t.Fatal(err)
	}
	s := pgsink.New(pool)
	_, err = s.Write(ctx, []record.Item{event("a", 0, "first")})
	if err == nil || !strings.Contains(err.Error(), "events.kafka_partition") {
		t.Fatalf("write into a table with kafka_partition bigint: %v, want an error naming the column", err)
	}
	if s.Permanent(err) {
		t.Fatalf("%v is classed as the record's fault; it is the table's", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows (%v), want none", n, err)
	}
}
