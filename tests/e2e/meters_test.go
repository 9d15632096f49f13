package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
)

// meterEvent is one event as sent, with what a meter reads of it.
type meterEvent struct {
	id     string
	typ    string
	at     time.Time
	data   map[string]any
	erased bool
}

// meterEvents: llm.call events every 7 minutes 12 seconds from 2026-10-22
// 12:00 UTC for 12 days (across Europe/Berlin's DST end on 2026-10-25 and
// America/New_York's on 2026-11-01), with events exactly at the Berlin
// midnights around the change, times written in several UTC offsets, and
// values that are missing, non-numeric (a string, null) or numeric.
func meterEvents() []meterEvent {
	zones := []*time.Location{time.UTC, time.FixedZone("", 2*3600), time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800)}
	base := time.Date(2026, 10, 22, 12, 0, 0, 0, time.UTC)
	var evs []meterEvent
	for i := range 2400 {
		at := base.Add(time.Duration(i)*432*time.Second + time.Duration(i%1000)*time.Millisecond)
		evs = append(evs, meterEvent{id: fmt.Sprintf("call-%04d", i), typ: "llm.call", at: at.In(zones[i%len(zones)]), data: meterData(i)})
	}
	for i, at := range []string{"2026-10-24T22:00:00Z", "2026-10-25T22:59:59.999Z", "2026-10-25T23:00:00Z", "2026-11-01T03:59:59.999Z", "2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z"} {
		t, _ := time.Parse(time.RFC3339Nano, at)
		evs = append(evs, meterEvent{id: fmt.Sprintf("edge-%d", i), typ: "llm.call", at: t, data: meterData(3000 + i)})
	}
	for i := range 100 { // another type: no meter reads it
		evs = append(evs, meterEvent{id: fmt.Sprintf("other-%d", i), typ: "other", at: base.Add(time.Duration(i) * time.Hour), data: meterData(i)})
	}
	return evs
}

func meterData(i int) map[string]any {
	d := map[string]any{"model": fmt.Sprintf("m%d", i%4), "latency_ms": float64((i*13)%500) + 0.25*float64(i%4)}
	if i%29 != 0 {
		d["region"] = []string{"eu", "us", "ap"}[i%3]
	}
	switch {
	case i%31 == 0:
		d["user"] = 42 // a number: unique_count counts its JSON text
	case i%37 == 0:
		d["user"] = nil // null: skipped
	default:
		d["user"] = fmt.Sprintf("u%d", (i*7)%53)
	}
	switch {
	case i%17 == 0: // no tokens: skipped
	case i%19 == 0:
		d["usage"] = map[string]any{"tokens": "12"} // not a number: skipped
	default:
		d["usage"] = map[string]any{"tokens": (i*37)%1000 - 100}
	}
	if i%23 == 0 {
		delete(d, "latency_ms")
	}
	return d
}

func (e meterEvent) wire() map[string]any {
	return map[string]any{"id": e.id, "type": e.typ, "subject": "cust-" + e.id[len(e.id)-1:], "time": e.at.Format(time.RFC3339Nano), "data": e.data}
}

// Meters over the real stack equal the same aggregates computed in Go over
// the events sent (first copy wins, erased ones never count) and, for
// counts and sums per Berlin day, in PostgreSQL over the events table: with
// 10% of the events copied again into the topic (as a producer retry would),
// re-sent duplicates, erasures between two ingests, windows in three time
// zones across DST changes, group-by and filters, and again after the
// ClickHouse read model is dropped and replayed from the topic.
func TestMetersEqualIndependentAggregatesUnderDuplicatesReplayAndErasure(t *testing.T) {
	s := startStack(t)
	tenant := "mtr-" + randomHex(t, 4)
	rate, retention := 100000, 3650
	key := tenancytest.New(t, s.pool, tenant, tenancy.TenantSettings{RateLimitPerSec: &rate, RateLimitBurst: &rate, RetentionDays: &retention}).
		Key(tenancy.ScopeIngest, tenancy.ScopeQuery).Key
	meters := defineMeters(t, s, tenant)

	evs := meterEvents()
	half := len(evs) / 2
	s.ingestMeterEvents(key, evs[:half])
	records := half
	want := liveCalls(evs[:half])
	eventually(t, 90*time.Second, "the first half metered", func() string {
		if got := s.meterTotal(key, "calls"); got != uint64(len(want)) {
			return fmt.Sprintf("calls %d, want %d", got, len(want))
		}
		return ""
	})
	// Erase every 20th event of the first half, then send the second half.
	for i := 0; i < half; i += 20 {
		if code := s.call(key, http.MethodDelete, s.gatewayURL+"/v1/events/"+url.PathEscape(evs[i].id), "", "", nil); code != http.StatusAccepted {
			t.Fatalf("DELETE %s: %d", evs[i].id, code)
		}
		evs[i].erased = true
		records++
	}
	s.ingestMeterEvents(key, evs[half:])
	records += len(evs) - half
	records += s.copyEveryTenthEvent(t, records)
	s.resendChanged(key, evs)

	eventually(t, 2*time.Minute, "every record of the topic projected to ClickHouse", func() string {
		name := `pulsestream_projector_records_consumed_total{sink="clickhouse"}`
		if v, ok := metricValue(s.projURL, name); !ok || v < float64(records) {
			return fmt.Sprintf("%s %v, want %d", name, v, records)
		}
		return ""
	})
	eventually(t, time.Minute, "PostgreSQL has every live event", func() string {
		if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND deleted_at IS NULL AND type = 'llm.call'`, tenant); n != int64(len(liveCalls(evs))) {
			return fmt.Sprintf("%d live events", n)
		}
		return ""
	})
	live := liveCalls(evs)
	t.Logf("%d records in the topic (%d events sent, %d erased, copies included); %d live metered events", records, len(evs), len(evs)-len(liveCalls(evs))-100, len(live))
	s.checkMeters(t, key, meters, live)
	// Those queries asked for the meters' views (write-time extraction);
	// once built, the same checks read them and nothing parses data.
	s.waitMeterViews(t, len(meters))
	s.checkMetersFromViews(t, key, meters, live)
	s.checkAgainstPostgres(t, key, tenant)
	s.checkMeterCSV(t, key, meters["tokens"], live)

	s.stopProjector()
	s.replay("clickhouse") // the views refill meter_values as events are projected again
	s.checkMetersFromViews(t, key, meters, live)

	// A changed definition applies to all history.
	changed := meters["tokens-min"]
	changed.Aggregation, changed.GroupBy = "max", map[string]string{"model": "$.model", "region": "$.region", "subj": "subject"}
	if _, created, err := tenancy.NewAdmin(tenancy.NewPGStore(s.pool)).PutMeter(context.Background(), "test:meters", tenant, "tokens-min", changed.MeterSpec); err != nil || created {
		t.Fatalf("replace meter tokens-min: created %v, %v", created, err)
	}
	s.checkMeters(t, key, map[string]tenancy.Meter{"tokens-min": changed}, live)
	s.waitMeterViews(t, len(meters)+1)
	s.checkMetersFromViews(t, key, map[string]tenancy.Meter{"tokens-min": changed}, live)
	if code := s.call(s.keyB, http.MethodGet, s.queryURL+"/v1/meters/calls/query", "", "", nil); code != http.StatusNotFound {
		t.Fatalf("another tenant's key asking for the meter: %d, want 404", code)
	}
}

// waitMeterViews waits until the query service has built n meter views.
func (s *stack) waitMeterViews(t *testing.T, n int) {
	t.Helper()
	eventually(t, 3*time.Minute, "the meters' views built", func() string {
		name := `pulsestream_query_meter_builds_total{outcome="ready"}`
		if v, ok := metricValue(s.queryURL, name); !ok || v < float64(n) {
			return fmt.Sprintf("%s %v, want %d; query service log:\n%s", name, v, n, s.query.Log(10))
		}
		return ""
	})
}

// checkMetersFromViews is checkMeters, failing when any answer was
// computed by parsing data rather than read from the meters' views.
func (s *stack) checkMetersFromViews(t *testing.T, key string, meters map[string]tenancy.Meter, live []meterEvent) {
	t.Helper()
	parsed := func() float64 {
		v, _ := metricValue(s.queryURL, `pulsestream_query_meter_answers_total{source="events"}`)
		return v
	}
	before := parsed()
	s.checkMeters(t, key, meters, live)
	if after := parsed(); after != before {
		t.Fatalf("%v meter answers parsed data although the views were built", after-before)
	}
}

// defineMeters creates one meter per aggregation (plus a filtered one)
// through tenancy.Admin, the code the admin API and pulsectl run.
func defineMeters(t *testing.T, s *stack, tenant string) map[string]tenancy.Meter {
	t.Helper()
	admin := tenancy.NewAdmin(tenancy.NewPGStore(s.pool))
	dims := map[string]string{"model": "$.model", "region": "$['region']", "subj": "subject"}
	specs := map[string]tenancy.MeterSpec{
		"calls":      {EventTypes: []string{"llm.call"}, Aggregation: "count", GroupBy: dims},
		"tokens":     {EventTypes: []string{"llm.call"}, Aggregation: "sum", ValuePath: "$.usage.tokens", GroupBy: dims},
		"tokens-avg": {EventTypes: []string{"llm.call"}, Aggregation: "avg", ValuePath: "$.usage.tokens", GroupBy: dims},
		"tokens-min": {EventTypes: []string{"llm.call"}, Aggregation: "min", ValuePath: "$.usage.tokens", GroupBy: dims},
		"tokens-max": {EventTypes: []string{"llm.call"}, Aggregation: "max", ValuePath: "$.usage.tokens", GroupBy: dims},
		"users":      {EventTypes: []string{"llm.call"}, Aggregation: "unique_count", ValuePath: "$.user", GroupBy: dims},
		"eu-tokens":  {EventTypes: []string{"llm.call", "never.sent"}, Aggregation: "sum", ValuePath: "$.usage.tokens", GroupBy: dims, Filters: map[string][]string{"region": {"eu"}}},
	}
	for _, p := range []string{"p50", "p90", "p95", "p99"} {
		specs["latency-"+p] = tenancy.MeterSpec{EventTypes: []string{"llm.call"}, Aggregation: p, ValuePath: "$.latency_ms", GroupBy: dims}
	}
	out := map[string]tenancy.Meter{}
	for slug, spec := range specs {
		m, created, err := admin.PutMeter(context.Background(), "test:meters", tenant, slug, spec)
		if err != nil || !created {
			t.Fatalf("put meter %s: created %v, %v", slug, created, err)
		}
		out[slug] = m
	}
	return out
}

func (s *stack) ingestMeterEvents(key string, evs []meterEvent) {
	s.t.Helper()
	for start := 0; start < len(evs); start += 500 {
		var batch []map[string]any
		for _, e := range evs[start:min(start+500, len(evs))] {
			batch = append(batch, e.wire())
		}
		s.ingest(key, batch)
	}
}

// copyEveryTenthEvent produces again every tenth record of the topic
// (the first `have` records), same key, value and headers, into the same
// partition: the duplicates a retried produce leaves in the log. It
// returns how many it produced.
func (s *stack) copyEveryTenthEvent(t *testing.T, have int) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers), kgo.ConsumeTopics(s.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var copies []*kgo.Record
	for read := 0; read < have && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			read++
			if read%10 == 0 && len(r.Value) > 0 {
				copies = append(copies, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers})
			}
		})
	}
	if len(copies) < have/12 {
		t.Fatalf("read %d records to copy out of %d", len(copies), have)
	}
	if err := cl.ProduceSync(ctx, copies...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return len(copies)
}

// resendChanged re-sends every 10th event, half of them with other data:
// each one is answered duplicate (the same content, or an erased id) or
// conflict (other content), and none is accepted.
func (s *stack) resendChanged(key string, evs []meterEvent) {
	s.t.Helper()
	var body strings.Builder
	body.WriteByte('[')
	n := 0
	for i := 5; i < len(evs); i += 10 {
		e := evs[i]
		if i%20 == 15 {
			e.data = map[string]any{"model": "changed", "usage": map[string]any{"tokens": 1_000_000}}
		}
		line, _ := json.Marshal(e.wire())
		if n > 0 {
			body.WriteByte(',')
		}
		body.Write(line)
		n++
	}
	body.WriteByte(']')
	var ans ingestAnswer
	var raw json.RawMessage
	code := s.call(key, http.MethodPost, s.gatewayURL+"/v1/events", "application/json", body.String(), &raw)
	_ = json.Unmarshal(raw, &ans)
	if code == http.StatusOK || ans.Accepted != 0 || ans.Duplicate+ans.Rejected != n || ans.Duplicate < n/2 {
		s.t.Fatalf("re-send of %d events: %d, %d duplicates, %d accepted: %.300s", n, code, ans.Duplicate, ans.Accepted, raw)
	}
}

func liveCalls(evs []meterEvent) []meterEvent {
	var out []meterEvent
	for _, e := range evs {
		if e.typ == "llm.call" && !e.erased {
			out = append(out, e)
		}
	}
	return out
}

type meterAnswer struct {
	Events  uint64
	Skipped uint64
	Rows    []struct {
		WindowStart time.Time          `json:"window_start"`
		WindowEnd   time.Time          `json:"window_end"`
		Group       map[string]*string `json:"group"`
		Value       *float64
		Events      uint64
		Skipped     uint64
	}
}

var (
	meterFrom  = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	meterTo    = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	meterRange = "from=" + meterFrom.Format(time.RFC3339) + "&to=" + meterTo.Format(time.RFC3339)
)

func (s *stack) meter(key, slug, params string) meterAnswer {
	s.t.Helper()
	u := s.queryURL + "/v1/meters/" + slug + "/query?" + meterRange + "&" + params
	// A 503 (query_timeout on the shared engine under load) says "retry
	// after Retry-After": a client does, a few times.
	for range 10 {
		var ans meterAnswer
		code := s.call(key, http.MethodGet, u, "", "", &ans)
		if code == http.StatusOK {
			return ans
		}
		if code != http.StatusServiceUnavailable {
			s.t.Fatalf("GET %s: %d; query service log:\n%s", u, code, s.query.Log(5))
		}
		time.Sleep(time.Second)
	}
	s.t.Fatalf("GET %s: 503 ten times; query service log:\n%s", u, s.query.Log(20))
	return meterAnswer{}
}

func (s *stack) meterTotal(key, slug string) uint64 { return s.meter(key, slug, "").Events }

// meterQueries are the windows, zones, groups and filters every meter is
// asked for.
var meterQueries = []meterQuery{
	{window: "day", zone: "Europe/Berlin", groupBy: []string{"model"}},
	{window: "day", zone: "America/New_York"},
	{window: "hour", zone: "Asia/Kolkata", groupBy: []string{"subj"}},
	{window: "month", zone: "Asia/Kolkata", groupBy: []string{"region"}},
	{groupBy: []string{"region", "model"}, filter: map[string][]string{"model": {"m1", "m2"}}},
}

type meterQuery struct {
	window, zone string
	groupBy      []string
	filter       map[string][]string
}

func (q meterQuery) params() string {
	v := url.Values{}
	if q.window != "" {
		v.Set("window", q.window)
	}
	if q.zone != "" {
		v.Set("time_zone", q.zone)
	}
	if len(q.groupBy) > 0 {
		v.Set("group_by", strings.Join(q.groupBy, ","))
	}
	for d, vals := range q.filter {
		v["filter["+d+"]"] = vals
	}
	return v.Encode()
}

func (s *stack) checkMeters(t *testing.T, key string, meters map[string]tenancy.Meter, live []meterEvent) {
	t.Helper()
	for slug, m := range meters {
		qs := meterQueries
		if slug != "calls" && slug != "tokens" && slug != "users" { // the other aggregations: two shapes (bounds the test's time)
			qs = []meterQuery{meterQueries[0], meterQueries[3]}
		}
		for _, q := range qs {
			got := s.meter(key, slug, q.params())
			want := expectMeter(m, q, live)
			if diff := compareMeter(got, want, q, m.Aggregation); diff != "" {
				t.Fatalf("meter %s, %s: %s", slug, q.params(), diff)
			}
		}
	}
}

// expected is one row of a meter computed in Go.
type expected struct {
	start, end time.Time
	group      []*string
	values     []float64
	texts      map[string]bool
	events     uint64
	skipped    uint64
}

// expectMeter computes meter m for query q over the live events in Go.
func expectMeter(m tenancy.Meter, q meterQuery, live []meterEvent) map[string]*expected {
	loc := time.UTC
	if q.zone != "" {
		loc, _ = time.LoadLocation(q.zone)
	}
	out := map[string]*expected{}
	for _, e := range live {
		if !matches(m, q, e) {
			continue
		}
		start, end := windowOf(q.window, e.at.In(loc), loc)
		var group []*string
		for _, d := range q.groupBy {
			group = append(group, dimension(m.GroupBy[d], e))
		}
		k := rowKey(start, group)
		r := out[k]
		if r == nil {
			r = &expected{start: start, end: end, group: group, texts: map[string]bool{}}
			out[k] = r
		}
		r.events++
		addValue(m, e, r)
	}
	return out
}

func matches(m tenancy.Meter, q meterQuery, e meterEvent) bool {
	if !slices.Contains(m.EventTypes, e.typ) {
		return false
	}
	for _, f := range []map[string][]string{m.Filters, q.filter} {
		for d, vals := range f {
			v := dimension(m.GroupBy[d], e)
			if v == nil || !slices.Contains(vals, *v) {
				return false
			}
		}
	}
	return true
}

func windowOf(window string, t time.Time, loc *time.Location) (time.Time, time.Time) {
	y, mo, d := t.Date()
	switch window {
	case "hour": // local hours start at :00 local, also in half-hour offsets
		s := t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
		return s, s.Add(time.Hour)
	case "day":
		return time.Date(y, mo, d, 0, 0, 0, 0, loc), time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
	case "month":
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc), time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
	}
	return meterFrom, meterTo // no windows: one row over the range
}

// dimension is what the meter documents: a string's contents, another
// value's JSON text, nil when missing or null; attributes nil when empty.
func dimension(src string, e meterEvent) *string {
	if src == "subject" {
		s := e.wire()["subject"].(string)
		return &s
	}
	v, ok := lookup(e.data, src)
	if !ok || v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return &s
	}
	b, _ := json.Marshal(v)
	s := string(b)
	return &s
}

// lookup follows the paths the test uses ($.a.b, $['a']).
func lookup(data map[string]any, path string) (any, bool) {
	var cur any = data
	for _, key := range strings.FieldsFunc(strings.NewReplacer("$", "", "['", ".", "']", "").Replace(path), func(r rune) bool { return r == '.' }) {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func addValue(m tenancy.Meter, e meterEvent, r *expected) {
	switch m.Aggregation {
	case "count":
		return
	case "unique_count":
		v := dimension(m.ValuePath, e)
		if v == nil {
			r.skipped++
			return
		}
		r.texts[*v] = true
		return
	}
	v, ok := lookup(e.data, m.ValuePath)
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case float64:
		f = n
	default:
		ok = false
	}
	if !ok {
		r.skipped++
		return
	}
	r.values = append(r.values, f)
}

// value is the aggregate as the meter defines it (percentiles: the value at
// 0-based position floor(level × n) in ascending order).
func (r *expected) value(agg string) *float64 {
	var v float64
	switch agg {
	case "count":
		v = float64(r.events)
	case "unique_count":
		v = float64(len(r.texts))
	default:
		if len(r.values) == 0 {
			return nil
		}
		vals := slices.Clone(r.values)
		sort.Float64s(vals)
		sum := 0.0
		for _, x := range r.values {
			sum += x
		}
		switch agg {
		case "sum":
			v = sum
		case "avg":
			v = sum / float64(len(vals))
		case "min":
			v = vals[0]
		case "max":
			v = vals[len(vals)-1]
		default:
			level, _ := strconv.ParseFloat(strings.TrimPrefix(agg, "p"), 64)
			v = vals[min(int(level/100*float64(len(vals))), len(vals)-1)]
		}
	}
	return &v
}

func rowKey(start time.Time, group []*string) string {
	k := strconv.FormatInt(start.Unix(), 10)
	for _, g := range group {
		if g == nil {
			k += "|<nil>"
		} else {
			k += "|" + *g
		}
	}
	return k
}

// compareMeter reports the first difference between an answer and the Go
// computation ("" when equal): the same rows with the same window bounds,
// events, skipped and values (exactly), and totals.
func compareMeter(got meterAnswer, want map[string]*expected, q meterQuery, agg string) string {
	if len(got.Rows) != len(want) {
		return fmt.Sprintf("%d rows, want %d", len(got.Rows), len(want))
	}
	var events, skipped, wantEvents, wantSkipped uint64
	for _, w := range want {
		wantEvents += w.events
		wantSkipped += w.skipped
	}
	for _, r := range got.Rows {
		var group []*string
		for _, d := range q.groupBy {
			group = append(group, r.Group[d])
		}
		w := want[rowKey(r.WindowStart, group)]
		if w == nil {
			return fmt.Sprintf("row %s %v not expected", r.WindowStart, rowKey(r.WindowStart, group))
		}
		wv := w.value(agg)
		if !r.WindowStart.Equal(w.start) || !r.WindowEnd.Equal(w.end) || r.Events != w.events || r.Skipped != w.skipped ||
			(r.Value == nil) != (wv == nil) || (wv != nil && *r.Value != *wv) {
			return fmt.Sprintf("row %s..%s %s: value %v events %d skipped %d; want %s..%s value %v events %d skipped %d",
				r.WindowStart, r.WindowEnd, rowKey(r.WindowStart, group), deref(r.Value), r.Events, r.Skipped, w.start, w.end, deref(wv), w.events, w.skipped)
		}
		events += r.Events
		skipped += r.Skipped
	}
	if got.Events != wantEvents || got.Skipped != wantSkipped || events != wantEvents {
		return fmt.Sprintf("events %d skipped %d (rows sum %d, %d), want %d and %d", got.Events, got.Skipped, events, skipped, wantEvents, wantSkipped)
	}
	return ""
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

func (s *stack) checkAgainstPostgres(t *testing.T, key, tenant string) {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT extract(epoch FROM date_trunc('day', event_time, 'Europe/Berlin'))::bigint, count(*),
			sum((data->'usage'->>'tokens')::numeric) FILTER (WHERE jsonb_typeof(data->'usage'->'tokens') = 'number'),
			count(*) FILTER (WHERE jsonb_typeof(data->'usage'->'tokens') IS DISTINCT FROM 'number')
		FROM events WHERE tenant_id = $1 AND deleted_at IS NULL AND type = 'llm.call' GROUP BY 1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	pg := map[int64][3]float64{}
	for rows.Next() {
		var day, n, skipped int64
		var sum float64
		if err := rows.Scan(&day, &n, &sum, &skipped); err != nil {
			t.Fatal(err)
		}
		pg[day] = [3]float64{float64(n), sum, float64(skipped)}
	}
	calls := s.meter(key, "calls", "window=day&time_zone=Europe/Berlin")
	tokens := s.meter(key, "tokens", "window=day&time_zone=Europe/Berlin")
	if len(calls.Rows) != len(pg) || len(tokens.Rows) != len(pg) {
		t.Fatalf("Berlin days: calls %d, tokens %d, PostgreSQL %d", len(calls.Rows), len(tokens.Rows), len(pg))
	}
	for i, r := range tokens.Rows {
		p, ok := pg[r.WindowStart.Unix()]
		if !ok || calls.Rows[i].Value == nil || *calls.Rows[i].Value != p[0] || r.Value == nil || *r.Value != p[1] || float64(r.Skipped) != p[2] {
			t.Fatalf("Berlin day %s: calls %v, tokens %v skipped %d; PostgreSQL %v", r.WindowStart, calls.Rows[i].Value, r.Value, r.Skipped, p)
		}
	}
}

func (s *stack) checkMeterCSV(t *testing.T, key string, m tenancy.Meter, live []meterEvent) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.queryURL+"/v1/meters/tokens/query?"+meterRange+"&window=day&time_zone=Europe/Berlin&group_by=model", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	lines, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := expectMeter(m, meterQuery{window: "day", zone: "Europe/Berlin", groupBy: []string{"model"}}, live)
	if strings.Join(lines[0], ",") != "window_start,window_end,model,value,events,skipped" || len(lines) != len(want)+1 {
		t.Fatalf("CSV header %v and %d lines, want %d rows", lines[0], len(lines)-1, len(want))
	}
	for _, l := range lines[1:] {
		start, _ := time.Parse(time.RFC3339, l[0])
		w := want[rowKey(start, []*string{&l[2]})]
		v, _ := strconv.ParseFloat(l[3], 64)
		if w == nil || v != *w.value("sum") || l[4] != strconv.FormatUint(w.events, 10) || l[5] != strconv.FormatUint(w.skipped, 10) {
			t.Fatalf("CSV line %v, want %+v", l, w)
		}
	}
}
