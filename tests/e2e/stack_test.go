package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// stack is the three binaries (gateway, projector, query), built from their
// main packages and run as processes on the shared servers, with a private PostgreSQL schema and ClickHouse database (a replay
// with --drop empties whole tables), a private topic, groups and Redis prefix.
type stack struct {
	t                    *testing.T
	pool                 *pgxpool.Pool
	ch                   driver.Conn // the private ClickHouse database
	tenantA, tenantB     string
	keyA, keyB           string
	gatewayURL, queryURL string
	consoleURL           string // the query service's web console
	gateway, proj, query *testenv.Proc
	projURL              string
	projBin              string
	projArgs             []string
	topic, brokers       string // the private event topic and its brokers
	// The binaries and flags (all but the listen addresses) of the gateway
	// and query replicas, so a test can start more of them.
	gatewayBin, queryBin   string
	gatewayArgs, queryArgs []string
	redisPrefix            string // the gateways' redis-key-prefix
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func startStack(t *testing.T) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{})
}

// stackOptions vary a stack: another broker (a private one a test may
// kill), extra gateway flags, no query service (a test reading the
// databases directly), no projector (a benchmark of the gateway alone).
type stackOptions struct {
	brokers     string // default: the shared broker
	gatewayArgs []string
	// commonArgs go to every service (e.g. the tracing settings).
	commonArgs  []string
	projArgs    []string // extra projector flags (its replays get them too)
	noQuery     bool
	noProjector bool
}

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	baseURL, rds, brokers, chAddr := testenv.PostgresURL(t), testenv.RedisAddr(t), testenv.KafkaBrokers(t), testenv.ClickHouseAddr(t)
	if o.brokers != "" {
		brokers = o.brokers
	}
	id := randomHex(t, 4)
	pgURL := migratetest.PrivatePostgres(t, baseURL, "e2e_"+id)
	chDB := "e2e_" + id
	migratetest.PrivateClickHouse(t, chAddr, chDB)

	s := &stack{t: t, tenantA: "era-" + id, tenantB: "erb-" + id}
	var err error
	s.pool, err = pgxpool.New(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	s.ch, err = clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: chDB}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.ch.Close() })
	s.keyA, s.keyB = tenantKey(t, s.pool, s.tenantA), tenantKey(t, s.pool, s.tenantB)

	topic, prefix := "e2e-"+id, "e2e-"+id+":"
	s.topic, s.brokers = topic, brokers
	s.redisPrefix = prefix
	common := []string{"-postgres-url", pgURL, "-kafka-brokers", brokers, "-kafka-topic", topic,
		"-kafka-dlq-topic", topic + "-dlq", "-kafka-partitions", "3", "-kafka-replication-factor", "1",
		"-shutdown-delay", "0s", "-log-format", "text"}
	common = append(common, o.commonArgs...)
	chFlags := []string{"-clickhouse-addr", chAddr, "-clickhouse-protocol", testenv.ClickHouseProtocol(), "-clickhouse-database", chDB}
	pp, cp := testenv.FreePort(t), testenv.FreePort(t)
	s.consoleURL = fmt.Sprintf("http://127.0.0.1:%d", cp)
	s.gatewayBin = testenv.Build(t, "services/gateway")
	s.gatewayArgs = append(append(common[:len(common):len(common)], "-kafka-ensure-topics=true",
		"-redis-addr", rds, "-redis-key-prefix", prefix, "-erasure-poll-interval", "200ms",
		"-erasure-projector-group", topic+"-pg", "-quarantine-topic", topic+"-quarantine", "-quarantine-group", topic+"-quarantine"), o.gatewayArgs...)
	s.gatewayURL, s.gateway = s.spawnGateway()
	s.projBin = testenv.Build(t, "services/projector")
	s.projArgs = append(append(common[:len(common):len(common)], chFlags...),
		"-projector-group-postgres", topic+"-pg", "-projector-group-clickhouse", topic+"-ch")
	s.projArgs = append(s.projArgs, o.projArgs...)
	s.projURL = fmt.Sprintf("http://127.0.0.1:%d", pp)
	if !o.noProjector {
		s.proj = testenv.Spawn(t, s.projBin, append(s.projArgs[:len(s.projArgs):len(s.projArgs)], "-projector-addr", fmt.Sprintf("127.0.0.1:%d", pp))...)
		waitReady(t, s.projURL, s.proj)
	}
	if !o.noQuery {
		s.queryBin = testenv.Build(t, "services/query")
		s.queryArgs = append(append(append([]string{"-postgres-url", pgURL}, chFlags...),
			"-kafka-brokers", brokers, "-kafka-topic", topic, "-kafka-dlq-topic", topic+"-dlq",
			"-read-model-groups", "postgres="+topic+"-pg,clickhouse="+topic+"-ch",
			"-redis-addr", rds, "-markers-prefix", prefix, "-cursor-key", randomHex(t, 32),
			"-shutdown-delay", "0s", "-log-format", "text",
			// No e2e test is about the query timeout (services/query tests
			// it): the shared engine runs one statement at a time, and a
			// loaded machine can hold a query past the 5 s default.
			"-query-timeout", "1m"), o.commonArgs...)
		s.queryURL, s.query = s.spawnQuery(cp)
	}
	testenv.DeleteTopicsAtCleanup(t, brokers, topic, topic+"-dlq", topic+"-quarantine")
	// A failed test shows what each process saw (before they are killed):
	// a failure seen once under load is explained by the logs or not at all.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range []struct {
			name string
			proc *testenv.Proc
		}{{"gateway", s.gateway}, {"projector", s.proj}, {"query", s.query}} {
			if p.proc != nil {
				t.Logf("%s log (last 60 lines):\n%s", p.name, p.proc.Log(60))
			}
		}
	})
	return s
}

// spawnGateway starts one more gateway replica of the stack on a free port
// and returns its URL once it is ready.
func (s *stack) spawnGateway() (string, *testenv.Proc) {
	s.t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(s.t))
	p := testenv.Spawn(s.t, s.gatewayBin, append(s.gatewayArgs[:len(s.gatewayArgs):len(s.gatewayArgs)], "-gateway-addr", addr)...)
	waitReady(s.t, "http://"+addr, p)
	return "http://" + addr, p
}

// spawnQuery starts one more query replica of the stack (public and admin
// listeners on free ports, the console on consolePort, 0: a free one) and
// returns its public URL once it is ready.
func (s *stack) spawnQuery(consolePort int) (string, *testenv.Proc) {
	s.t.Helper()
	if consolePort == 0 {
		consolePort = testenv.FreePort(s.t)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(s.t))
	p := testenv.Spawn(s.t, s.queryBin, append(s.queryArgs[:len(s.queryArgs):len(s.queryArgs)],
		"-http-addr", addr, "-admin-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(s.t)),
		"-console-addr", fmt.Sprintf("127.0.0.1:%d", consolePort))...)
	waitReady(s.t, "http://"+addr, p)
	return "http://" + addr, p
}

// tenantKey creates tenant (rate high enough for the test, retention long
// enough for its backdated events) and returns a key with the ingest and
// query scopes.
func tenantKey(t *testing.T, pool *pgxpool.Pool, tenant string) string {
	t.Helper()
	rate, retention := 100000, 3650
	tn := tenancytest.New(t, pool, tenant, tenancy.TenantSettings{RateLimitPerSec: &rate, RateLimitBurst: &rate, RetentionDays: &retention})
	return tn.Key(tenancy.ScopeIngest, tenancy.ScopeQuery).Key
}

func waitReady(t *testing.T, base string, p *testenv.Proc) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 90s; log:\n%s", base, p.Log(40))
}

// call sends one request with key and decodes the JSON answer into out.
func (s *stack) call(key, method, url, contentType, body string, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
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

// eventually polls check until it returns "" or within runs out.
func eventually(t *testing.T, within time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: still %s after %s", what, last, within)
}

// ingest sends events (NDJSON) with key and requires every one accepted.
func (s *stack) ingest(key string, events []map[string]any) {
	s.t.Helper()
	var b bytes.Buffer
	for _, e := range events {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	var ans ingestAnswer
	if code := s.call(key, http.MethodPost, s.gatewayURL+"/v1/events", "application/x-ndjson", b.String(), &ans); code != http.StatusOK || ans.Accepted != len(events) {
		s.t.Fatalf("ingest of %d events: %d, accepted %d duplicate %d rejected %d", len(events), code, ans.Accepted, ans.Duplicate, ans.Rejected)
	}
}

// replay runs `projector replay --sink sink --drop` with the stack's settings
// (the running projector must be stopped: a replay needs an empty group).
func (s *stack) replay(sink string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.projBin, append([]string{"replay", "--sink", sink, "--drop"}, s.projArgs...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("projector replay --sink %s: %v\n%s", sink, err, out)
	}
}

// stop sends SIGTERM to every process and requires a clean exit.
func (s *stack) stop() {
	s.t.Helper()
	for _, p := range []*testenv.Proc{s.gateway, s.query, s.proj} {
		if p == nil {
			continue
		}
		if err := p.Signal(syscall.SIGTERM, 60*time.Second); err != nil {
			s.t.Errorf("exit after SIGTERM: %v; log:\n%s", err, p.Log(20))
		}
	}
}

func (s *stack) stopProjector() {
	s.t.Helper()
	if err := s.proj.Signal(syscall.SIGTERM, 60*time.Second); err != nil {
		s.t.Fatalf("projector exit: %v\n%s", err, s.proj.Log(20))
	}
}

type ingestAnswer struct {
	Accepted, Duplicate, Rejected int
	Results                       []struct {
		ID, Status, Code string
		Warnings         []struct{ Code string }
	}
}

type searchAnswer struct {
	Events []struct {
		ID, Type, Subject string
		Data              map[string]any
	}
	NextCursor string `json:"next_cursor"`
}

type statsAnswer struct {
	Total          int64
	UniqueSubjects int64 `json:"unique_subjects"`
	TopTypes       []struct {
		Type  string
		Count int64
	} `json:"top_types"`
}

type erasureAnswer struct {
	ID, State string
	StatusURL string `json:"status_url"`
	Erased    int64
}
