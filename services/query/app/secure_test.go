package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/query/app"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestQueryOverSecuredPostgresClickHouseAndRedis runs the query service,
// configured by its flags, against private servers that require TLS and a
// login: PostgreSQL (hostssl only, verify-full), the ClickHouse engine over
// https with a user (chdb-server checks the login) and Redis (TLS only, ACL
// user); each takes a client certificate where the server asks for one.
// /readyz passes and an event is read back; a wrong ClickHouse password, a
// wrong Redis password and an untrusted PostgreSQL certificate each stop New
// naming the setting and the server.
func TestQueryOverSecuredPostgresClickHouseAndRedis(t *testing.T) {
	certs := testenv.NewCerts(t)
	pg := testenv.StartPostgres(t)
	pgURL := pg.RequireTLS(certs)
	migratetest.Postgres(t, pgURL)
	chs := testenv.StartSecureClickHouse(t, certs, "query", "ch-pw")
	r := testenv.StartSecureRedis(t, certs, "query", "redis-pw")
	pool, err := pgxpool.New(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tenant := querytest.Tenant(t)
	key := tenancytest.New(t, pool, tenant, tenancy.TenantSettings{}).Key(tenancy.ScopeQuery)
	querytest.InsertPG(t, pool, []querytest.Row{{Tenant: tenant, ID: "e1", Type: "t", Time: time.Now(), Data: map[string]any{"a": 1}, Offset: 1}})

	flags := func(extra ...string) app.Config {
		var cfg app.Config
		args := append([]string{"-http-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-console-addr", "127.0.0.1:0",
			"-postgres-url", pgURL, "-postgres-tls", "-postgres-tls-ca", certs.CA,
			"-clickhouse-addr", chs.Addr, "-clickhouse-database", "default", "-clickhouse-username", "query", "-clickhouse-password", "ch-pw",
			"-clickhouse-tls", "-clickhouse-tls-ca", certs.CA, "-clickhouse-tls-cert", certs.ClientCert, "-clickhouse-tls-key", certs.ClientKey,
			"-redis-addr", r.Addr, "-redis-username", "query", "-redis-password", "redis-pw",
			"-redis-tls", "-redis-tls-ca", certs.CA, "-redis-tls-cert", certs.ClientCert, "-redis-tls-key", certs.ClientKey,
		}, extra...)
		if _, err := config.Parse("query", args, &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("right settings", func(t *testing.T) {
		a, err := app.New(flags(), slog.New(slog.DiscardHandler), observe.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, a)
		defer stop()
		base := "http://" + a.PublicAddr()
		if st, body := get(t, base+"/readyz", ""); st != 200 {
			t.Fatalf("readyz: %d %s", st, body)
		}
		if st, body := get(t, base+"/v1/events/e1", key.Key); st != 200 || !strings.Contains(body, `"id":"e1"`) {
			t.Fatalf("get over TLS: %d %s", st, body)
		}
	})

	pgServer := strings.TrimSuffix(strings.SplitN(pgURL, "@", 2)[1], "/pulsestream")
	for _, tc := range []struct {
		name, want string
		flags      []string
	}{
		{"wrong ClickHouse password", "clickhouse-username and clickhouse-password: clickhouse at https://" + chs.Addr + " refused the connection",
			[]string{"-clickhouse-password", "wrong"}},
		{"wrong Redis password", "redis-username and redis-password: redis at " + r.Addr + " refused the connection",
			[]string{"-redis-password", "wrong"}},
		{"untrusted PostgreSQL certificate", "postgres-tls-ca: postgres at " + pgServer + " refused the connection",
			[]string{"-postgres-tls-ca", certs.OtherCA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := app.New(flags(tc.flags...), slog.New(slog.DiscardHandler), observe.NewRegistry())
			if err == nil {
				a.Close()
				t.Fatal("New started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v\nwant it to say %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}
