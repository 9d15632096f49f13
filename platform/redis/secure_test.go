package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/platform/redis"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func settings(t *testing.T, kv ...string) redis.Config {
	t.Helper()
	var c redis.Config
	testenv.SetFlags(t, c.RegisterFlags, kv...)
	return c
}

// TestTLSRedisWithACLUser runs a private Redis reachable only on its
// tls-port, requiring a client certificate and an ACL user (the default
// user is off): the right settings write and read a key; a wrong password,
// an untrusted server certificate, a client certificate from another CA and
// plaintext each stop the start check naming the setting and the server.
func TestTLSRedisWithACLUser(t *testing.T) {
	certs := testenv.NewCerts(t)
	r := testenv.StartSecureRedis(t, certs, "pulsestream", "s3cret-pw")
	base := []string{"redis-addr", r.Addr, "redis-tls", "true", "redis-tls-ca", certs.CA,
		"redis-tls-cert", certs.ClientCert, "redis-tls-key", certs.ClientKey, "redis-username", "pulsestream"}

	t.Run("right settings", func(t *testing.T) {
		cfg := settings(t, append(base, "redis-password", "s3cret-pw")...)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		rdb := open(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := secure.Check(ctx, nil, redis.Probe(rdb, cfg)); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, "secured", "yes", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := rdb.Get(ctx, "secured").Result(); err != nil || v != "yes" {
			t.Fatalf("GET secured = %q, %v", v, err)
		}
		if who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != "pulsestream" {
			t.Fatalf("ACL WHOAMI = %q, %v", who, err)
		}
	})

	for _, tc := range []struct {
		name    string
		kv      []string
		setting string
	}{
		{"wrong password", []string{"redis-password", "wrong"}, "redis-username and redis-password"},
		{"untrusted server certificate", []string{"redis-password", "s3cret-pw", "redis-tls-ca", certs.OtherCA}, "redis-tls-ca"},
		{"certificate for another name", []string{"redis-password", "s3cret-pw", "redis-tls-server-name", "redis.example.com"}, "redis-tls-server-name"},
		{"client certificate from another CA", []string{"redis-password", "s3cret-pw", "redis-tls-cert", certs.StrangerCert, "redis-tls-key", certs.StrangerKey}, "redis-tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := settings(t, append(base, tc.kv...)...)
			err := secure.Check(context.Background(), nil, redis.Probe(open(t, cfg), cfg))
			var refused *secure.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("start check: %v, want the server's refusal", err)
			}
			if !strings.HasPrefix(err.Error(), tc.setting+": redis at "+r.Addr+" refused the connection: ") {
				t.Fatalf("message %q does not start with the setting %q and the server %s", err, tc.setting, r.Addr)
			}
			t.Log(err)
		})
	}

	t.Run("plaintext to the TLS port", func(t *testing.T) {
		cfg := settings(t, "redis-addr", r.Addr, "redis-username", "pulsestream", "redis-password", "s3cret-pw")
		err := secure.Check(context.Background(), nil, redis.Probe(open(t, cfg), cfg))
		// Redis drops a connection that is not TLS: nothing tells that apart
		// from a server going away, so this is left to readiness.
		if err != nil {
			t.Fatalf("start check: %v; a dropped connection is not a refusal", err)
		}
		if err := open(t, cfg).Ping(context.Background()).Err(); err == nil {
			t.Fatal("PING in plaintext answered by a TLS-only Redis")
		}
	})
}

func open(t *testing.T, cfg redis.Config) *goredis.Client {
	t.Helper()
	rdb, err := redis.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
