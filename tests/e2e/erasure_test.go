package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// window is a time range holding every event of these tests; stats are
// asked for it explicitly.
type window struct{ t0 time.Time }

func newWindow() window { return window{t0: time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)} }

func (w window) at(i int) string {
	return w.t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
}

func (w window) stats(extra string) string {
	return "/v1/stats?interval=hour&from=" + url.QueryEscape(w.t0.Add(-time.Hour).Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(w.t0.Add(6*time.Hour).Format(time.RFC3339)) + extra
}

func (s *stack) total(key, path string) int64 {
	s.t.Helper()
	var st statsAnswer
	if code := s.call(key, http.MethodGet, s.queryURL+path, "", "", &st); code != http.StatusOK {
		s.t.Fatalf("GET %s: %d", path, code)
	}
	return st.Total
}

func (s *stack) pgCount(query string, args ...any) int64 {
	s.t.Helper()
	var n int64
	if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// searchIDs pages through GET /v1/events?<q> and returns every id.
func (s *stack) searchIDs(key, q string) map[string]bool {
	s.t.Helper()
	ids := map[string]bool{}
	cur := ""
	for {
		var page searchAnswer
		u := s.queryURL + "/v1/events?limit=1000&" + q
		if cur != "" {
			u += "&cursor=" + url.QueryEscape(cur)
		}
		if code := s.call(key, http.MethodGet, u, "", "", &page); code != http.StatusOK {
			s.t.Fatalf("search %s: %d", q, code)
		}
		for _, e := range page.Events {
			ids[e.ID] = true
		}
		if page.NextCursor == "" {
			return ids
		}
		cur = page.NextCursor
	}
}

// chRawCount counts the rows of ClickHouse's events table matching where,
// without FINAL: every row stored, whatever the merges did.
func (s *stack) chRawCount(where string, args ...any) uint64 {
	s.t.Helper()
	var n uint64
	if err := s.ch.QueryRow(context.Background(), "SELECT count() FROM events WHERE "+where, args...).Scan(&n); err != nil {
		s.t.Fatalf("clickhouse %s: %v", where, err)
	}
	return n
}

func (s *stack) audit(tenant, action, target string) int64 {
	return s.pgCount(`SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 AND target = $3`, tenant, action, target)
}

// After DELETE the event is a 404 by id, absent from search and statistics,
// its PostgreSQL row keeps no payload; the request is in the audit log; a
// re-sent copy is answered duplicate and does not bring it back.
func TestDeletedEventIsGoneFromEveryQueryEndpointAndNeverComesBack(t *testing.T) {
	s := startStack(t)
	w := newWindow()
	var events []map[string]any
	for i := range 20 {
		events = append(events, map[string]any{"id": fmt.Sprintf("order/%02d", i), "type": "order.placed", "subject": "user-1",
			"time": w.at(i), "data": map[string]any{"secret": fmt.Sprintf("card-%d", i)}})
	}
	s.ingest(s.keyA, events)
	eventually(t, 90*time.Second, "20 events projected to both read models", func() string {
		if n := s.total(s.keyA, w.stats("")); n != 20 {
			return fmt.Sprintf("stats total %d", n)
		}
		if code := s.call(s.keyA, http.MethodGet, s.queryURL+"/v1/events/order%2F07", "", "", nil); code != http.StatusOK {
			return fmt.Sprintf("GET order/07 %d", code)
		}
		return ""
	})

	for range 2 { // idempotent, and an unknown id is 202 too
		for _, id := range []string{"order%2F07", "never-sent"} {
			if code := s.call(s.keyA, http.MethodDelete, s.gatewayURL+"/v1/events/"+id, "", "", nil); code != http.StatusAccepted {
				t.Fatalf("DELETE %s: %d", id, code)
			}
		}
	}
	// Another tenant's DELETE of the same id touches only its own namespace.
	if code := s.call(s.keyB, http.MethodDelete, s.gatewayURL+"/v1/events/order%2F08", "", "", nil); code != http.StatusAccepted {
		t.Fatalf("tenant B DELETE: %d", code)
	}

	eventually(t, 60*time.Second, "the deletion applied to both read models", func() string {
		if code := s.call(s.keyA, http.MethodGet, s.queryURL+"/v1/events/order%2F07", "", "", nil); code != http.StatusNotFound {
			return fmt.Sprintf("GET order/07 %d", code)
		}
		if n := s.total(s.keyA, w.stats("")); n != 19 {
			return fmt.Sprintf("stats total %d", n)
		}
		return ""
	})
	for q, want := range map[string]int{"": 19, "subject=user-1": 19, "type=order.placed": 19,
		"data=" + url.QueryEscape(`{"secret":"card-7"}`): 0, "data.secret=card-7": 0, "data.secret=card-8": 1} {
		ids := s.searchIDs(s.keyA, q)
		if ids["order/07"] || len(ids) != want {
			t.Fatalf("search %q: %d ids (want %d), order/07 present %v", q, len(ids), want, ids["order/07"])
		}
	}
	if n := s.total(s.keyA, w.stats("&subject=user-1&type=order.placed")); n != 19 {
		t.Fatalf("filtered stats total %d, want 19", n)
	}
	var st struct{ State string }
	if code := s.call(s.keyA, http.MethodGet, s.queryURL+"/v1/events/order%2F07/status", "", "", &st); code != http.StatusOK || st.State != "deleted" {
		t.Fatalf("status of the deleted event: %d %q", code, st.State)
	}
	// The PostgreSQL row proves the deletion and holds no payload.
	if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND external_id = 'order/07' AND deleted_at IS NOT NULL
		AND data IS NULL AND data_base64 IS NULL AND type IS NULL AND subject IS NULL AND source IS NULL AND extensions IS NULL
		AND ingest_id IS NULL AND event_time IS NULL AND received_at IS NULL`, s.tenantA); n != 1 {
		t.Fatalf("erased row with no payload: %d rows", n)
	}
	if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND data::text LIKE '%card-7"%'`, s.tenantA); n != 0 {
		t.Fatalf("the erased payload is still in PostgreSQL (%d rows)", n)
	}
	if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND external_id = 'never-sent' AND deleted_at IS NOT NULL`, s.tenantA); n != 1 {
		t.Fatalf("the deletion of an unseen id must be kept (refuses it later): %d rows", n)
	}
	if a, b := s.audit(s.tenantA, "event.delete", "order/07"), s.audit(s.tenantA, "event.delete", "never-sent"); a != 2 || b != 2 {
		t.Fatalf("audit entries: order/07 %d, never-sent %d, want 2 each", a, b)
	}
	if n := s.audit(s.tenantB, "event.delete", "order/08"); n != 1 {
		t.Fatalf("tenant B's audit entry: %d", n)
	}

	// Re-sending the erased id (same or other content) and the unseen
	// deleted id: duplicate, not stored, not resurrected.
	var ans ingestAnswer
	body := fmt.Sprintf(`[{"id":"order/07","type":"order.placed","subject":"user-1","time":%q,"data":{"secret":"card-7"}},`+
		`{"id":"order/07","type":"other","data":1},{"id":"never-sent","type":"t","time":%q}]`, w.at(7), w.at(30))
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/events", "application/json", body, &ans); code != http.StatusMultiStatus && code != http.StatusOK {
		t.Fatalf("re-send: %d", code)
	}
	if ans.Accepted != 0 || ans.Results[0].Status != "duplicate" || ans.Results[0].Code != "erased" || ans.Results[2].Status != "duplicate" {
		t.Fatalf("re-sent erased ids: %+v", ans)
	}
	// Tenant B's event order/08 was never deleted by A: still there for A.
	if code := s.call(s.keyA, http.MethodGet, s.queryURL+"/v1/events/order%2F08", "", "", nil); code != http.StatusOK {
		t.Fatalf("tenant A's order/08 after tenant B deleted its own: %d", code)
	}
	s.stopProjector()
	s.replay("postgres")
	s.replay("clickhouse")
	if code := s.call(s.keyA, http.MethodGet, s.queryURL+"/v1/events/order%2F07", "", "", nil); code != http.StatusNotFound {
		t.Fatalf("after replay, GET order/07: %d", code)
	}
	if n := s.total(s.keyA, w.stats("")); n != 19 {
		t.Fatalf("after replay, stats total %d, want 19", n)
	}
}

// An erasure by subject over 10,000 events (mixed with other subjects and
// with another tenant's events of the same subject) ends done with the exact
// count; those events are gone from every query endpoint and stay gone after
// the read models are dropped and replayed from the topic; everything else
// is unchanged. An unknown subject is done with 0.
func TestSubjectErasureOverTenThousandEventsEndsDoneWithTheExactCount(t *testing.T) {
	s := startStack(t)
	w := newWindow()
	const alice, others = 10000, 2000
	send := func(key, prefix, subject string, n int) {
		for from := 0; from < n; from += 1000 {
			var events []map[string]any
			for i := from; i < min(from+1000, n); i++ {
				events = append(events, map[string]any{"id": fmt.Sprintf("%s-%05d", prefix, i), "type": []string{"a", "b", "c"}[i%3],
					"subject": subject, "time": w.at(i % 3600), "data": map[string]any{"i": i}})
			}
			s.ingest(key, events)
		}
	}
	send(s.keyA, "alice", "alice@example.com", alice)
	send(s.keyA, "bob", "bob", others/2)
	send(s.keyA, "carol", "carol", others/2)
	send(s.keyB, "alice", "alice@example.com", 500) // another tenant, same subject and ids
	eventually(t, 3*time.Minute, "every event projected", func() string {
		if a, b := s.total(s.keyA, w.stats("")), s.total(s.keyB, w.stats("")); a != alice+others || b != 500 {
			return fmt.Sprintf("stats totals A %d B %d", a, b)
		}
		if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1`, s.tenantA); n != alice+others {
			return fmt.Sprintf("postgres rows %d", n)
		}
		return ""
	})
	before := map[string]int64{}
	for _, q := range []string{"&subject=bob", "&subject=carol", "&type=a&subject=bob"} {
		before[q] = s.total(s.keyA, w.stats(q))
	}

	var req erasureAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/erasures", "application/json", `{"subject":"alice@example.com"}`, &req); code != http.StatusAccepted || req.State != "pending" {
		t.Fatalf("POST /v1/erasures: %d %+v", code, req)
	}
	var unknown erasureAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/erasures", "application/json", `{"subject":"nobody"}`, &unknown); code != http.StatusAccepted {
		t.Fatalf("POST /v1/erasures (unknown subject): %d", code)
	}
	var got erasureAnswer
	eventually(t, 2*time.Minute, "the erasure done", func() string {
		if code := s.call(s.keyA, http.MethodGet, s.gatewayURL+req.StatusURL, "", "", &got); code != http.StatusOK {
			return fmt.Sprintf("GET %s: %d", req.StatusURL, code)
		}
		if got.State != "done" {
			return fmt.Sprintf("state %s, erased %d", got.State, got.Erased)
		}
		return ""
	})
	if got.Erased != alice {
		t.Fatalf("erasure done with erased %d, want %d", got.Erased, alice)
	}
	var un erasureAnswer
	eventually(t, 30*time.Second, "the unknown subject's erasure done", func() string {
		s.call(s.keyA, http.MethodGet, s.gatewayURL+"/v1/erasures/"+unknown.ID, "", "", &un)
		if un.State != "done" {
			return "state " + un.State
		}
		return ""
	})
	if un.Erased != 0 {
		t.Fatalf("unknown subject erased %d, want 0", un.Erased)
	}
	if code := s.call(s.keyB, http.MethodGet, s.gatewayURL+req.StatusURL, "", "", nil); code != http.StatusNotFound {
		t.Fatalf("another tenant reads the erasure: %d", code)
	}

	check := func(when string) {
		t.Helper()
		if n := s.total(s.keyA, w.stats("")); n != others {
			t.Fatalf("%s: stats total %d, want %d", when, n, others)
		}
		if n := s.total(s.keyA, w.stats("&subject=alice@example.com")); n != 0 {
			t.Fatalf("%s: alice's stats %d", when, n)
		}
		for q, n := range before {
			if got := s.total(s.keyA, w.stats(q)); got != n {
				t.Fatalf("%s: stats %s changed from %d to %d", when, q, n, got)
			}
		}
		if ids := s.searchIDs(s.keyA, "subject=alice@example.com"); len(ids) != 0 {
			t.Fatalf("%s: search finds %d of alice's events", when, len(ids))
		}
		if code := s.call(s.keyA, http.MethodGet, s.queryURL+"/v1/events/alice-04242", "", "", nil); code != http.StatusNotFound {
			t.Fatalf("%s: GET alice-04242: %d", when, code)
		}
		if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND external_id LIKE 'alice-%' AND deleted_at IS NOT NULL AND data IS NULL AND subject IS NULL`, s.tenantA); n != alice {
			t.Fatalf("%s: erased rows without payload %d, want %d", when, n, alice)
		}
		if n := s.chRawCount("tenant_id = ? AND subject = 'alice@example.com'", s.tenantA); n != 0 {
			t.Fatalf("%s: %d ClickHouse rows (read without FINAL) still hold the erased subject", when, n)
		}
		if n := s.chRawCount("tenant_id = ? AND subject = 'alice@example.com' AND is_deleted = 0", s.tenantB); n != 500 {
			t.Fatalf("%s: tenant B's ClickHouse rows with the subject %d, want 500", when, n)
		}
		// Tenant B's events of the same subject and ids are untouched.
		if n := s.total(s.keyB, w.stats("&subject=alice@example.com")); n != 500 {
			t.Fatalf("%s: tenant B's stats %d, want 500", when, n)
		}
		if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND deleted_at IS NULL AND data IS NOT NULL`, s.tenantB); n != 500 {
			t.Fatalf("%s: tenant B's live rows %d, want 500", when, n)
		}
	}
	eventually(t, 2*time.Minute, "the tombstones applied", func() string {
		if n := s.total(s.keyA, w.stats("")); n != others {
			return fmt.Sprintf("stats total %d", n)
		}
		if n := s.pgCount(`SELECT count(*) FROM events WHERE tenant_id = $1 AND deleted_at IS NOT NULL`, s.tenantA); n != alice {
			return fmt.Sprintf("deleted rows %d", n)
		}
		// The subject leaves ClickHouse's rows in the projector's write of
		// the tombstones' batch, just after the tombstone rows appear.
		if n := s.chRawCount("tenant_id = ? AND subject = 'alice@example.com'", s.tenantA); n != 0 {
			return fmt.Sprintf("%d ClickHouse rows still hold the subject", n)
		}
		return ""
	})
	check("after the erasure")
	if n := s.audit(s.tenantA, "erasure.request", req.ID); n != 1 {
		t.Fatalf("audit entries of the erasure: %d", n)
	}
	if n := s.pgCount(`SELECT count(*) FROM erasures WHERE id = $1 AND subject IS NULL AND state = 'done'`, req.ID); n != 1 {
		t.Fatal("a done erasure must forget the subject")
	}

	s.stopProjector()
	s.replay("postgres")
	s.replay("clickhouse")
	check("after both read models were dropped and replayed")
}

// An erasure requested while the projector lags (here: stopped) waits until
// the projector has stored every event accepted before it, instead of
// reading an incomplete list of ids; then it is done with the exact count.
func TestSubjectErasureWaitsForTheProjectorAndMissesNoAcceptedEvent(t *testing.T) {
	s := startStack(t)
	w := newWindow()
	s.stopProjector()
	var events []map[string]any
	for i := range 300 {
		subject := "dana"
		if i%3 == 0 {
			subject = "eve"
		}
		events = append(events, map[string]any{"id": fmt.Sprintf("ev-%03d", i), "type": "t", "subject": subject, "time": w.at(i)})
	}
	s.ingest(s.keyA, events)
	var req erasureAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/erasures", "application/json", `{"subject":"dana"}`, &req); code != http.StatusAccepted {
		t.Fatalf("POST /v1/erasures: %d", code)
	}
	// The worker (polling every 200ms) claims it, then waits for the stopped
	// projector: running with nothing erased, never further.
	var got erasureAnswer
	eventually(t, time.Minute, "the erasure claimed", func() string {
		s.call(s.keyA, http.MethodGet, s.gatewayURL+req.StatusURL, "", "", &got)
		if got.State != "running" {
			return "state " + got.State
		}
		return ""
	})
	if got.Erased != 0 {
		t.Fatalf("with the projector stopped: %+v, want running with 0", got)
	}
	s.proj.Start()
	waitReady(t, s.projURL, s.proj)
	eventually(t, 2*time.Minute, "the erasure done", func() string {
		s.call(s.keyA, http.MethodGet, s.gatewayURL+req.StatusURL, "", "", &got)
		if got.State != "done" {
			return fmt.Sprintf("state %s, erased %d", got.State, got.Erased)
		}
		return ""
	})
	if got.Erased != 200 {
		t.Fatalf("erased %d, want 200", got.Erased)
	}
	eventually(t, time.Minute, "only eve's events left", func() string {
		if n := s.total(s.keyA, w.stats("")); n != 100 {
			return fmt.Sprintf("stats total %d", n)
		}
		if n := s.total(s.keyA, w.stats("&subject=eve")); n != 100 {
			return fmt.Sprintf("eve's total %d", n)
		}
		return ""
	})
}
