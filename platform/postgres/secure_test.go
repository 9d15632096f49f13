package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func settings(t *testing.T, kv ...string) postgres.Config {
	t.Helper()
	var c postgres.Config
	testenv.SetFlags(t, c.RegisterFlags, kv...)
	return c
}

// TestVerifyFullTLSToAPostgresThatRequiresIt runs a private PostgreSQL with
// ssl=on and hostssl-only pg_hba.conf: with postgres-tls and the CA the pool
// and database/sql (migrate's path) log in over TLS; a wrong password, an
// untrusted server certificate, a certificate for another name and
// plaintext each stop the start check naming the setting and the server.
func TestVerifyFullTLSToAPostgresThatRequiresIt(t *testing.T) {
	certs := testenv.NewCerts(t)
	pg := testenv.StartPostgres(t)
	url := pg.RequireTLS(certs)
	server := strings.TrimSuffix(strings.SplitN(url, "@", 2)[1], "/pulsestream")
	base := []string{"postgres-tls", "true", "postgres-tls-ca", certs.CA}

	t.Run("right settings", func(t *testing.T) {
		cfg := settings(t, append(base, "postgres-url", url)...)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pool, err := postgres.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if err := secure.Check(ctx, nil, postgres.Probe(pool.Ping, cfg)); err != nil {
			t.Fatal(err)
		}
		var ssl bool
		var version string
		if err := pool.QueryRow(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil || !ssl {
			t.Fatalf("pg_stat_ssl of this session: ssl=%v version=%q err=%v", ssl, version, err)
		}
		db, err := postgres.OpenDB(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
			t.Fatalf("database/sql session: ssl=%v err=%v", ssl, err)
		}
	})

	for _, tc := range []struct {
		name    string
		kv      []string
		setting string
	}{
		{"wrong password", []string{"postgres-url", strings.Replace(url, ":pulsestream@", ":wrong@", 1)}, "postgres-url (user and password)"},
		{"untrusted server certificate", []string{"postgres-url", url, "postgres-tls-ca", certs.OtherCA}, "postgres-tls-ca"},
		{"certificate for another name", []string{"postgres-url", url, "postgres-tls-server-name", "db.example.com"}, "postgres-tls-server-name"},
		{"plaintext", []string{"postgres-url", url + "?sslmode=disable", "postgres-tls", "false", "postgres-tls-ca", ""}, "postgres-tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := settings(t, append(base, tc.kv...)...)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			pool, err := postgres.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			err = secure.Check(context.Background(), nil, postgres.Probe(pool.Ping, cfg))
			var refused *secure.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("start check: %v, want the server's refusal", err)
			}
			if !strings.HasPrefix(err.Error(), tc.setting+": postgres at "+server+" refused the connection: ") {
				t.Fatalf("message %q does not start with the setting %q and the server %s", err, tc.setting, server)
			}
			if strings.Contains(err.Error(), "wrong") && tc.name == "wrong password" {
				t.Fatalf("message %q shows the password", err)
			}
			t.Log(err)
		})
	}
}

func TestURLSSLParametersAreRefusedWithPostgresTLS(t *testing.T) {
	cfg := settings(t, "postgres-tls", "true", "postgres-url", "postgres://u:p@db:5432/x?sslmode=require")
	err := cfg.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "postgres-url: sets sslmode while postgres-tls is on") {
		t.Fatalf("Validate = %v", err)
	}
	cfg = settings(t, "postgres-tls-ca", "/etc/ca.crt")
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "postgres-tls-ca: set while postgres-tls is off") {
		t.Fatalf("Validate = %v", err)
	}
}
