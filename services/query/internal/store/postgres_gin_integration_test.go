package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsestream/pulsestream/services/query/internal/cursor"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
)

// TestEveryDataSearchCanUseTheGIN plans each shape of data search the API
// builds against a copy of the migrated events table that keeps only its
// GIN (operator class and partial predicate as migrated), with sequential
// and plain index scans disabled: the only plan left that PostgreSQL does
// not penalise is a bitmap scan of the GIN, so a search the GIN cannot serve
// (an operator class without @>, a predicate outside the index's WHERE)
// shows no index condition on data. The control: the same search once the
// GIN is dropped must show none either. The plans are PostgreSQL's choice of
// what is possible, not of what is cheapest; the measured plans on a million
// rows are in services/query/README.md.
func TestEveryDataSearchCanUseTheGIN(t *testing.T) {
	pool := querytest.Postgres(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The temporary copy shadows events for this session only (pg_temp comes
	// first in the search path), so searchSQL's statements plan against it.
	err = pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
		gin := onlyTheGIN(t, tx)
		cur := &cursor.Position{Time: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), ExternalID: "ev-00100"}
		data := json.RawMessage(`{"kind":"odd","nested":{"mod5":2}}`)
		cases := []struct {
			name string
			q    SearchQuery
		}{
			{"data containment", SearchQuery{Filter: Filter{Data: data}, Limit: 100}},
			{"data path, oldest first", SearchQuery{Filter: Filter{Data: json.RawMessage(`{"customer":"c-42"}`)}, Asc: true, Limit: 1000}},
			{"type and data path", SearchQuery{Filter: Filter{Types: []string{"order.paid"}, Data: data}, Limit: 100}},
			{"several types and data", SearchQuery{Filter: Filter{Types: []string{"order.paid", "user.signup"}, Data: data}, Limit: 100}},
			{"every filter and a cursor", SearchQuery{Filter: Filter{Types: []string{"order.paid"}, Source: "shop", Subject: "sub-3",
				From: cur.Time.Add(-time.Hour), To: cur.Time.Add(time.Hour), Data: data}, After: cur, Limit: 7}},
		}
		for _, c := range cases {
			if plan := explain(t, tx, c.q); !ginServes(plan, gin) {
				t.Errorf("%s: the GIN %s does not serve the data filter:\n%s", c.name, gin, plan)
			}
		}
		if _, err := tx.Exec(ctx, `DROP INDEX pg_temp.`+pgx.Identifier{gin}.Sanitize()); err != nil {
			return err
		}
		if plan := explain(t, tx, cases[0].q); ginServes(plan, gin) || !strings.Contains(plan, "Seq Scan") {
			t.Errorf("control: without the GIN the plan still looks served, so the check cannot fail:\n%s", plan)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// onlyTheGIN creates the session's copy of events with every index of the
// migrated table, drops all but the GIN on data, disables the other scans
// for the transaction, and returns the GIN's name.
func onlyTheGIN(t *testing.T, tx pgx.Tx) string {
	t.Helper()
	ctx := context.Background()
	stmts := []string{
		`CREATE TEMP TABLE events (LIKE events INCLUDING ALL) ON COMMIT DROP`,
		`SET LOCAL enable_seqscan = off`,
		`SET LOCAL enable_indexscan = off`,
		`SET LOCAL enable_indexonlyscan = off`,
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	var constraints, indexes []string
	rows, err := tx.Query(ctx, `SELECT c.relname, am.amname, con.conname
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid
		WHERE i.indrelid = 'pg_temp.events'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	var gin string
	for rows.Next() {
		var name, am string
		var con *string
		if err := rows.Scan(&name, &am, &con); err != nil {
			t.Fatal(err)
		}
		switch {
		case am == "gin":
			gin = name
		case con != nil:
			constraints = append(constraints, *con)
		default:
			indexes = append(indexes, name)
		}
	}
	if rows.Close(); rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if gin == "" {
		t.Fatal("the migrated events table has no GIN index")
	}
	for _, c := range constraints {
		if _, err := tx.Exec(ctx, `ALTER TABLE pg_temp.events DROP CONSTRAINT `+pgx.Identifier{c}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range indexes {
		if _, err := tx.Exec(ctx, `DROP INDEX pg_temp.`+pgx.Identifier{i}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	return gin
}

// ginServes reports whether plan scans the GIN gin with the data filter as
// its index condition (a partial GIN can also be read whole, unfiltered).
func ginServes(plan, gin string) bool {
	_, after, ok := strings.Cut(plan, "Bitmap Index Scan on "+gin)
	return ok && strings.Contains(after, "Index Cond: (data @> ")
}

// explain returns the plan of q's statement, planned with its values as
// Search runs it.
func explain(t *testing.T, tx pgx.Tx, q SearchQuery) string {
	t.Helper()
	sql, args := searchSQL("qt-plan", q)
	rows, err := tx.Query(context.Background(), "EXPLAIN "+sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
