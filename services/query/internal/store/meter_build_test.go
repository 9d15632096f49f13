package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/tenancy"
)

var viewT0 = time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC) // the Berlin DST change is in the range

// insertEvents writes n events of tenant (ids from first on) the way the
// projector lays them out (rollup_sign 1), one every 29 s, with data that
// meters find numeric, non-numeric, missing or null; every 7th is another
// type and every 11th has no model.
func insertEvents(t *testing.T, ch driver.Conn, tenant string, first, n int) {
	t.Helper()
	err := ch.Exec(context.Background(), fmt.Sprintf(`INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at,
			kafka_partition, kafka_offset, version, is_deleted, rollup_sign, data)
		SELECT '%s', concat('e-', toString(number)), if(number %% 7 = 0, 'other', 'llm.call'), 'src', concat('s', toString(number %% 5)),
			fromUnixTimestamp64Milli(toInt64(%d + number * 29000), 'UTC'), now64(3), 0, toInt64(number), 1000000 - number, 0, 1,
			multiIf(number %% 13 = 0, '{"tokens":"12","user":null}', number %% 17 = 0, 'not json',
				concat('{"tokens":', toString(number * 7919 %% 1000), ',"user":"u', toString(number %% 300), '"',
					if(number %% 11 = 0, '', concat(',"model":"m', toString(number %% 4), '"')), '}'))
		FROM numbers(%d, %d)`, tenant, viewT0.UnixMilli(), first, n))
	if err != nil {
		t.Fatal(err)
	}
}

// eraseEvents inserts the -1 rows of an erasure of the given ids (the
// projector's tombstone rows carry the erased event's type and time).
func eraseEvents(t *testing.T, ch driver.Conn, tenant string, ids string) {
	t.Helper()
	err := ch.Exec(context.Background(), fmt.Sprintf(`INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at,
			kafka_partition, kafka_offset, version, is_deleted, rollup_sign)
		SELECT tenant_id, external_id, type, '', '', event_time, received_at, 0, 0, %d, 1, -1
		FROM events WHERE tenant_id = '%s' AND rollup_sign = 1 AND external_id IN (%s)`, uint64(1)<<63, tenant, ids))
	if err != nil {
		t.Fatal(err)
	}
}

var viewMeters = map[string]tenancy.MeterSpec{
	"tokens": {EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggSum, ValuePath: "$.tokens",
		GroupBy: map[string]string{"model": "$.model", "subj": "subject"}},
	"users": {EventTypes: []string{"llm.call", "other"}, Aggregation: tenancy.AggUniqueCount, ValuePath: "$.user",
		GroupBy: map[string]string{"model": "$.model"}},
	"p95": {EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggP95, ValuePath: "$.tokens", GroupBy: map[string]string{"model": "$.model"}},
	"calls": {EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggCount, GroupBy: map[string]string{"model": "$.model", "subj": "subject"},
		Filters: map[string][]string{"subj": {"s1", "s2"}}},
	"avg": {EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggAvg, ValuePath: "$.tokens", GroupBy: map[string]string{"model": "$.model"}},
	"min": {EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggMin, ValuePath: "$.tokens", GroupBy: map[string]string{"model": "$.model", "subj": "subject"}},
}

func viewQueries(m tenancy.Meter) []store.MeterQuery {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	to := viewT0.Add(10 * 24 * time.Hour)
	return []store.MeterQuery{
		{Meter: m, From: viewT0, To: to, Window: "day", Location: berlin, GroupBy: []string{"model"}},
		{Meter: m, From: viewT0.Add(time.Hour), To: to, Window: "hour", Location: time.UTC},
		{Meter: m, From: viewT0, To: to, Location: time.UTC, GroupBy: []string{"model"}, Filters: map[string][]string{"model": {"m1", "m3"}}},
		// partial minutes at both ends (events at 1,740 s and 87,000 s start
		// the minutes at the ends), no window, no group
		{Meter: m, From: viewT0.Add(1730 * time.Second), To: viewT0.Add(87030 * time.Second), Location: time.UTC},
		{Meter: m, From: viewT0.Add(90*time.Second + 7*time.Millisecond), To: to.Add(-50 * time.Second), Location: time.UTC},
		{Meter: m, From: viewT0.Add(time.Hour + 10*time.Second), To: viewT0.Add(time.Hour + 50*time.Second), Location: time.UTC},
		{Meter: m, From: viewT0.Add(-time.Hour), To: viewT0.Add(15 * time.Minute), Window: "minute", Location: time.UTC, GroupBy: []string{"model"}},
	}
}

// sameAnswers fails unless views answers every query of m as parsing data
// at query time does, and returns the events the first query counted.
func sameAnswers(t *testing.T, what string, parsed, views *store.ClickHouse, tenant string, m tenancy.Meter) uint64 {
	t.Helper()
	var total uint64
	for i, q := range viewQueries(m) {
		want, err := parsed.Meter(context.Background(), tenant, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := views.Meter(context.Background(), tenant, q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: meter %s query %d: from the view\n%s\nparsing data\n%s", what, m.Slug, i, rowsText(got), rowsText(want))
		}
		for _, r := range want {
			if i == 0 {
				total += r.Events
			}
		}
	}
	return total
}

func rowsText(rows []store.MeterRow) string {
	s := ""
	for _, r := range rows {
		v := "null"
		if r.Value != nil {
			v = fmt.Sprint(*r.Value)
		}
		g := map[string]string{}
		for k, p := range r.Group {
			g[k] = "null"
			if p != nil {
				g[k] = *p
			}
		}
		s += fmt.Sprintf("  %s %v value %s events %d skipped %d\n", r.WindowStart.Format(time.RFC3339), g, v, r.Events, r.Skipped)
	}
	return s
}

func build(t *testing.T, b *store.MeterBuilds, ch driver.Conn, tenant string, m tenancy.Meter) {
	t.Helper()
	// The database is shared: a view left behind would run on every insert.
	t.Cleanup(func() { _ = b.Discard(context.Background(), tenant, m) })
	if err := b.Build(context.Background(), tenant, m); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Ready(context.Background(), tenant, m); err != nil || !ok {
		t.Fatalf("meter %s not ready after its build: %v", m.Slug, err)
	}
	var rows uint64
	if err := ch.QueryRow(context.Background(), "SELECT count() FROM meter_values WHERE tenant_id = ? AND version = ?",
		tenant, store.MeterVersion(tenant, m)).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("meter %s: %d extracted rows, %v", m.Slug, rows, err)
	}
}

// TestMeterViewsAnswerAsParsingDataAtQueryTime: meters defined after their
// events exist are backfilled; events inserted afterwards reach them through
// the views; erasures and a changed definition hold; every answer equals
// the one computed from events by parsing data at query time; the rollup
// meter_minutes (its hash sets too, for unique_count) is what is read.
func TestMeterViewsAnswerAsParsingDataAtQueryTime(t *testing.T) {
	ch := querytest.ClickHouse(t)
	tenant := querytest.Tenant(t)
	insertEvents(t, ch, tenant, 0, 6000)
	parsed := store.NewClickHouse(ch)
	builds := store.NewMeterBuilds(ch, slog.New(slog.NewTextHandler(io.Discard, nil)), 100*time.Millisecond, nil)
	views := store.NewClickHouse(ch).WithMeterBuilds(builds)
	meters := map[string]tenancy.Meter{}
	for slug, spec := range viewMeters {
		m := tenancy.Meter{TenantID: tenant, Slug: slug, MeterSpec: spec}
		meters[slug] = m
		build(t, builds, ch, tenant, m)
		sameAnswers(t, "backfilled", parsed, views, tenant, m)
	}
	before := sameAnswers(t, "backfilled", parsed, views, tenant, meters["tokens"])

	insertEvents(t, ch, tenant, 6000, 3000) // through the views
	eraseEvents(t, ch, tenant, "'e-1', 'e-2', 'e-3', 'e-6001', 'e-6002'")
	for _, m := range meters {
		sameAnswers(t, "after new events and erasures", parsed, views, tenant, m)
	}
	if after := sameAnswers(t, "after", parsed, views, tenant, meters["tokens"]); after <= before {
		t.Fatalf("tokens counted %d events, then %d after 3,000 more", before, after)
	}

	old := meters["tokens"]
	changed := old
	changed.Aggregation, changed.GroupBy = tenancy.AggMax, map[string]string{"model": "$.model", "source": "source"}
	build(t, builds, ch, tenant, changed)
	sameAnswers(t, "changed definition", parsed, views, tenant, changed)
	if ok, err := builds.Ready(context.Background(), tenant, old); err != nil || ok {
		t.Fatalf("the replaced definition is still ready (%v)", err)
	}
	var mv uint64
	if err := ch.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?",
		"meter_mv_"+store.MeterVersion(tenant, old)).Scan(&mv); err != nil || mv != 0 {
		t.Fatalf("the replaced definition's view: %d, %v", mv, err)
	}

	// A deleted meter's view is swept; the others stay.
	gone := meters["p95"]
	delete(meters, "p95")
	meters["tokens"] = changed
	var defs []tenancy.Meter
	for _, m := range meters {
		defs = append(defs, m)
	}
	if err := builds.SweepTenant(context.Background(), tenant, defs); err != nil {
		t.Fatal(err)
	}
	if ok, err := builds.Ready(context.Background(), tenant, gone); err != nil || ok {
		t.Fatalf("the deleted meter is still ready after the sweep (%v)", err)
	}
	for _, m := range meters {
		if ok, err := builds.Ready(context.Background(), tenant, m); err != nil || !ok {
			t.Fatalf("meter %s not ready after the sweep (%v)", m.Slug, err)
		}
	}

	// The answers really come from meter_values: a row added there shows.
	v := store.MeterVersion(tenant, changed)
	if err := ch.Exec(context.Background(), "INSERT INTO meter_values (tenant_id, version, event_time, external_id, sign, projected_at, num) VALUES (?, ?, ?, 'x', 1, now64(3), 1e9)",
		tenant, v, viewT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	q := viewQueries(changed)[1]
	want, _ := parsed.Meter(context.Background(), tenant, q)
	if got, _ := views.Meter(context.Background(), tenant, q); reflect.DeepEqual(got, want) {
		t.Fatal("an extra row in meter_values does not change the answer: the view path is not read")
	}

	// unique_count reads whole minutes' hash sets from meter_minutes: a hash
	// added to a minute without erasures counts.
	users := meters["users"]
	if err := ch.Exec(context.Background(), "INSERT INTO meter_minutes (tenant_id, version, minute, events, skipped, valued, total, lo, hi, u) "+
		"VALUES (?, ?, ?, 0, 0, 0, 0, inf, -inf, [toUInt128(12345)])", tenant, store.MeterVersion(tenant, users), viewT0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	q = viewQueries(users)[1]
	want, _ = parsed.Meter(context.Background(), tenant, q)
	if got, _ := views.Meter(context.Background(), tenant, q); reflect.DeepEqual(got, want) {
		t.Fatal("an extra hash in meter_minutes does not change the unique_count: its hash sets are not read")
	}
}
