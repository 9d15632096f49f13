package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestIntegrationGatewayOverSecuredKafkaRedisAndPostgres runs the real
// gateway wiring against private servers that each require TLS and a login:
// a Kafka SASL_SSL listener (SCRAM-SHA-512, client certificate), a
// TLS-only Redis with an ACL user (client certificate) and a PostgreSQL
// accepting only hostssl logins (verify-full). An event is acknowledged,
// lands in the topic, and its repeat is a duplicate (the Redis marker).
// Then a wrong Kafka password, a wrong Redis password and an untrusted
// PostgreSQL certificate each stop New, naming the setting and the server.
func TestIntegrationGatewayOverSecuredKafkaRedisAndPostgres(t *testing.T) {
	certs := testenv.NewCerts(t)
	k := testenv.StartSecureKafka(t, certs, map[string]string{"gateway": "kafka-pw"})
	r := testenv.StartSecureRedis(t, certs, "gateway", "redis-pw")
	pg := testenv.StartPostgres(t)
	pgURL := pg.RequireTLS(certs)
	migratetest.Postgres(t, pgURL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tenant := tenancytest.New(t, pool, "gw-secure", tenancy.TenantSettings{})
	key := tenant.Key(tenancy.ScopeIngest)

	secured := func() Config {
		cfg := Defaults()
		cfg.HTTP.Addr = "127.0.0.1:0"
		cfg.Kafka.Brokers, cfg.Kafka.Topic, cfg.Kafka.DLQTopic, cfg.Kafka.Partitions = k.SecureBrokers, "secure.v1", "secure.v1.dlq", 1
		cfg.Kafka.TLS.Enabled, cfg.Kafka.TLS.CAFile, cfg.Kafka.TLS.CertFile, cfg.Kafka.TLS.KeyFile = true, certs.CA, certs.ClientCert, certs.ClientKey
		cfg.Kafka.SASLMechanism, cfg.Kafka.SASLUsername, cfg.Kafka.SASLPassword = "SCRAM-SHA-512", "gateway", "kafka-pw"
		cfg.Redis.Addr, cfg.Redis.Username, cfg.Redis.Password = r.Addr, "gateway", "redis-pw"
		cfg.Redis.TLS.Enabled, cfg.Redis.TLS.CAFile, cfg.Redis.TLS.CertFile, cfg.Redis.TLS.KeyFile = true, certs.CA, certs.ClientCert, certs.ClientKey
		cfg.Postgres.URL = pgURL
		cfg.Postgres.TLS.Enabled, cfg.Postgres.TLS.CAFile = true, certs.CA
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("right settings", func(t *testing.T) {
		cfg := secured()
		a, err := New(cfg, slog.New(slog.DiscardHandler), observe.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(runCtx) }()
		defer func() {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		g := &testGateway{url: "http://" + a.Addr()}
		body := batch(event("secure-1", "t", `{"x":1}`))
		if ans := g.post(t, key.Key, "application/json", body); ans.status != 200 || ans.body.Accepted != 1 {
			t.Fatalf("ingest: %d %s", ans.status, ans.raw)
		}
		if ans := g.post(t, key.Key, "application/json", body); ans.status != 200 || ans.body.Duplicate != 1 {
			t.Fatalf("repeat (Redis marker over TLS): %d %s", ans.status, ans.raw)
		}
		cl, err := kafka.NewClient(cfg.Kafka, nil, nil, "test", kgo.ConsumeTopics(cfg.Kafka.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		fs := cl.PollRecords(ctx, 10)
		if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || !strings.Contains(string(fs.Records()[0].Value), "secure-1") {
			t.Fatalf("topic over SASL_SSL: %d records, %v", fs.NumRecords(), err)
		}
	})

	for _, tc := range []struct {
		name, want string
		mod        func(*Config)
	}{
		{"wrong Kafka password", "kafka-sasl-username and kafka-sasl-password: kafka at " + k.SecureBrokers + " refused the connection",
			func(c *Config) { c.Kafka.SASLPassword = "wrong" }},
		{"wrong Redis password", "redis-username and redis-password: redis at " + r.Addr + " refused the connection",
			func(c *Config) { c.Redis.Password = "wrong" }},
		{"untrusted PostgreSQL certificate", "postgres-tls-ca: postgres at " + strings.TrimSuffix(strings.SplitN(pgURL, "@", 2)[1], "/pulsestream") + " refused the connection",
			func(c *Config) { c.Postgres.TLS.CAFile = certs.OtherCA }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secured()
			tc.mod(&cfg)
			a, err := New(cfg, slog.New(slog.DiscardHandler), observe.NewRegistry())
			if err == nil {
				a.close()
				t.Fatal("New started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v\nwant it to say %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}
