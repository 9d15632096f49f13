package app

import (
	"net/http"
	"slices"
	"testing"
)

func deleteEvent(t *testing.T, g *testGateway, key, id string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, g.url+"/v1/events/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return do(t, req)
}

// Every DELETE is in the audit log before its tombstone exists: when the
// entry cannot be written the answer is 503 and nothing is produced.
func TestDeleteIsAuditedFirstAndProducesNothingWhenTheAuditFails(t *testing.T) {
	c := newFakeKafka(t)
	audit := &memErasures{}
	g := startGateway(t, c.ListenAddrs(), "events.audit", deps{auth: testAuth(), markers: newMemMarkers(), limiter: &memLimiter{}, erasures: audit}, nil)
	if a := deleteEvent(t, g, keyA, "e1"); a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	audit.mu.Lock()
	audit.fail = true
	audit.mu.Unlock()
	if a := deleteEvent(t, g, keyB, "e2"); a.status != http.StatusServiceUnavailable || a.errorCode() != "unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("audit down: %d %s", a.status, a.raw)
	}
	if n := topicRecords(t, g.brokers, g.topic); n != 1 {
		t.Fatalf("records in the topic: %d, want only the audited deletion's tombstone", n)
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	if !slices.Equal(audit.deletes, []string{"tenant-a/e1"}) {
		t.Fatalf("audited deletions %v", audit.deletes)
	}
}

// A deleted id sent again, with the same or another content, is answered
// duplicate (code erased) and never produced after its tombstone; another
// tenant's event with the same id is not affected.
func TestResentDeletedIDIsADuplicateAndIsNotProduced(t *testing.T) {
	g, _ := unitGateway(t, nil)
	if a := g.post(t, keyA, "application/json", batch(event("e1", "t", `{"n":1}`))); a.status != http.StatusOK || a.body.Accepted != 1 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := deleteEvent(t, g, keyA, "e1"); a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a := g.post(t, keyA, "application/json", batch(event("e1", "t", `{"n":1}`), event("e2", "t", `{"n":2}`)))
	if a.status != http.StatusOK || a.body.Duplicate != 1 || a.body.Accepted != 1 || a.body.Results[0].Code != "erased" {
		t.Fatalf("re-send: %d %s", a.status, a.raw)
	}
	if a := g.post(t, keyA, "application/json", batch(event("e1", "other", `"changed"`))); a.status != http.StatusOK || a.body.Results[0].Status != "duplicate" {
		t.Fatalf("re-send with other content: %d %s", a.status, a.raw)
	}
	if a := g.post(t, keyB, "application/json", batch(event("e1", "t", `{"n":1}`))); a.body.Accepted != 1 {
		t.Fatalf("tenant B's e1: %d %s", a.status, a.raw)
	}
	// e1, its tombstone, e2, tenant B's e1: nothing else.
	if n := topicRecords(t, g.brokers, g.topic); n != 4 {
		t.Fatalf("records in the topic: %d, want 4", n)
	}
}

// While Redis is down (no erasure markers), a re-sent erased id is still
// answered duplicate: the gateway asks PostgreSQL which ids are deleted.
func TestResentDeletedIDIsADuplicateWhileRedisIsDown(t *testing.T) {
	c := newFakeKafka(t)
	audit := &memErasures{}
	g := startGateway(t, c.ListenAddrs(), "events.noredis", deps{auth: testAuth(), markers: &memMarkers{fail: true}, limiter: &memLimiter{}, erasures: audit}, nil)
	if a := deleteEvent(t, g, keyA, "e1"); a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a := g.post(t, keyA, "application/json", batch(event("e1", "t", `{"n":1}`), event("e2", "t", `{"n":2}`)))
	if a.status != http.StatusOK || a.body.Duplicate != 1 || a.body.Accepted != 1 || a.body.Results[0].Code != "erased" {
		t.Fatalf("re-send: %d %s", a.status, a.raw)
	}
	if n := topicRecords(t, g.brokers, g.topic); n != 2 {
		t.Fatalf("records in the topic: %d, want the tombstone and e2", n)
	}
	// PostgreSQL down as well: fail-open, the event goes to Kafka (the read
	// models refuse it there).
	audit.mu.Lock()
	audit.fail = true
	audit.mu.Unlock()
	if a := g.post(t, keyA, "application/json", batch(event("e1", "t", `{"n":1}`))); a.status != http.StatusOK || a.body.Accepted != 1 {
		t.Fatalf("both down: %d %s", a.status, a.raw)
	}
}
