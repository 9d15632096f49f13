package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/testenv"
)

// stack is one gateway, projector and query process with private names.
type stack struct {
	t                    *testing.T
	key                  string
	gatewayURL, queryURL string
	gateway, proj, query *testenv.Proc
}

func startStack(t *testing.T) *stack {
	t.Helper()
	pg, rds, kafka, ch := testenv.PostgresURL(t), testenv.RedisAddr(t), testenv.KafkaBrokers(t), testenv.ClickHouseAddr(t)
	id := randomHex(t, 4)
	topic, prefix := "e2e-"+id, "e2e-"+id+":"
	common := []string{"-postgres-url", pg, "-kafka-brokers", kafka, "-kafka-topic", topic,
		"-kafka-dlq-topic", topic + "-dlq", "-kafka-partitions", "3", "-kafka-replication-factor", "1",
		"-shutdown-delay", "0s", "-log-format", "text"}
	chFlags := []string{"-clickhouse-addr", ch, "-clickhouse-protocol", testenv.ClickHouseProtocol()}

	s := &stack{t: t, key: bootstrapKey(t, pg, "e2e-"+id)}
	gw, qp, pp, ap := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	s.gatewayURL = fmt.Sprintf("http://127.0.0.1:%d", gw)
	s.queryURL = fmt.Sprintf("http://127.0.0.1:%d", qp)

	s.gateway = testenv.Spawn(t, testenv.Build(t, "services/gateway"), append(common,
		"-gateway-addr", fmt.Sprintf("127.0.0.1:%d", gw), "-kafka-ensure-topics=true",
		"-redis-addr", rds, "-redis-key-prefix", prefix)...)
	waitReady(t, s.gatewayURL, s.gateway)
	s.proj = testenv.Spawn(t, testenv.Build(t, "services/projector"), append(append(common, chFlags...),
		"-projector-addr", fmt.Sprintf("127.0.0.1:%d", pp),
		"-projector-group-postgres", topic+"-pg", "-projector-group-clickhouse", topic+"-ch")...)
	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d", pp), s.proj)
	s.query = testenv.Spawn(t, testenv.Build(t, "services/query"), append(append(common[:2:2], chFlags...),
		"-http-addr", fmt.Sprintf("127.0.0.1:%d", qp), "-admin-addr", fmt.Sprintf("127.0.0.1:%d", ap),
		"-redis-addr", rds, "-markers-prefix", prefix, "-cursor-key", randomHex(t, 32),
		"-shutdown-delay", "0s", "-log-format", "text")...)
	waitReady(t, s.queryURL, s.query)
	return s
}

// bootstrapKey creates the tenant with pulsectl, the operator's CLI, and
// returns its new ingest+query key.
func bootstrapKey(t *testing.T, pgURL, tenant string) string {
	t.Helper()
	cmd := exec.Command(testenv.Build(t, "platform/cmd/pulsectl"), "bootstrap", "--tenant", tenant,
		"--format", "json", "--postgres-url", pgURL)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pulsectl bootstrap: %v", err)
	}
	var res struct {
		Key struct{ Key string } `json:"key"`
	}
	if err := json.Unmarshal(out, &res); err != nil || !strings.HasPrefix(res.Key.Key, "ps_") {
		t.Fatalf("pulsectl bootstrap printed no key (%v): %s", err, out)
	}
	return res.Key.Key
}

func waitReady(t *testing.T, base string, p *testenv.Proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 60s; log:\n%s", base, p.Log(40))
}

// call sends one request with the tenant's key and decodes the JSON answer.
func (s *stack) call(method, url, contentType, body string, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// eventually polls check until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: still %s after 60s", what, last)
}

// stop sends SIGTERM to each process and requires a clean exit.
func (s *stack) stop() {
	s.t.Helper()
	for _, p := range []*testenv.Proc{s.gateway, s.query, s.proj} {
		if err := p.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
			s.t.Errorf("exit after SIGTERM: %v; log:\n%s", err, p.Log(20))
		}
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func ndjson(events []map[string]any) string {
	var b bytes.Buffer
	for _, e := range events {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}
