package chsink_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// partialBatch is 300 events of tenant "t" over three minutes, each with an
// amount for the meter view, and 30 later copies of the first ids
// (duplicates): 300 rows.
func partialBatch() []record.Item {
	m0 := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)
	var items []record.Item
	for i := range 300 {
		at := m0.Add(time.Duration(i%3) * time.Minute)
		items = append(items, withData(event("t", fmt.Sprintf("e-%d", i), "order", "shop", "s", at, int64(i)), `{"card":"c","amount":1}`))
	}
	for i := range 30 {
		items = append(items, withData(event("t", fmt.Sprintf("e-%d", i), "order", "shop", "s", m0, int64(300+i)), `{"card":"c","amount":1}`))
	}
	return items
}

// refuseTenantT makes table refuse every row of tenant "t" (a CHECK
// constraint) until the returned function is called: an INSERT into events
// then commits the events part and fails in the view writing table, as an
// engine dying between the two parts leaves it.
func refuseTenantT(ctx context.Context, t *testing.T, conn driver.Conn, table string) func() {
	t.Helper()
	if err := conn.Exec(ctx, "ALTER TABLE "+table+" ADD CONSTRAINT refuse_t CHECK tenant_id != 't'"); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := conn.Exec(ctx, "ALTER TABLE "+table+" DROP CONSTRAINT refuse_t"); err != nil {
			t.Fatal(err)
		}
	}
}

// wantExact checks that every table holds tenant t's 300 events once: events
// (raw rows and FINAL), the rollup, the meter view's rows and their minutes.
func wantExact(ctx context.Context, t *testing.T, conn driver.Conn) {
	t.Helper()
	for _, c := range []struct{ what, query string }{
		{"events raw rows", "SELECT count() FROM events WHERE tenant_id = 't'"},
		{"events FINAL", "SELECT count() FROM events FINAL WHERE tenant_id = 't'"},
		{"events_per_minute", "SELECT sum(events) FROM events_per_minute WHERE tenant_id = 't'"},
		{"meter_values", "SELECT count() FROM meter_values WHERE tenant_id = 't' AND sign = 1"},
		{"meter_minutes", "SELECT sum(events) FROM meter_minutes WHERE tenant_id = 't'"},
	} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT toInt64(("+c.query+"))").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 300 {
			t.Errorf("%s counts %d, want 300", c.what, n)
		}
	}
}

// An INSERT that landed in part (the events part committed, a view's part
// refused) is completed by the retry of its batch and doubles nothing: the
// retry sends the same block with the same deduplication token, every table
// that holds its part skips it, the others write it. Planned again from the
// lookup, the retry found every key stored and inserted nothing, and the
// rollup and meters stayed short of the whole batch.
func TestInsertLandedInPartIsCompletedByTheRetry(t *testing.T) {
	for _, table := range []string{"events_per_minute", "meter_values", "meter_minutes"} {
		t.Run(table, func(t *testing.T) {
			conn, _ := privateDB(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			meterView(ctx, t, conn)
			s := chsink.New(conn)
			items := partialBatch()

			allow := refuseTenantT(ctx, t, conn, table)
			_, err := s.Write(ctx, items)
			if err == nil || s.Permanent(err) {
				t.Fatalf("write into a refusing %s: %v, want an error to retry", table, err)
			}
			if n := rawCount(ctx, t, conn, "tenant_id = 't'"); n != 300 {
				t.Fatalf("the failed INSERT left %d rows in events, want 300 (landed in part)", n)
			}
			allow()

			st, err := s.Write(ctx, items)
			if err != nil {
				t.Fatal(err)
			}
			if st.Rows != 300 || st.Duplicates != 30 {
				t.Errorf("retried write: %+v, want 300 rows and 30 duplicates", st)
			}
			wantExact(ctx, t, conn)
			writeWant(ctx, t, s, items, 0, 330) // a replay after the commit was lost
			wantExact(ctx, t, conn)
		})
	}
}

// The consumer may retry with other items than the failed batch's (a
// shorter batch from the same offset after a rebalance that kept the
// partition): the kept block is sent first, then the items are planned
// against the completed table.
func TestKeptBlockIsSentBeforeOtherItemsOfItsPartition(t *testing.T) {
	conn, _ := privateDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	meterView(ctx, t, conn)
	s := chsink.New(conn)
	items := partialBatch()

	allow := refuseTenantT(ctx, t, conn, "events_per_minute")
	if _, err := s.Write(ctx, items); err == nil {
		t.Fatal("write into a refusing events_per_minute succeeded")
	}
	allow()
	writeWant(ctx, t, s, items[:100], 0, 100)
	writeWant(ctx, t, s, items[100:], 0, 230)
	wantExact(ctx, t, conn)
}

var dedupWindow = regexp.MustCompile(`non_replicated_deduplication_window = (\d+)`)

// Every table an INSERT into events writes (events and, transitively, every
// materialized view's target, also a meter view the query service creates)
// keeps the tokens of recent blocks, or a resent block would be written
// twice there.
func TestEveryTableAnEventsInsertWritesDeduplicates(t *testing.T) {
	conn, db := privateDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meterView(ctx, t, conn)
	rows, err := conn.Query(ctx, "SELECT name, engine, create_table_query, dependencies_table FROM system.tables WHERE database = ?", db)
	if err != nil {
		t.Fatal(err)
	}
	type table struct {
		engine, create string
		views          []string
	}
	tables := map[string]table{}
	for rows.Next() {
		var name string
		var tb table
		if err := rows.Scan(&name, &tb.engine, &tb.create, &tb.views); err != nil {
			t.Fatal(err)
		}
		tables[name] = tb
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	target := regexp.MustCompile(` TO ` + regexp.QuoteMeta(db) + `\.(\w+)`)
	seen := map[string]bool{}
	for todo := []string{"events"}; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		tb := tables[name]
		n := 0
		if m := dedupWindow.FindStringSubmatch(tb.create); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n == 0 {
			t.Errorf("%s (%s) keeps no deduplication window: %s", name, tb.engine, tb.create)
		}
		for _, v := range tb.views {
			if to := target.FindStringSubmatch(tables[v].create); to != nil {
				todo = append(todo, to[1])
			} else {
				t.Errorf("view %s: no target table in %s", v, tables[v].create)
			}
		}
	}
	for _, want := range []string{"events_per_minute", "meter_values", "meter_minutes"} {
		if !seen[want] {
			t.Errorf("%s is not written by an INSERT into events (walked %v)", want, seen)
		}
	}
}
