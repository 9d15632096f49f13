package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// An event accepted by the gateway becomes readable by id, by search and in
// the statistics, each exactly once, whatever is sent again; the status
// endpoint follows it through both read models; a deletion through the
// gateway removes it everywhere; every process exits cleanly on SIGTERM.
func TestAcceptedEventsAreReadableExactlyOnceThroughTheQueryService(t *testing.T) {
	s := startStack(t)
	const n = 40
	var events []map[string]any
	for i := range n {
		events = append(events, map[string]any{
			"id": fmt.Sprintf("evt-%03d", i), "type": []string{"page.viewed", "order.placed"}[i%2],
			"source": "e2e", "subject": fmt.Sprintf("user-%d", i%7), "data": map[string]any{"n": i},
		})
	}
	bad := map[string]any{"id": "bad-1", "source": "e2e"} // no type

	var first ingestAnswer
	if code := s.call(s.keyA, "POST", s.gatewayURL+"/v1/events", "application/x-ndjson", ndjson(append(events, bad)), &first); code != http.StatusMultiStatus {
		t.Fatalf("first batch: status %d, want 207: %+v", code, first)
	}
	if first.Accepted != n || first.Rejected != 1 || first.Results[n].Code != "invalid_schema" {
		t.Fatalf("first batch: %+v", first)
	}
	var again ingestAnswer
	if code := s.call(s.keyA, "POST", s.gatewayURL+"/v1/events", "application/json", jsonArray(events[:10]), &again); code != http.StatusOK || again.Duplicate != 10 {
		t.Fatalf("resent 10: status %d, %+v; want 200 with 10 duplicates", code, again)
	}

	window := url.Values{"from": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
		"to": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}
	eventually(t, time.Minute, "every event projected", func() string {
		var st statsAnswer
		s.call(s.keyA, "GET", s.queryURL+"/v1/stats?"+window.Encode()+"&interval=hour", "", "", &st)
		if st.Total != n {
			return fmt.Sprintf("total %d of %d in ClickHouse", st.Total, n)
		}
		var page searchAnswer
		s.call(s.keyA, "GET", s.queryURL+"/v1/events?limit=1000", "", "", &page)
		if len(page.Events) != n {
			return fmt.Sprintf("%d of %d in PostgreSQL", len(page.Events), n)
		}
		return ""
	})

	var st statsAnswer
	s.call(s.keyA, "GET", s.queryURL+"/v1/stats?"+window.Encode()+"&interval=minute", "", "", &st)
	if st.Total != n || st.UniqueSubjects != 7 || len(st.TopTypes) != 2 || st.TopTypes[0].Count != n/2 {
		t.Fatalf("stats: %+v, want %d events, 7 subjects, 2 types of %d", st, n, n/2)
	}
	var filtered searchAnswer
	s.call(s.keyA, "GET", s.queryURL+"/v1/events?type=order.placed&"+url.Values{"data": {`{"n":7}`}}.Encode(), "", "", &filtered)
	if len(filtered.Events) != 1 || filtered.Events[0].ID != "evt-007" {
		t.Fatalf("search type+data: %+v, want evt-007 alone", filtered)
	}
	var status struct{ State string }
	if code := s.call(s.keyA, "GET", s.queryURL+"/v1/events/evt-003/status", "", "", &status); code != http.StatusOK || status.State != "projected" {
		t.Fatalf("status of evt-003: %d %+v, want projected", code, status)
	}
	if code := s.call(s.keyA, "GET", s.queryURL+"/v1/events/bad-1", "", "", nil); code != http.StatusNotFound {
		t.Fatalf("the rejected event: %d, want 404", code)
	}

	if code := s.call(s.keyA, "DELETE", s.gatewayURL+"/v1/events/evt-003", "", "", nil); code != http.StatusAccepted {
		t.Fatalf("DELETE: %d, want 202", code)
	}
	eventually(t, time.Minute, "deleted event gone", func() string {
		if code := s.call(s.keyA, "GET", s.queryURL+"/v1/events/evt-003", "", "", nil); code != http.StatusNotFound {
			return fmt.Sprintf("lookup %d", code)
		}
		var st statsAnswer
		s.call(s.keyA, "GET", s.queryURL+"/v1/stats?"+window.Encode()+"&interval=hour", "", "", &st)
		if st.Total != n-1 {
			return fmt.Sprintf("stats total %d", st.Total)
		}
		return ""
	})
	s.stop()
}

func jsonArray(events []map[string]any) string {
	b, _ := json.Marshal(events)
	return string(b)
}

func ndjson(events []map[string]any) string {
	var b []byte
	for _, e := range events {
		line, _ := json.Marshal(e)
		b = append(append(b, line...), '\n')
	}
	return string(b)
}
