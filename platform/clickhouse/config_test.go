package clickhouse

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/secure"
)

func TestFlagDefaultsPointAtTheLocalEngine(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var tlsOff secure.TLS // TLS off, its flags named clickhouse-tls*
	tlsOff.RegisterFlags(flag.NewFlagSet("tls", flag.ContinueOnError), "clickhouse", "ClickHouse server")
	want := Config{Addr: "127.0.0.1:18123", Protocol: "http", Database: "pulsestream", Username: "default",
		DialTimeout: 5 * time.Second, MaxOpenConns: 10, TLS: tlsOff}
	if c != want {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, name := range []string{"clickhouse-addr", "clickhouse-protocol", "clickhouse-database",
		"clickhouse-username", "clickhouse-password", "clickhouse-dial-timeout", "clickhouse-max-open-conns",
		"clickhouse-tls", "clickhouse-tls-ca", "clickhouse-tls-cert", "clickhouse-tls-key", "clickhouse-tls-server-name"} {
		f := fs.Lookup(name)
		if f == nil || f.Usage == "" {
			t.Errorf("flag %s missing or without help text", name)
		}
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	good := Config{Addr: "127.0.0.1:18123", Protocol: "http", Database: "pulsestream", Username: "default",
		DialTimeout: time.Second, MaxOpenConns: 1}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"protocol", func(c *Config) { c.Protocol = "tcp" }, `clickhouse-protocol: must be "http" or "native", got "tcp"`},
		{"empty addr", func(c *Config) { c.Addr = "" }, "clickhouse-addr: must not be empty"},
		{"addr without port", func(c *Config) { c.Addr = "localhost" }, `clickhouse-addr: "localhost" is not host:port`},
		{"one bad addr of two", func(c *Config) { c.Addr = "a:1, b" }, `clickhouse-addr: "b" is not host:port`},
		{"database", func(c *Config) { c.Database = " " }, "clickhouse-database: must not be empty"},
		{"dial timeout", func(c *Config) { c.DialTimeout = 0 }, "clickhouse-dial-timeout: must be positive, got 0s"},
		{"max open conns", func(c *Config) { c.MaxOpenConns = 0 }, "clickhouse-max-open-conns: must be at least 1, got 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	native := good
	native.Protocol = "native"
	native.Addr = "a:9000,b:9000"
	if err := native.Validate(); err != nil {
		t.Fatalf("valid native config rejected: %v", err)
	}
}

func TestOpenValidatesFirstAndDoesNotWaitForTheServer(t *testing.T) {
	if _, err := Open(Config{Protocol: "tcp"}); err == nil || !strings.Contains(err.Error(), "clickhouse-addr") {
		t.Fatalf("Open did not validate first: %v", err)
	}
	// Port 1 on loopback: nothing listens. Open still returns the pool (the
	// service starts and reports ClickHouse through /readyz); a ping fails.
	cfg := Config{Addr: "127.0.0.1:1", Protocol: "http", Database: "pulsestream", Username: "default",
		DialTimeout: 2 * time.Second, MaxOpenConns: 1}
	conn, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open against a closed port: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("ping succeeded against a closed port")
	}
}
