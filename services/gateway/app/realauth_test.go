package app

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/tenancy"
	"github.com/pulsestream/pulsestream/platform/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/platform/testenv"
)

// TestIntegrationNewServesWithRealKeysAndRefusesRevokedOnes runs the real
// wiring (app.New: PostgreSQL-backed cached authenticator, Redis, Kafka) with
// keys made by the tenancy admin service.
func TestIntegrationNewServesWithRealKeysAndRefusesRevokedOnes(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	brokers := testenv.KafkaBrokers(t)
	redisAddr := testenv.RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testenv.MigratePostgres(t, pgURL)
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	run := randomID(t)
	rate := 1000
	tn := tenancytest.New(t, pool, "gw-"+run, tenancy.TenantSettings{RateLimitPerSec: &rate})
	admin, tenant := tn.Admin, tn.ID
	ingestKey, queryKey := tn.Key(tenancy.ScopeIngest), tn.Key(tenancy.ScopeQuery)

	cfg := Defaults()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topic = "gw-it-" + run
	cfg.Kafka.DLQTopic = cfg.Kafka.Topic + ".dlq"
	cfg.Kafka.Partitions = 2
	cfg.Redis.Addr = redisAddr
	cfg.Postgres.URL = pgURL
	cfg.Ingest.RedisKeyPrefix = "pstest:" + run + ":"
	cfg.AuthCacheTTL = 0 // see the revocation at once
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler), observe.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTopics(t, []string{brokers}, cfg.Kafka.Topic, cfg.Kafka.DLQTopic) })
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunContext(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	g := &testGateway{url: "http://" + a.Addr()}

	resp, err := http.Get(g.url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	body := batch(event("real-1", "t", `{"x":1}`))
	if ans := g.post(t, ingestKey.Key, "application/json", body); ans.status != 200 || ans.body.Accepted != 1 || ans.header.Get("RateLimit-Limit") == "" {
		t.Fatalf("ingest key: %d %v %s", ans.status, ans.header, ans.raw)
	}
	if ans := g.post(t, queryKey.Key, "application/json", body); ans.status != 403 {
		t.Fatalf("query key: %d %s", ans.status, ans.raw)
	}
	if _, err := admin.RevokeKey(ctx, "test", tenant, ingestKey.Prefix); err != nil {
		t.Fatal(err)
	}
	if ans := g.post(t, ingestKey.Key, "application/json", body); ans.status != 401 || ans.header.Get("WWW-Authenticate") == "" || ans.errorCode() != tenancy.CodeKeyRevoked {
		t.Fatalf("revoked key: %d %s", ans.status, ans.raw)
	}
}
