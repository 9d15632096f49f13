package app

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
)

func init() { gin.SetMode(gin.ReleaseMode) }

func newFakeKafka(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// unitGateway is a gateway on kfake with in-memory Redis fakes.
func unitGateway(t testing.TB, mod func(*Config)) (*testGateway, *kfake.Cluster) {
	t.Helper()
	c := newFakeKafka(t)
	g := startGateway(t, c.ListenAddrs(), "events.unit", deps{auth: testAuth(), markers: newMemMarkers(), limiter: &memLimiter{}}, mod)
	return g, c
}

func TestBatchAnswersEveryEventInOrderAndStoresOnlyValidOnes(t *testing.T) {
	g, _ := unitGateway(t, nil)
	a := g.post(t, keyA, "application/json", batch(
		event("e1", "t", `{"n":1}`),
		`{"id":"e2"}`,
		event("e3", "t", `[1,2]`),
		`{"id":"e4","type":"t","Bad":1}`,
		event("e3", "t", `"again"`),
	))
	if a.status != http.StatusMultiStatus {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	want := []string{"accepted", "rejected:invalid_schema", "accepted", "rejected:invalid_schema", "rejected:duplicate_in_request"}
	if a.body.Accepted != 2 || a.body.Rejected != 3 || len(a.body.Results) != len(want) {
		t.Fatalf("body %s", a.raw)
	}
	for i, r := range a.body.Results {
		got := r.Status
		if r.Code != "" {
			got += ":" + r.Code
		}
		if got != want[i] || r.Index != i {
			t.Errorf("result %d = %s (%+v), want %s", i, got, r, want[i])
		}
		if r.Status == "accepted" && (r.IngestID == "" || r.Partition == nil || r.Offset == nil) {
			t.Errorf("accepted result %d lacks ingest id/partition/offset: %+v", i, r)
		}
	}
	if a.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	for pair, want := range map[[2]string]float64{{"accepted", ""}: 2, {"rejected", "invalid_schema"}: 2, {"rejected", "duplicate_in_request"}: 1} {
		if got := eventsCounted(t, g, pair[0], pair[1]); got != want {
			t.Errorf("events counted as %v: %v, want %v", pair, got, want)
		}
	}
	recs := readRecords(t, g.brokers, g.topic, 2)
	if len(recs) != 2 {
		t.Fatalf("%d records in the topic, want 2", len(recs))
	}
	for _, r := range recs {
		var ev schemas.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != "tenant-a/"+ev.ID || ev.TenantID != "tenant-a" || ev.Version != 1 || ev.ContentHash == "" {
			t.Errorf("record %s: %+v", r.Key, ev)
		}
		hdrs := map[string]string{}
		for _, h := range r.Headers {
			hdrs[h.Key] = string(h.Value)
		}
		if hdrs[schemas.HeaderVersion] != "1" || hdrs[schemas.HeaderKind] != schemas.KindEvent {
			t.Errorf("headers %v", hdrs)
		}
	}
}

func TestRepeatIsDuplicateAndChangedContentIsConflict(t *testing.T) {
	g, _ := unitGateway(t, nil)
	body := batch(event("d1", "t", `1`), event("d2", "t", `2`))
	if a := g.post(t, keyA, "application/json", body); a.status != 200 || a.body.Accepted != 2 {
		t.Fatalf("first: %d %s", a.status, a.raw)
	}
	a := g.post(t, keyA, "application/json", body)
	if a.status != 200 || a.body.Duplicate != 2 || a.body.Results[0].Partition == nil {
		t.Fatalf("repeat: %d %s", a.status, a.raw)
	}
	a = g.post(t, keyA, "application/json", batch(event("d1", "t", `"changed"`)))
	if a.status != 400 || a.body.Results[0].Code != ingest.CodeConflict {
		t.Fatalf("conflict: %d %s", a.status, a.raw)
	}
	// Another tenant's same id is its own event.
	if a := g.post(t, keyB, "application/json", body); a.body.Accepted != 2 {
		t.Fatalf("tenant b: %s", a.raw)
	}
	if n := topicRecords(t, g.brokers, g.topic); n != 4 {
		t.Fatalf("%d records, want 4", n)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestBadRequestsGetTheirFourHundredAndStoreNothing(t *testing.T) {
	g, _ := unitGateway(t, nil)
	bomb := gz(make([]byte, 200<<20)) // 200 MiB of zeros, ~200 KiB compressed
	big := []byte(`[` + event("big", "t", `"`+strings.Repeat("x", 20<<20)+`"`) + `]`)
	deep := event("deep", "t", strings.Repeat("[", 200)+strings.Repeat("]", 200))
	cases := []struct {
		name   string
		ct     string
		body   []byte
		hdr    []string
		status int
		code   string
	}{
		{"malformed json", "application/json", []byte(`[{"id":"a","type":"t"},{"id":`), nil, 400, "malformed_json"},
		{"wrong types", "application/json", []byte(`{"id":5,"type":["t"]}`), nil, 400, "invalid_schema"},
		{"20 MiB body", "application/json", big, nil, 413, "request_too_large"},
		{"gzip bomb", "application/json", bomb, []string{"Content-Encoding", "gzip"}, 413, "request_too_large"},
		{"not gzip", "application/json", []byte("{}"), []string{"Content-Encoding", "gzip"}, 400, "invalid_gzip"},
		{"brotli", "application/json", []byte("{}"), []string{"Content-Encoding", "br"}, 415, "unsupported_content_encoding"},
		{"invalid utf-8", "application/json", []byte("{\"id\":\"a\xc3\x28\",\"type\":\"t\"}"), nil, 400, "invalid_utf8"},
		{"deeply nested", "application/json", []byte(deep), nil, 400, "nesting_too_deep"},
		{"empty array", "application/json", []byte(`[]`), nil, 400, "empty_request"},
		{"empty body", "application/json", nil, nil, 400, "empty_request"},
		{"wrong media type", "text/plain", []byte(`{}`), nil, 415, "unsupported_media_type"},
		{"no media type", "", []byte(`{}`), nil, 415, "unsupported_media_type"},
		{"too many events", "application/json", batch(strings.Split(strings.Repeat(event("x", "t", "1")+"\n", 10001), "\n")[:10001]...), nil, 413, "too_many_events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			a := g.post(t, keyA, c.ct, c.body, c.hdr...)
			if a.status != c.status || a.errorCode() != c.code {
				t.Fatalf("got %d %s, want %d %s", a.status, truncate(a.raw), c.status, c.code)
			}
			if a.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
	a := g.post(t, keyA, "application/json", []byte(`  [{"id":"a","type":"t"},{"id":]`))
	var eb struct {
		Error struct{ Offset *int64 } `json:"error"`
	}
	if json.Unmarshal(a.raw, &eb); eb.Error.Offset == nil || *eb.Error.Offset != 32 {
		t.Fatalf("malformed JSON must give the byte offset: %s", a.raw)
	}
	if n := topicRecords(t, g.brokers, g.topic); n != 0 {
		t.Fatalf("%d records reached Kafka, want 0", n)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func TestGzipBodiesAndEveryMediaTypeAreAccepted(t *testing.T) {
	g, _ := unitGateway(t, nil)
	cases := []struct {
		ct   string
		body []byte
		hdr  []string
		n    int
	}{
		{"application/json", []byte(event("m1", "t", "1")), nil, 1},
		{"application/json; charset=utf-8", batch(event("m2", "t", "1"), event("m3", "t", "1")), nil, 2},
		{"application/cloudevents+json", []byte(event("m4", "t", "1")), nil, 1},
		{"application/cloudevents-batch+json", batch(event("m5", "t", "1")), nil, 1},
		{"application/x-ndjson", []byte(event("m6", "t", "1") + "\n" + event("m7", "t", "{}") + "\n"), nil, 2},
		{"application/json", gz(batch(event("m8", "t", "1"))), []string{"Content-Encoding", "gzip"}, 1},
		{"application/json", []byte(`{"a":1}`), []string{"Ce-Specversion", "1.0", "Ce-Id", "m9", "Ce-Type", "t", "Ce-Source", "/s"}, 1},
	}
	for _, c := range cases {
		a := g.post(t, keyA, c.ct, c.body, c.hdr...)
		if a.status != 200 || a.body.Accepted != c.n {
			t.Errorf("%s %v: %d %s", c.ct, c.hdr, a.status, a.raw)
		}
	}
}

func TestAuthFailuresAre401WithChallengeOr403(t *testing.T) {
	g, _ := unitGateway(t, nil)
	body := []byte(event("x", "t", "1"))
	for _, key := range []string{"", "nope"} {
		a := g.post(t, key, "application/json", body)
		if a.status != 401 || a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("key %q: %d %v", key, a.status, a.header)
		}
	}
	req, _ := http.NewRequest("POST", g.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("X-API-Key", keyA)
	req.Header.Set("Content-Type", "application/json")
	if a := do(t, req); a.status != 200 {
		t.Errorf("X-API-Key: %d %s", a.status, a.raw)
	}
	if a := g.post(t, keyNoScope, "application/json", body); a.status != 403 {
		t.Errorf("query-only key: %d %s", a.status, a.raw)
	}
}

func TestRequestIDIsKeptWhenSaneAndReplacedOtherwise(t *testing.T) {
	g, _ := unitGateway(t, nil)
	get := func(id string) string {
		req, _ := http.NewRequest("GET", g.url+"/livez", nil)
		if id != "" {
			req.Header["X-Request-Id"] = []string{id}
		}
		return do(t, req).header.Get("X-Request-Id")
	}
	if got := get("abc-123.X"); got != "abc-123.X" {
		t.Errorf("sane id replaced: %q", got)
	}
	for _, bad := range []string{"has space", "tab\there", strings.Repeat("x", 129), "ünï"} {
		if got := get(bad); got == bad || got == "" {
			t.Errorf("id %q: got %q", bad, got)
		}
	}
	if got := get(""); got == "" {
		t.Error("no generated id")
	}
}

func TestRateLimitedTenantGets429WithHeadersAndOthersAreUnaffected(t *testing.T) {
	c := newFakeKafka(t)
	auth := testAuth()
	auth.keys[keyA] = principal("tenant-a", 10, "ingest")
	auth.keys[keyB] = principal("tenant-b", 10, "ingest")
	g := startGateway(t, c.ListenAddrs(), "events.rl", deps{auth: auth, markers: newMemMarkers(), limiter: &memLimiter{}}, nil)
	var evs []string
	for i := 0; i < 8; i++ {
		evs = append(evs, event(fmt.Sprint("r", i), "t", "1"))
	}
	a := g.post(t, keyA, "application/json", batch(evs...))
	if a.status != 200 || a.header.Get("RateLimit-Limit") != "10" || a.header.Get("RateLimit-Remaining") != "2" || a.header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("first: %d %v", a.status, a.header)
	}
	a = g.post(t, keyA, "application/json", batch(evs[:3]...))
	if a.status != 429 || a.header.Get("Retry-After") == "" || a.header.Get("RateLimit-Reset") == "" || a.errorCode() != "rate_limited" {
		t.Fatalf("second: %d %v %s", a.status, a.header, a.raw)
	}
	if a := g.post(t, keyB, "application/json", batch(evs...)); a.status != 200 {
		t.Fatalf("tenant b: %d %s", a.status, a.raw)
	}
}

func TestRedisDownKeepsIngestionGoingAndIsCounted(t *testing.T) {
	c := newFakeKafka(t)
	auth := testAuth()
	auth.keys[keyA] = principal("tenant-a", 100, "ingest")
	g := startGateway(t, c.ListenAddrs(), "events.rd", deps{auth: auth, markers: &memMarkers{fail: true}, limiter: &memLimiter{fail: true}}, nil)
	a := g.post(t, keyA, "application/json", batch(event("rd1", "t", "1")))
	if a.status != 200 || a.body.Accepted != 1 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if got := counter(t, g, "pulsestream_gateway_redis_errors_total"); got < 3 {
		t.Fatalf("redis errors counted %v, want >= 3 (rate limit, lookup, save)", got)
	}
	resp, err := http.Get(g.url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz with Redis down: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func TestRateLimitFailClosedAnswers503(t *testing.T) {
	c := newFakeKafka(t)
	auth := testAuth()
	auth.keys[keyA] = principal("tenant-a", 10, "ingest")
	g := startGateway(t, c.ListenAddrs(), "events.fc", deps{auth: auth, markers: newMemMarkers(), limiter: &memLimiter{fail: true}},
		func(c *Config) { c.Ingest.RateLimitFailClosed = true })
	a := g.post(t, keyA, "application/json", batch(event("fc", "t", "1")))
	if a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Fatalf("%d %v", a.status, a.header)
	}
}

func counter(t testing.TB, g *testGateway, name string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// eventsCounted is pulsestream_gateway_events_total{outcome, reason}.
func eventsCounted(t testing.TB, g *testGateway, outcome, reason string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pulsestream_gateway_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["outcome"] == outcome && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestBrokerOutageAnswers503ThenRecovers drops every produce request at the
// fake broker (kfake control hook), then lets them through again: the
// gateway answers 503 + Retry-After within the delivery timeout, never 2xx,
// and ingests again without a restart.
func TestBrokerOutageAnswers503ThenRecovers(t *testing.T) {
	g, c := unitGateway(t, func(c *Config) { c.Producer.DeliveryTimeout = 2 * time.Second })
	if a := g.post(t, keyA, "application/json", batch(event("warm", "t", "1"))); a.status != 200 {
		t.Fatalf("warm-up: %d %s", a.status, a.raw)
	}
	var down atomic.Bool
	down.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if down.Load() {
			return nil, fmt.Errorf("broker down"), true // closes the connection
		}
		return nil, nil, false
	})
	start := time.Now()
	a := g.post(t, keyA, "application/json", batch(event("o1", "t", "1"), event("o2", "t", "2")))
	took := time.Since(start)
	if a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Fatalf("during outage: %d %v %s", a.status, a.header, a.raw)
	}
	// 2 s + answerMargin stays below the default delivery timeout (10 s) a
	// gateway ignoring the setting would wait.
	if took > 2*time.Second+answerMargin {
		t.Fatalf("503 took %s, delivery timeout is 2s", took)
	}
	if a.body.Results[0].Code != ingest.CodeUnavailable {
		t.Fatalf("results %s", a.raw)
	}
	down.Store(false)
	deadline := time.Now().Add(time.Minute) // a produce to the shared broker: seconds on a loaded machine
	for {
		a = g.post(t, keyA, "application/json", batch(event("o1", "t", "1"), event("o2", "t", "2")))
		if a.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// An event acknowledged during the outage (in a request answered 503
	// because another was not) is a duplicate now: stored exactly once.
	if a.status != 200 || a.body.Accepted+a.body.Duplicate != 2 {
		t.Fatalf("after outage: %d %s", a.status, a.raw)
	}
}

// TestTooFewInSyncReplicasAnswers503 has the broker answer every produce
// with the errors of a partition below min.insync.replicas (before and after
// the append): the gateway answers 503 + Retry-After with every event
// unavailable, never 2xx, whatever Kafka's reason for not acknowledging.
func TestTooFewInSyncReplicasAnswers503(t *testing.T) {
	for _, code := range []int16{kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code} {
		t.Run(kerr.ErrorForCode(code).(*kerr.Error).Message, func(t *testing.T) {
			g, c := unitGateway(t, func(c *Config) { c.Producer.DeliveryTimeout = 2 * time.Second })
			if a := g.post(t, keyA, "application/json", batch(event("warm", "t", "1"))); a.status != 200 {
				t.Fatalf("warm-up: %d %s", a.status, a.raw)
			}
			c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				req := r.(*kmsg.ProduceRequest)
				resp := req.ResponseKind().(*kmsg.ProduceResponse)
				for _, rt := range req.Topics {
					st := kmsg.NewProduceResponseTopic()
					st.Topic, st.TopicID = rt.Topic, rt.TopicID
					for _, rp := range rt.Partitions {
						sp := kmsg.NewProduceResponseTopicPartition()
						sp.Partition, sp.ErrorCode = rp.Partition, code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
			a := g.post(t, keyA, "application/json", batch(event("m1", "t", "1"), event("m2", "t", "2")))
			if a.status != 503 || a.header.Get("Retry-After") == "" {
				t.Fatalf("%d %v %s", a.status, a.header, a.raw)
			}
			for _, r := range a.body.Results {
				if r.Code != ingest.CodeUnavailable {
					t.Fatalf("results %s", a.raw)
				}
			}
		})
	}
}

func TestDeleteProducesTombstoneAndAnswers202(t *testing.T) {
	g, _ := unitGateway(t, nil)
	for i := 0; i < 2; i++ { // idempotent: same answer twice
		req, _ := http.NewRequest(http.MethodDelete, g.url+"/v1/events/order/42", nil)
		req.Header.Set("Authorization", "Bearer "+keyA)
		a := do(t, req)
		var body ingest.DeleteResponse
		_ = json.Unmarshal(a.raw, &body)
		if a.status != 202 || body.ID != "order/42" || body.StatusURL != "/v1/events/order%2F42/status" {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	}
	recs := readRecords(t, g.brokers, g.topic, 2)
	if len(recs) != 2 || string(recs[0].Key) != "tenant-a/order/42" {
		t.Fatalf("records %v", recs)
	}
	var ts schemas.Tombstone
	if err := json.Unmarshal(recs[0].Value, &ts); err != nil || ts.ID != "order/42" || ts.TenantID != "tenant-a" {
		t.Fatalf("tombstone %s: %v", recs[0].Value, err)
	}
	kind := ""
	for _, h := range recs[0].Headers {
		if h.Key == schemas.HeaderKind {
			kind = string(h.Value)
		}
	}
	if kind != schemas.KindTombstone {
		t.Fatalf("kind header %q", kind)
	}
}

// onlyReader hides the length of a body, so it is sent chunked.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestChunkedOversizedBodyIs413(t *testing.T) {
	g, _ := unitGateway(t, nil)
	body := []byte(`[` + event("big", "t", `"`+strings.Repeat("x", 11<<20)+`"`) + `]`)
	req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/events", onlyReader{bytes.NewReader(body)})
	req.Header.Set("Authorization", "Bearer "+keyA)
	req.Header.Set("Content-Type", "application/json")
	if a := do(t, req); a.status != 413 || a.errorCode() != "request_too_large" {
		t.Fatalf("%d %s", a.status, truncate(a.raw))
	}
}

func TestTenantMaxEventBytesLowersTheLimit(t *testing.T) {
	c := newFakeKafka(t)
	auth := testAuth()
	p := principal("tenant-a", 0, "ingest")
	p.Tenant.MaxEventBytes = 200
	auth.keys[keyA] = p
	g := startGateway(t, c.ListenAddrs(), "events.meb", deps{auth: auth, markers: newMemMarkers(), limiter: &memLimiter{}}, nil)
	a := g.post(t, keyA, "application/json", batch(event("small", "t", "1"), event("big", "t", `"`+strings.Repeat("x", 300)+`"`)))
	if a.status != 207 || a.body.Results[1].Code != "too_large" || a.body.Results[1].ID != "big" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a = g.post(t, keyA, "application/json", []byte(event("big", "t", `"`+strings.Repeat("x", 300)+`"`)))
	if a.status != 413 {
		t.Fatalf("single oversized event: %d %s", a.status, a.raw)
	}
}
