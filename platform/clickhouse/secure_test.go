package clickhouse_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsestream/pulsestream/platform/clickhouse"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func settings(t *testing.T, kv ...string) clickhouse.Config {
	t.Helper()
	var c clickhouse.Config
	testenv.SetFlags(t, c.RegisterFlags, kv...)
	return c
}

// TestHTTPSWithUserAndClientCertificate runs a private chdb-server serving
// https, requiring a client certificate and a login: clickhouse-go (pool and
// database/sql) queries over https with the right settings; a wrong password
// and an untrusted server certificate stop the start check naming the
// setting and the server. The login is checked by chdb-server (which answers
// as ClickHouse does, code 516), not by a real ClickHouse server's users.
func TestHTTPSWithUserAndClientCertificate(t *testing.T) {
	certs := testenv.NewCerts(t)
	srv := testenv.StartSecureClickHouse(t, certs, "pulsestream", "s3cret-pw")
	base := []string{"clickhouse-addr", srv.Addr, "clickhouse-protocol", "http", "clickhouse-database", "default",
		"clickhouse-tls", "true", "clickhouse-tls-ca", certs.CA, "clickhouse-tls-cert", certs.ClientCert, "clickhouse-tls-key", certs.ClientKey,
		"clickhouse-username", "pulsestream"}

	t.Run("right settings", func(t *testing.T) {
		cfg := settings(t, append(base, "clickhouse-password", "s3cret-pw")...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := clickhouse.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := secure.Check(ctx, nil, clickhouse.Probe(conn.Ping, cfg)); err != nil {
			t.Fatal(err)
		}
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM numbers(1234)").Scan(&n); err != nil || n != 1234 {
			t.Fatalf("count over https = %d, %v", n, err)
		}
		db, err := clickhouse.OpenDB(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, "SELECT count() FROM numbers(77)").Scan(&n); err != nil || n != 77 {
			t.Fatalf("database/sql count over https = %d, %v", n, err)
		}
	})

	for _, tc := range []struct {
		name    string
		kv      []string
		setting string
	}{
		{"wrong password", []string{"clickhouse-password", "wrong"}, "clickhouse-username and clickhouse-password"},
		{"untrusted server certificate", []string{"clickhouse-password", "s3cret-pw", "clickhouse-tls-ca", certs.OtherCA}, "clickhouse-tls-ca"},
		{"certificate for another name", []string{"clickhouse-password", "s3cret-pw", "clickhouse-tls-server-name", "ch.example.com"}, "clickhouse-tls-server-name"},
		{"client certificate from another CA", []string{"clickhouse-password", "s3cret-pw", "clickhouse-tls-cert", certs.StrangerCert, "clickhouse-tls-key", certs.StrangerKey}, "clickhouse-tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := settings(t, append(base, tc.kv...)...)
			conn, err := clickhouse.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = secure.Check(context.Background(), nil, clickhouse.Probe(conn.Ping, cfg))
			var refused *secure.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("start check: %v, want the server's refusal", err)
			}
			if !strings.HasPrefix(err.Error(), tc.setting+": clickhouse at https://"+srv.Addr+" refused the connection: ") {
				t.Fatalf("message %q does not start with the setting %q and the server %s", err, tc.setting, srv.Addr)
			}
			t.Log(err)
		})
	}
}

// TestNativeProtocolGetsTheSameTLSAndLogin checks what can be checked here
// for the native protocol (the local engine speaks only HTTP): the TLS block
// and the login reach clickhouse-go's Options as they do for HTTP.
func TestNativeProtocolGetsTheSameTLSAndLogin(t *testing.T) {
	certs := testenv.NewCerts(t)
	cfg := settings(t, "clickhouse-addr", "ch-0:9440,ch-1:9440", "clickhouse-protocol", "native",
		"clickhouse-username", "pulsestream", "clickhouse-password", "pw", "clickhouse-tls", "true",
		"clickhouse-tls-ca", certs.CA, "clickhouse-tls-cert", certs.ClientCert, "clickhouse-tls-key", certs.ClientKey)
	opts, err := cfg.Options()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case opts.Protocol != ch.Native:
		t.Errorf("protocol %v", opts.Protocol)
	case opts.TLS == nil || opts.TLS.RootCAs == nil || len(opts.TLS.Certificates) != 1:
		t.Errorf("TLS %+v: want the CA pool and the client certificate", opts.TLS)
	case opts.TLS.ServerName != "":
		t.Errorf("ServerName %q: want empty, so each of several hosts is verified under its own name", opts.TLS.ServerName)
	case opts.Auth.Username != "pulsestream" || opts.Auth.Password != "pw":
		t.Errorf("auth %+v", opts.Auth)
	}
	defaults := settings(t)
	plain, err := defaults.Options()
	if err != nil || plain.TLS != nil {
		t.Errorf("default settings: TLS %+v, %v; want none", plain.TLS, err)
	}
}
