package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/query/app"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func init() { gin.SetMode(gin.ReleaseMode) }

func parse(t *testing.T, args ...string) app.Config {
	t.Helper()
	var cfg app.Config
	base := []string{
		"-http-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-console-addr", "127.0.0.1:0",
		"-postgres-url", testenv.PostgresURL(t), "-clickhouse-addr", testenv.ClickHouseAddr(t),
		"-redis-addr", testenv.RedisAddr(t),
		// Not the production 5 s: these tests are not about query_timeout,
		// and the shared ClickHouse engine of a loaded machine may take longer.
		"-query-timeout", "1m",
	}
	if _, err := config.Parse("query", append(base, args...), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServiceAnswersWithARealKeyServesOpsAndAdminAndStopsOnSIGTERM(t *testing.T) {
	pool := querytest.Postgres(t) // migrates
	querytest.ClickHouse(t)
	tenant := querytest.Tenant(t)
	tn := tenancytest.New(t, pool, tenant, tenancy.TenantSettings{})
	key, ingestOnly := tn.Key(tenancy.ScopeQuery), tn.Key(tenancy.ScopeIngest)
	querytest.InsertPG(t, pool, []querytest.Row{{Tenant: tenant, ID: "e1", Type: "t", Time: time.Now(), Data: map[string]any{"a": 1}, Offset: 1}})

	reg := observe.NewRegistry()
	a, err := app.New(parse(t), slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	base := "http://" + a.PublicAddr()
	if st, body := get(t, base+"/readyz", ""); st != 200 {
		t.Fatalf("readyz: %d %s", st, body)
	}
	if st, body := get(t, base+"/v1/events/e1", key.Key); st != 200 || !strings.Contains(body, `"id":"e1"`) {
		t.Fatalf("get with a real query key: %d %s", st, body)
	}
	if st, _ := get(t, base+"/v1/events/e1", ingestOnly.Key); st != http.StatusForbidden {
		t.Errorf("ingest-only key: %d, want 403", st)
	}
	if st, _ := get(t, base+"/v1/events/e1", ""); st != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", st)
	}
	_, metrics := get(t, base+"/metrics", "")
	if !strings.Contains(metrics, `pulsestream_query_http_requests_total{method="GET",route="/v1/events/:id",status="200"} 1`) ||
		!strings.Contains(metrics, `pulsestream_query_http_request_duration_seconds_count{route="/v1/events/:id"} 3`) {
		t.Errorf("metrics lack the latency histogram by route:\n%s", grep(metrics, "pulsestream_query"))
	}
	// The admin API is on its own listener, not on the public one.
	if st, body := get(t, "http://"+a.AdminAddr()+"/v1/admin/tenants", ""); st != http.StatusUnauthorized {
		t.Errorf("admin listener without key: %d %s, want 401", st, body)
	}
	if st, _ := get(t, base+"/v1/admin/tenants", key.Key); st != http.StatusNotFound {
		t.Errorf("admin API reachable on the public listener: %d", st)
	}
	// The admin engine counts its requests in the process's HTTP metrics.
	if _, metrics := get(t, base+"/metrics", ""); !strings.Contains(metrics, `pulsestream_query_http_requests_total{method="GET",route="/v1/admin/tenants",status="401"} 1`) {
		t.Errorf("metrics lack the admin API's request:\n%s", grep(metrics, "pulsestream_query_http_requests_total"))
	}

	// SIGTERM: the servers drain and Run returns.
	stop()
}

// The console is a setting: served on console-addr by default (the page
// and, on its origin, the query API it calls), absent with console=false.
func TestConsoleIsASetting(t *testing.T) {
	querytest.Postgres(t) // migrates
	querytest.ClickHouse(t)
	for _, on := range []string{"true", "false"} {
		a, err := app.New(parse(t, "-console="+on), slog.New(slog.DiscardHandler), observe.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, a)
		switch addr := a.ConsoleAddr(); {
		case on == "false" && addr != "":
			t.Errorf("console=false: a console listener on %s", addr)
		case on == "true":
			if st, body := get(t, "http://"+addr+"/", ""); st != http.StatusOK || !strings.Contains(body, "<title>PulseStream console</title>") {
				t.Errorf("console page: %d %.80q", st, body)
			}
			if st, _ := get(t, "http://"+addr+"/api/query/v1/lag", ""); st != http.StatusUnauthorized {
				t.Errorf("the console's query API without a key: %d, want 401", st)
			}
		}
		stop()
	}
}

func TestReadinessFailsWhenADependencyIsDown(t *testing.T) {
	querytest.Postgres(t)
	// Port 1 refuses at once; the health timeout is long so that a ClickHouse
	// engine slowed by a loaded machine is not taken for a failing one.
	cfg := parse(t, "-postgres-url", "postgres://pulsestream:pulsestream@127.0.0.1:1/pulsestream?sslmode=disable", "-health-timeout", "10s", "-postgres-dial-timeout", "500ms")
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), observe.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	defer stop()
	st, body := get(t, "http://"+a.PublicAddr()+"/readyz", "")
	if st != http.StatusServiceUnavailable {
		t.Fatalf("readyz with PostgreSQL down: %d %s", st, body)
	}
	var r struct{ Failing []string }
	_ = json.Unmarshal([]byte(body), &r)
	if strings.Join(r.Failing, ",") != "postgres" {
		t.Errorf("failing %v, want [postgres]", r.Failing)
	}
}

// start runs a until the returned stop sends SIGTERM to this process (the
// runner's signal actor is registered once /livez answers).
func start(t *testing.T, a *app.App) (stop func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second) // a loaded machine's scheduler, not the app, sets the pace
	for {
		if st, _ := get(t, "http://"+a.PublicAddr()+"/livez", ""); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("livez never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() {
		t.Helper()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return after SIGTERM")
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
