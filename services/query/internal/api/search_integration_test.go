package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

var (
	types   = []string{"order.created", "order.paid", "user.signup"}
	sources = []string{"shop", "crm"}
)

// t0 is the base event time of generated rows (millisecond precision, like
// the ClickHouse column).
var t0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func genRows(tenant string, n int, step time.Duration) []querytest.Row {
	rows := make([]querytest.Row, n)
	for i := range rows {
		kind := "even"
		if i%2 == 1 {
			kind = "odd"
		}
		rows[i] = querytest.Row{
			Tenant: tenant, ID: fmt.Sprintf("ev-%05d", i),
			Type: types[i%3], Source: sources[i%2], Subject: fmt.Sprintf("sub-%d", i%7),
			Time:      t0.Add(time.Duration(i) * step),
			Data:      map[string]any{"n": i, "kind": kind, "nested": map[string]any{"mod5": i % 5}},
			Partition: int32(i % 4), Offset: int64(i),
		}
	}
	return rows
}

// expect filters and orders rows as the API must.
func expect(rows []querytest.Row, keep func(querytest.Row) bool, asc bool) []string {
	var sel []querytest.Row
	for _, r := range rows {
		if !r.Deleted && keep(r) {
			sel = append(sel, r)
		}
	}
	slices.SortFunc(sel, func(a, b querytest.Row) int {
		c := a.Time.Compare(b.Time)
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if !asc {
			c = -c
		}
		return c
	})
	ids := make([]string, len(sel))
	for i, r := range sel {
		ids[i] = r.ID
	}
	return ids
}

type env struct {
	base       string
	keyA, keyB string
	tenantA    string
	tenantB    string
	ch         *store.ClickHouse
}

func newEnv(t *testing.T) (env, *store.Postgres) {
	pool := querytest.Postgres(t)
	ch := querytest.ClickHouse(t)
	e := env{keyA: "key-a", keyB: "key-b", tenantA: querytest.Tenant(t), tenantB: querytest.Tenant(t)}
	pg := store.NewPostgres(pool)
	e.ch = store.NewClickHouse(ch)
	e.base = serve(t, api.Deps{
		Events: pg, Stats: e.ch,
		Auth: querytest.Auth{e.keyA: e.tenantA, e.keyB: e.tenantB},
	})
	return e, pg
}

// pageAll follows next_cursor to the end and returns the ids in order.
func pageAll(t *testing.T, e env, key string, q url.Values, each func(page int)) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		var p api.SearchPage
		if st, d, _ := call(t, e.base, key, "/v1/events", q, &p); st != http.StatusOK {
			t.Fatalf("page %d: %d %+v", page, st, d)
		}
		for _, ev := range p.Events {
			ids = append(ids, ev.ID)
		}
		if each != nil {
			each(page)
		}
		if p.NextCursor == "" {
			return ids
		}
		if page > 20000 {
			t.Fatal("paging does not end")
		}
		q = cloneWith(q, "cursor", p.NextCursor)
	}
}

func cloneWith(q url.Values, k, v string) url.Values {
	c := url.Values{}
	for kk, vv := range q {
		c[kk] = slices.Clone(vv)
	}
	c.Set(k, v)
	return c
}

func TestEventIsFoundByIDAndDeletedOrOtherTenantsEventsAnswerLikeMissingOnes(t *testing.T) {
	e, _ := newEnv(t)
	pool := querytest.Postgres(t)
	rows := genRows(e.tenantA, 3, time.Second)
	rows[2].Deleted = true
	rows = append(rows, querytest.Row{Tenant: e.tenantB, ID: "only-b", Type: "x", Time: t0, Data: map[string]any{}, Offset: 9})
	rows = append(rows, querytest.Row{Tenant: e.tenantA, ID: "with/slash and space", Type: "x", Time: t0, Data: map[string]any{"a": 1}, Offset: 10})
	querytest.InsertPG(t, pool, rows)

	var ev store.Event
	if st, d, _ := call(t, e.base, e.keyA, "/v1/events/ev-00001", nil, &ev); st != 200 {
		t.Fatalf("get ev-00001: %d %+v", st, d)
	}
	if ev.ID != "ev-00001" || ev.Type != "order.paid" || ev.Source != "crm" || !ev.Time.Equal(t0.Add(time.Second)) ||
		!strings.Contains(string(ev.Data), `"kind": "odd"`) && !strings.Contains(string(ev.Data), `"kind":"odd"`) {
		t.Fatalf("get ev-00001: unexpected %+v (data %s)", ev, ev.Data)
	}
	if st, d, _ := call(t, e.base, e.keyA, "/v1/events/"+url.PathEscape("with/slash and space"), nil, &ev); st != 200 || ev.ID != "with/slash and space" {
		t.Fatalf("id with slash: %d %+v %+v", st, d, ev)
	}

	_, missing, _ := call(t, e.base, e.keyA, "/v1/events/never-stored", nil, nil)
	for _, path := range []string{"/v1/events/ev-00002", "/v1/events/only-b", "/v1/events/" + strings.Repeat("x", 300), "/v1/events/%FF%FE"} {
		st, d, _ := call(t, e.base, e.keyA, path, nil, nil)
		if st != http.StatusNotFound || d != missing {
			t.Errorf("GET %s: got %d %+v, want 404 exactly like a missing event %+v", path, st, d, missing)
		}
	}
	// Tenant B sees its own event and none of A's.
	if st, _, _ := call(t, e.base, e.keyB, "/v1/events/only-b", nil, nil); st != 200 {
		t.Errorf("tenant B cannot read its own event: %d", st)
	}
	if st, _, _ := call(t, e.base, e.keyB, "/v1/events/ev-00001", nil, nil); st != 404 {
		t.Errorf("tenant B read tenant A's event: %d", st)
	}
	if st, _, _ := call(t, e.base, "", "/v1/events/ev-00001", nil, nil); st != 401 {
		t.Errorf("no key: %d, want 401", st)
	}
}

func TestSearchFiltersByTypeSourceSubjectTimeRangeAndData(t *testing.T) {
	e, _ := newEnv(t)
	pool := querytest.Postgres(t)
	rows := genRows(e.tenantA, 300, time.Minute)
	rows[5].Deleted = true
	rows[6].Deleted = true
	querytest.InsertPG(t, pool, rows)
	// Same ids and filters in tenant B must never show up in A's results.
	querytest.InsertPG(t, pool, genRows(e.tenantB, 50, time.Minute))

	at := func(i int) string { return t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano) }
	cases := []struct {
		name string
		q    url.Values
		keep func(r querytest.Row) bool
	}{
		{"all", url.Values{}, func(querytest.Row) bool { return true }},
		{"one type", url.Values{"type": {"order.paid"}}, func(r querytest.Row) bool { return r.Type == "order.paid" }},
		{"types repeated", url.Values{"type": {"order.paid", "user.signup"}}, func(r querytest.Row) bool { return r.Type != "order.created" }},
		{"types comma list", url.Values{"type": {"order.created,user.signup"}}, func(r querytest.Row) bool { return r.Type != "order.paid" }},
		{"source", url.Values{"source": {"shop"}}, func(r querytest.Row) bool { return r.Source == "shop" }},
		{"subject", url.Values{"subject": {"sub-3"}}, func(r querytest.Row) bool { return r.Subject == "sub-3" }},
		{"time range", url.Values{"from": {at(10)}, "to": {at(50)}}, func(r querytest.Row) bool {
			return !r.Time.Before(t0.Add(10*time.Minute)) && r.Time.Before(t0.Add(50*time.Minute))
		}},
		{"data containment", url.Values{"data": {`{"kind":"odd","nested":{"mod5":2}}`}}, func(r querytest.Row) bool {
			n := r.Data.(map[string]any)["n"].(int)
			return n%2 == 1 && n%5 == 2
		}},
		{"data path", url.Values{"data.nested.mod5": {"3"}, "data.kind": {"even"}}, func(r querytest.Row) bool {
			n := r.Data.(map[string]any)["n"].(int)
			return n%2 == 0 && n%5 == 3
		}},
		{"everything", url.Values{"type": {"order.created,order.paid"}, "source": {"crm"}, "from": {at(20)}, "to": {at(200)}, "data.kind": {"odd"}},
			func(r querytest.Row) bool {
				return r.Type != "user.signup" && r.Source == "crm" && !r.Time.Before(t0.Add(20*time.Minute)) && r.Time.Before(t0.Add(200*time.Minute))
			}},
	}
	for _, c := range cases {
		for _, asc := range []bool{false, true} {
			q := cloneWith(c.q, "limit", "7")
			if asc {
				q.Set("order", "asc")
			}
			got := pageAll(t, e, e.keyA, q, nil)
			want := expect(rows, c.keep, asc)
			if !slices.Equal(got, want) {
				t.Errorf("%s (asc=%v): got %d ids %v\nwant %d ids %v", c.name, asc, len(got), head(got), len(want), head(want))
			}
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 12)] }

func TestPagingThrough10000EventsReturnsEachOnceInOrderWhileNewerEventsArrive(t *testing.T) {
	e, _ := newEnv(t)
	pool := querytest.Postgres(t)
	// Three events share each millisecond, so the external id tie-break matters.
	rows := genRows(e.tenantA, 10_000, 0)
	for i := range rows {
		rows[i].Time = t0.Add(time.Duration(i/3) * time.Millisecond)
	}
	querytest.InsertPG(t, pool, rows)
	want := expect(rows, func(querytest.Row) bool { return true }, false)

	// Once the first page is out, a writer keeps inserting events newer than
	// everything while we page.
	var wg sync.WaitGroup
	var inserted atomic.Int64
	stop := make(chan struct{})
	writer := func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := pool.Exec(context.Background(), `INSERT INTO events (tenant_id, external_id, type, event_time, data, kafka_partition, kafka_offset)
				VALUES ($1, $2, 'late', now(), '{}', 0, $3)`, e.tenantA, fmt.Sprintf("late-%05d", i), 100000+i)
			if err != nil {
				t.Errorf("concurrent insert: %v", err)
				return
			}
			inserted.Add(1)
		}
	}
	got := pageAll(t, e, e.keyA, url.Values{"limit": {"1000"}}, func(page int) {
		if page == 0 {
			wg.Add(1)
			go writer()
		}
		// Let the writer get some rows in between pages (it inserts without
		// pause: the bound is for a machine too loaded to let it run).
		deadline := time.Now().Add(time.Minute)
		for n := inserted.Load(); inserted.Load() < n+3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	})
	close(stop)
	wg.Wait()
	if inserted.Load() == 0 {
		t.Fatal("no concurrent inserts happened during paging")
	}
	// Semantics: a newest-first scan continues strictly below its last
	// position, so events newer than its first page never show up in it.
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d (%d inserted concurrently)", len(got), len(want), inserted.Load())
	}
	seen := map[string]bool{}
	for i, id := range got {
		if seen[id] {
			t.Fatalf("duplicate %s at %d", id, i)
		}
		seen[id] = true
		if id != want[i] {
			t.Fatalf("position %d: got %s, want %s", i, id, want[i])
		}
	}
	t.Logf("paged 10,000 events in 10 pages while %d newer events were inserted", inserted.Load())

	// Two types (one index range per type, merged), oldest first, ties on
	// time broken by id, odd page size.
	q := url.Values{"type": {"order.paid,user.signup"}, "order": {"asc"}, "limit": {"333"}}
	got = pageAll(t, e, e.keyA, q, nil)
	want = expect(rows, func(r querytest.Row) bool { return r.Type != "order.created" }, true)
	if !slices.Equal(got, want) {
		t.Fatalf("two types asc: got %d ids, want %d; first %v vs %v", len(got), len(want), head(got), head(want))
	}
}
