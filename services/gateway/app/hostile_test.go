package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// hostileEnv is a gateway built by New (PostgreSQL keys, Redis, Kafka: the
// shared infrastructure, a fresh topic and key prefix) with short read
// timeouts, so slow clients are cut quickly.
type hostileEnv struct {
	url, addr, key string // key: an ingest key of tenant
	tenant         *tenancytest.Tenant
	topic          string
	brokers        []string
	readTimeout    time.Duration
	app            *App
	reg            *prometheus.Registry
	stop           func() // stops the gateway and waits for Run to return (also at cleanup)
}

func startHostileGateway(t *testing.T) hostileEnv {
	t.Helper()
	return startRealGateway(t, slog.New(slog.DiscardHandler), tenancy.TenantSettings{}, nil)
}

// startRealGateway runs New (real keys, Kafka, Redis, PostgreSQL) for a new
// tenant with settings, on a private topic and Redis prefix, until the test
// ends; mod adjusts the config.
func startRealGateway(t *testing.T, logger *slog.Logger, settings tenancy.TenantSettings, mod func(*Config)) hostileEnv {
	t.Helper()
	pgURL := testenv.PostgresURL(t)
	brokers := testenv.KafkaBrokers(t)
	redisAddr := testenv.RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	migratetest.Postgres(t, pgURL)
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // the tenant's admin service keeps using it
	run := randomID(t)
	tenant := tenancytest.New(t, pool, "gw-real-"+run, settings)
	key := tenant.Key(tenancy.ScopeIngest)
	cfg := Defaults()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ReadHeaderTimeout = time.Second
	cfg.HTTP.ReadTimeout = 2 * time.Second
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topic = "gw-real-" + run
	cfg.Kafka.DLQTopic = cfg.Kafka.Topic + ".dlq"
	cfg.Quarantine.Topic, cfg.Quarantine.Group = cfg.Kafka.Topic+".quarantine", cfg.Kafka.Topic+"-quarantine"
	cfg.Kafka.Partitions = 1
	cfg.Redis.Addr = redisAddr
	cfg.Postgres.URL = pgURL
	cfg.Ingest.RedisKeyPrefix = "pstest:" + run + ":"
	patientKafka(&cfg)
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := observe.NewRegistry()
	a, err := New(cfg, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteTopicsAtCleanup(t, brokers, cfg.Kafka.Topic, cfg.Kafka.DLQTopic, cfg.Quarantine.Topic) // after the gateway stops
	runCtx, cancelRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancelRun()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return hostileEnv{url: "http://" + a.Addr(), addr: a.Addr(), key: key.Key, tenant: tenant, topic: cfg.Kafka.Topic, brokers: []string{brokers},
		readTimeout: cfg.HTTP.ReadTimeout, app: a, reg: reg, stop: stop}
}

// rawAnswer is what came back on a raw connection.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
	closed bool // the server closed the connection without an answer
	// lost: neither an answer nor the server closing the connection before
	// the test's own deadline on it
	lost bool
}

// raw writes head, then body in chunks of chunk bytes every pause, and reads
// the answer (the server may answer, or close, before the body is complete).
func raw(t *testing.T, addr, head string, body []byte, chunk int, pause time.Duration) rawAnswer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		for len(body) > 0 {
			n := min(chunk, len(body))
			if _, err := c.Write(body[:n]); err != nil {
				return
			}
			body = body[n:]
			time.Sleep(pause)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return rawAnswer{lost: true}
	}
	if err != nil {
		return rawAnswer{closed: true}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a rawAnswer) errorCode() string { return answer{raw: a.body}.errorCode() }

// hostileCase is one hostile request and the answer it must get. code ""
// means net/http answered before the gateway (plain text, no JSON body):
// a malformed or oversized header block never reaches the application.
type hostileCase struct {
	name   string
	send   func(t *testing.T, e hostileEnv) rawAnswer
	status int
	code   string
	check  func(t *testing.T, a rawAnswer) // extra checks on the answer
}

func post(body []byte, hdr ...string) func(t *testing.T, e hostileEnv) rawAnswer {
	return func(t *testing.T, e hostileEnv) rawAnswer {
		var rd io.Reader = bytes.NewReader(body)
		if len(hdr) == 2 && hdr[0] == "chunked" { // a reader of unknown length: sent chunked
			rd, hdr = io.MultiReader(strings.NewReader(hdr[1])), nil
		}
		req, err := http.NewRequest(http.MethodPost, e.url+"/v1/events", rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return rawAnswer{status: resp.StatusCode, header: resp.Header, body: b}
	}
}

// rawPost sends a request whose head the Go client would refuse to write.
func rawPost(extraHead string, body []byte, chunk int, pause time.Duration) func(t *testing.T, e hostileEnv) rawAnswer {
	return func(t *testing.T, e hostileEnv) rawAnswer {
		head := fmt.Sprintf("POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n",
			e.addr, e.key, len(body), extraHead)
		return raw(t, e.addr, head, body, max(chunk, 1), pause)
	}
}

func hostileGatewayCases() []hostileCase {
	ev := func(id, data string) string { return event(id, "hostile.t", data) }
	one := func(id, data string) []byte { return []byte(ev(id, data)) }
	nested := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	resultID := func(want string) func(*testing.T, rawAnswer) {
		return func(t *testing.T, a rawAnswer) {
			if !bytes.Contains(a.body, []byte(`"id":`+fmt.Sprintf("%q", want))) {
				t.Errorf("answer does not name event %q: %s", want, truncate(a.body))
			}
		}
	}
	ulidID := func(t *testing.T, a rawAnswer) {
		if id := a.header.Get(HeaderRequestID); len(id) != 26 {
			t.Errorf("X-Request-Id %q: want a fresh ULID in place of the hostile one", id)
		}
		if a.header.Get("Set-Cookie") != "" || a.header.Get("X-Injected") != "" {
			t.Errorf("injected header came back: %v", a.header)
		}
	}
	keyShaped, _, err := tenancy.NewRawKey()
	if err != nil {
		panic(err)
	}
	return []hostileCase{
		// sizes
		{"oversized header block (80 KiB)", post(one("h1", "1"), "X-Filler", strings.Repeat("a", 80<<10)), 431, "", nil},
		{"oversized body by Content-Length (11 MiB)", post(bytes.Repeat([]byte(" "), 11<<20)), 413, "request_too_large", nil},
		{"oversized chunked body (11 MiB, no length)", post(nil, "chunked", strings.Repeat(" ", 11<<20)), 413, "request_too_large", nil},
		{"gzip bomb (200 MiB of zeros)", post(gz(make([]byte, 200<<20)), "Content-Encoding", "gzip"), 413, "request_too_large", nil},
		{"one event over the 1 MiB event limit", post(one("big", `"`+strings.Repeat("x", 1<<20)+`"`)), 413, "too_large", nil},
		// slow clients
		{"slowloris body (1 byte / 300 ms)", rawPost("", one("slow", "1"), 1, 300*time.Millisecond), 408, "request_timeout", nil},
		{"slowloris headers (never finished)", func(t *testing.T, e hostileEnv) rawAnswer {
			return raw(t, e.addr, "POST /v1/events HTTP/1.1\r\nHost: x\r\n", []byte("X-Slow: 1\r\n"), 1, 500*time.Millisecond)
		}, 0, "", func(t *testing.T, a rawAnswer) {
			if !a.closed && a.status != 400 {
				t.Errorf("want a plain 400 or the connection closed after the header read timeout, got %d", a.status)
			}
		}},
		// encodings
		{"invalid UTF-8 in an id", post([]byte("{\"specversion\":\"1.0\",\"id\":\"a\xff\xfe\",\"type\":\"t\",\"source\":\"/s\"}")), 400, "invalid_utf8", nil},
		{"overlong UTF-8 encoding of '/'", post([]byte("{\"specversion\":\"1.0\",\"id\":\"a\xc0\xaf\",\"type\":\"t\",\"source\":\"/s\"}")), 400, "invalid_utf8", nil},
		{"lone UTF-16 surrogate escape in data", post(one("surrogate", `"\ud800"`)), 400, "unstorable_value", resultID("surrogate")},
		{"raw NUL byte in a string", post([]byte("{\"specversion\":\"1.0\",\"id\":\"nul\x00\",\"type\":\"t\",\"source\":\"/s\"}")), 400, "malformed_json", nil},
		{"escaped NUL in the id", post([]byte(`{"specversion":"1.0","id":"nul\u0000id","type":"t","source":"/s"}`)), 400, "invalid_schema", nil},
		{"escaped NUL in data", post(one("nul-data", `{"k":"a\u0000b"}`)), 400, "unstorable_value", resultID("nul-data")},
		{"NUL in a header value", rawPost("X-Request-Id: a\x00b\r\n", one("nulhdr", "1"), 1<<20, 0), 400, "", nil},
		// structure
		{"deeply nested data (200 levels)", post(one("deep", nested(200))), 400, "nesting_too_deep", nil},
		{"deeply nested arrays (100k levels)", post([]byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000))), 400, "nesting_too_deep", nil},
		{"huge number in data", post(one("huge-num", `{"n":1e999999}`)), 400, "unstorable_value", resultID("huge-num")},
		{"tiny number in data", post(one("tiny-num", `{"n":1e-999999}`)), 400, "unstorable_value", resultID("tiny-num")},
		{"huge number as an extension", post([]byte(`{"specversion":"1.0","id":"huge-ext","type":"t","source":"/s","num":1e999999}`)), 400, "unstorable_value", nil},
		{"huge integer in data (400 digits)", post(one("huge-int", `{"n":`+strings.Repeat("9", 400)+`}`)), 200, "", resultID("huge-int")},
		{"number as specversion", post([]byte(`{"specversion":1e999,"id":"num-sv","type":"t","source":"/s"}`)), 400, "invalid_schema", nil},
		{"duplicate id keys: the last wins", post([]byte(`{"specversion":"1.0","id":"dup-first","id":"dup-last","type":"t","source":"/s"}`)), 200, "", resultID("dup-last")},
		{"duplicate keys inside data", post(one("dup-data", `{"a":1,"a":2}`)), 200, "", resultID("dup-data")},
		{"top-level scalar", post([]byte(`12345678901234567890123456789`)), 400, "invalid_body", nil},
		{"a batch whose ce-specversion header is not 1.0", post([]byte("["+ev("sv-hdr", "1")+"]"), "Content-Type", "application/cloudevents-batch+json", "Ce-Specversion", "__proto__"), 400, "unsupported_specversion", nil},
		// injection strings are data: accepted and stored verbatim
		{"SQL injection as id", post(one(`x'); DROP TABLE events;--`, "1")), 200, "", resultID(`x'); DROP TABLE events;--`)},
		{"ClickHouse injection as id", post(one(`x' OR 1=1 FORMAT JSON --`, "1")), 200, "", resultID(`x' OR 1=1 FORMAT JSON --`)},
		// ids as paths
		{"path traversal in a DELETE id", func(t *testing.T, e hostileEnv) rawAnswer {
			return raw(t, e.addr, fmt.Sprintf("DELETE /v1/events/..%%2F..%%2Fadmin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", e.key), nil, 1, 0)
		}, 202, "", nil},
		{"path traversal outside /v1 (unrouted)", func(t *testing.T, e hostileEnv) rawAnswer {
			return raw(t, e.addr, fmt.Sprintf("POST /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\n\r\n", e.key), nil, 1, 0)
		}, 404, "not_found", nil},
		{"control character in a DELETE id", func(t *testing.T, e hostileEnv) rawAnswer {
			return raw(t, e.addr, fmt.Sprintf("DELETE /v1/events/a%%0Db HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", e.key), nil, 1, 0)
		}, 400, "invalid_id", nil},
		// request ids
		{"request id folded onto a second line with a header", rawPost("X-Request-Id: abc\r\n Set-Cookie: evil=1\r\n", one("rid-fold", "1"), 1<<20, 0), 200, "", ulidID},
		{"request id with spaces", post(one("rid-space", "1"), HeaderRequestID, "a b"), 200, "", ulidID},
		{"request id with non-ASCII", post(one("rid-utf8", "1"), HeaderRequestID, "ünïcödé"), 200, "", ulidID},
		{"request id holding an API key (never echoed, never logged)", post(one("rid-key", "1"), HeaderRequestID, "req-"+keyShaped), 200, "", ulidID},
		{"request id of 4 KiB", post(one("rid-long", "1"), HeaderRequestID, strings.Repeat("r", 4096)), 200, "", ulidID},
		{"request id with a percent-encoded CRLF", post(one("rid-pct", "1"), HeaderRequestID, "a%0D%0AX-Injected:%201"), 200, "", func(t *testing.T, a rawAnswer) {
			if a.header.Get(HeaderRequestID) != "a%0D%0AX-Injected:%201" || a.header.Get("X-Injected") != "" {
				t.Errorf("headers: %v", a.header)
			}
		}},
	}
}

// TestHostileRequestsGetTheirDocumentedAnswerNeverA5xx sends every hostile
// request of the table to a real gateway (New: real keys, Kafka, Redis) and
// checks the status and machine-readable code of each answer.
func TestHostileRequestsGetTheirDocumentedAnswerNeverA5xx(t *testing.T) {
	e := startHostileGateway(t)
	for _, c := range hostileGatewayCases() {
		t.Run(c.name, func(t *testing.T) {
			// Kafka's time (the accepted events) is not this test's subject.
			a, took := outsideKafka(t, e.reg, func() rawAnswer { return c.send(t, e) })
			if a.lost {
				t.Fatal("no answer, and the connection still open, after 20 s")
			}
			if a.status >= 500 {
				t.Fatalf("5xx: %d %s", a.status, truncate(a.body))
			}
			if c.status != 0 && (a.status != c.status || a.errorCode() != c.code) {
				t.Fatalf("got %d %q %s, want %d %q", a.status, a.errorCode(), truncate(a.body), c.status, c.code)
			}
			if c.check != nil {
				c.check(t, a)
			}
			if took > e.readTimeout+answerMargin { // the default read timeout is 30 s
				t.Errorf("answered after %s outside Kafka", took)
			}
		})
	}
}
