package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// postResult is one POST /v1/events as the client saw it.
type postResult struct {
	status int
	answer ingestAnswer
	err    error // transport error
}

func post(url, key string, body string) postResult {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return postResult{err: err}
	}
	defer resp.Body.Close()
	r := postResult{status: resp.StatusCode}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r.answer); err != nil {
		r.err = fmt.Errorf("answer %d %q: %w", resp.StatusCode, b, err)
	}
	return r
}

// SIGTERM to the gateway binary while a request's produce is held by a
// stalled broker (a private one, SIGSTOPped): /readyz answers 503 naming
// shutdown while the listener still serves, then the listener closes with
// the request still in flight; once the broker runs again the request
// completes 200 with every event accepted (no transport error), the process
// exits 0, and the topic holds every event.
func TestGatewaySIGTERMWithAProduceInFlightFinishesIt(t *testing.T) {
	baseURL, rds := testenv.PostgresURL(t), testenv.RedisAddr(t)
	id := randomHex(t, 4)
	pgURL := migratetest.PrivatePostgres(t, baseURL, "e2e_"+id)
	pool, err := pgxpool.New(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	key := tenantKey(t, pool, "sd-"+id)
	kafka := testenv.StartKafka(t)

	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	topic := "e2e-sd-" + id
	const delay = 10 * time.Second // shutdown-delay: readiness fails this long before the listener closes
	gw := testenv.Spawn(t, testenv.Build(t, "services/gateway"), "-postgres-url", pgURL, "-kafka-brokers", kafka.Brokers,
		"-kafka-topic", topic, "-kafka-dlq-topic", topic+"-dlq", "-kafka-partitions", "1", "-kafka-replication-factor", "1",
		"-kafka-ensure-topics=true", "-kafka-delivery-timeout", "2m", "-redis-addr", rds, "-redis-key-prefix", topic+":",
		"-gateway-addr", fmt.Sprintf("127.0.0.1:%d", port), "-health-timeout", "1s", "-erasure-projector-group", "",
		"-shutdown-delay", delay.String(), "-log-format", "text")
	expectReadiness(t, gw, base, http.StatusOK)
	if r := post(base, key, `[{"id":"warm-up","type":"t"}]`); r.err != nil || r.status != http.StatusOK {
		t.Fatalf("warm-up request: %d %v", r.status, r.err)
	}

	kafka.Pause()
	const n = 100
	var events []string
	for i := range n {
		events = append(events, fmt.Sprintf(`{"id":"inflight-%03d","type":"t","data":{"i":%d}}`, i, i))
	}
	inflight := make(chan postResult, 1)
	go func() { inflight <- post(base, key, "["+strings.Join(events, ",")+"]") }()
	waitMetric(t, gw, base, "pulsestream_gateway_producer_buffered_bytes", func(v float64) bool { return v > 0 })

	exited := make(chan error, 1)
	go func() { exited <- gw.Signal(syscall.SIGTERM, 2*time.Minute) }()
	// Readiness fails (naming shutdown) while the listener still answers.
	deadline := time.Now().Add(delay)
	for {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: transport error before readiness reported the shutdown: %v", err)
		}
		var body struct{ Failing []string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && slices.Contains(body.Failing, "shutdown") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not report the shutdown within the shutdown delay (%d %v)", resp.StatusCode, body.Failing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Until the listener closes (the delay over, the server draining), every
	// answer is that 503; the broker stays stalled, so the request is still in
	// flight when the drain begins.
	for {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			break // the listener is closed
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz answered %d during the shutdown delay", resp.StatusCode)
		}
		if time.Now().After(deadline.Add(readinessBound)) {
			t.Fatal("the listener is still open long after the shutdown delay")
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case r := <-inflight:
		t.Fatalf("the in-flight request ended while its produce was held: %d %v", r.status, r.err)
	default:
	}

	kafka.Resume()
	r := <-inflight
	if r.err != nil || r.status != http.StatusOK || r.answer.Accepted != n {
		t.Fatalf("in-flight request across SIGTERM: %d, %d accepted, %v; log:\n%s", r.status, r.answer.Accepted, r.err, gw.Log(30))
	}
	if err := <-exited; err != nil {
		t.Fatalf("gateway exit after SIGTERM: %v; log:\n%s", err, gw.Log(30))
	}
	if got := topicIDs(t, kafka.Brokers, topic, n+1); len(got) != n+1 {
		t.Fatalf("the topic holds %d distinct events, want %d", len(got), n+1)
	}
}

// waitMetric polls the process's /metrics until the named sample satisfies ok.
func waitMetric(t *testing.T, p *testenv.Proc, base, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(readinessBound)
	for time.Now().Before(deadline) {
		if v, found := metricValue(base, name); found && ok(v) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("metric %s never reached the wanted value; log:\n%s", name, p.Log(30))
}

func metricValue(base, name string) (float64, bool) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			return v, err == nil
		}
	}
	return 0, false
}

// topicIDs reads want records of topic (or what arrives within a minute) and
// returns the distinct event ids in their keys.
func topicIDs(t *testing.T, brokers, topic string, want int) map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := map[string]bool{}
	for read := 0; read < want && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			read++
			ids[string(r.Key)] = true
		})
	}
	return ids
}
