package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// readinessBound is how long a binary may take to notice a dependency going
// or coming back: its health timeout (1 s here) plus a pool's reconnect, with
// a wide margin for a loaded machine. The checks poll /readyz until then.
const readinessBound = 60 * time.Second

// readyz returns the status of GET base/readyz and the dependencies it names
// as failing.
func readyz(base string) (int, []string) {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body struct{ Failing []string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Failing
}

// expectReadiness polls /readyz until it answers code with exactly failing.
func expectReadiness(t *testing.T, p *testenv.Proc, base string, code int, failing ...string) {
	t.Helper()
	deadline := time.Now().Add(readinessBound)
	for {
		got, names := readyz(base)
		if got == code && slices.Equal(names, failing) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d failing %v, want %d failing %v within %s; log:\n%s", got, names, code, failing, readinessBound, p.Log(30))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The gateway binary starts ready; PostgreSQL cut (proxy) makes /readyz 503
// naming postgres, restored 200; its Kafka broker (a private one: a client
// learns the broker's advertised address from metadata, so a proxy in front
// of the seed would not cut it) SIGKILLed makes it 503 naming kafka,
// restarted 200.
func TestGatewayReadinessFollowsPostgresAndKafka(t *testing.T) {
	baseURL, rds := testenv.PostgresURL(t), testenv.RedisAddr(t)
	id := randomHex(t, 4)
	pgURL := migratetest.PrivatePostgres(t, baseURL, "e2e_"+id)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.NewCutProxy(t, u.Host)
	u.Host = pg.Addr()
	kafka := testenv.StartKafka(t)

	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	topic := "e2e-ready-" + id
	gw := testenv.Spawn(t, testenv.Build(t, "services/gateway"), "-postgres-url", u.String(), "-kafka-brokers", kafka.Brokers,
		"-kafka-topic", topic, "-kafka-dlq-topic", topic+"-dlq", "-kafka-partitions", "1", "-kafka-replication-factor", "1",
		"-kafka-ensure-topics=true", "-redis-addr", rds, "-redis-key-prefix", topic+":", "-gateway-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-health-timeout", "1s", "-postgres-dial-timeout", "1s", "-erasure-projector-group", "", "-shutdown-delay", "0s", "-log-format", "text")
	expectReadiness(t, gw, base, http.StatusOK)

	pg.Cut()
	expectReadiness(t, gw, base, http.StatusServiceUnavailable, "postgres")
	pg.Restore()
	expectReadiness(t, gw, base, http.StatusOK)

	kafka.Kill()
	expectReadiness(t, gw, base, http.StatusServiceUnavailable, "kafka")
	kafka.Start()
	expectReadiness(t, gw, base, http.StatusOK)
}

// The query binary starts ready; PostgreSQL or ClickHouse cut (proxies in
// front of the shared servers) makes /readyz 503 naming it; restored, 200.
func TestQueryReadinessFollowsPostgresAndClickHouse(t *testing.T) {
	baseURL, rds, chAddr := testenv.PostgresURL(t), testenv.RedisAddr(t), testenv.ClickHouseAddr(t)
	id := randomHex(t, 4)
	pgURL := migratetest.PrivatePostgres(t, baseURL, "e2e_"+id)
	migratetest.PrivateClickHouse(t, chAddr, "e2e_"+id)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	pg, ch := testenv.NewCutProxy(t, u.Host), testenv.NewCutProxy(t, chAddr)
	u.Host = pg.Addr()

	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	q := testenv.Spawn(t, testenv.Build(t, "services/query"), "-postgres-url", u.String(),
		"-clickhouse-addr", ch.Addr(), "-clickhouse-protocol", testenv.ClickHouseProtocol(), "-clickhouse-database", "e2e_"+id,
		"-http-addr", fmt.Sprintf("127.0.0.1:%d", port), "-admin-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "-console-addr", "127.0.0.1:0",
		"-redis-addr", rds, "-markers-prefix", "e2e-ready-"+id+":", "-cursor-key", randomHex(t, 32),
		"-health-timeout", "1s", "-shutdown-delay", "0s", "-log-format", "text")
	expectReadiness(t, q, base, http.StatusOK)

	for _, dep := range []struct {
		name  string
		proxy *testenv.CutProxy
	}{{"postgres", pg}, {"clickhouse", ch}} {
		dep.proxy.Cut()
		expectReadiness(t, q, base, http.StatusServiceUnavailable, dep.name)
		dep.proxy.Restore()
		expectReadiness(t, q, base, http.StatusOK)
	}
}
