package secure_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func block(t *testing.T, kv ...string) *secure.TLS {
	t.Helper()
	var c secure.TLS
	testenv.SetFlags(t, func(fs *flag.FlagSet) { c.RegisterFlags(fs, "redis", "Redis server") }, kv...)
	return &c
}

func TestTLSBlockValidationNamesTheSetting(t *testing.T) {
	certs := testenv.NewCerts(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kv   []string
		want string // "" = valid
	}{
		{nil, ""},
		{[]string{"redis-tls", "true"}, ""},
		{[]string{"redis-tls", "true", "redis-tls-ca", certs.CA, "redis-tls-cert", certs.ClientCert, "redis-tls-key", certs.ClientKey}, ""},
		{[]string{"redis-tls-ca", certs.CA}, "redis-tls-ca: set while redis-tls is off"},
		{[]string{"redis-tls-server-name", "r"}, "redis-tls-server-name: set while redis-tls is off"},
		{[]string{"redis-tls", "true", "redis-tls-ca", "/nonexistent/ca.crt"}, "redis-tls-ca: open /nonexistent/ca.crt"},
		{[]string{"redis-tls", "true", "redis-tls-ca", notPEM}, "redis-tls-ca: " + notPEM + " holds no PEM certificate"},
		{[]string{"redis-tls", "true", "redis-tls-cert", certs.ClientCert}, "redis-tls-cert and redis-tls-key: set both or neither"},
		{[]string{"redis-tls", "true", "redis-tls-cert", certs.ClientCert, "redis-tls-key", certs.ServerKey}, "redis-tls-cert and redis-tls-key: tls: private key does not match public key"},
	} {
		err := block(t, tc.kv...).Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.kv, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %q", tc.kv, err, tc.want)
		}
	}
	cfg, err := block(t, "redis-tls", "true").ForHost("cache.internal")
	if err != nil || cfg.ServerName != "cache.internal" || cfg.RootCAs != nil {
		t.Errorf("ForHost: %+v, %v; want the host as server name and the system roots", cfg, err)
	}
}

func TestCheckStopsOnARefusalAndNotOnAnUnreachableServer(t *testing.T) {
	refusal := errors.New("WRONGPASS")
	probe := func(name string, err error) secure.Probe {
		return secure.Probe{Name: name, Server: name + ":1", Timeout: time.Second,
			Ping: func(context.Context) error { return err },
			Refused: func(e error) string {
				if errors.Is(e, refusal) {
					return name + "-password"
				}
				return ""
			}}
	}
	err := secure.Check(context.Background(), nil, probe("a", nil), probe("b", refusal), probe("c", errors.New("connection refused")))
	var refused *secure.RefusedError
	if !errors.As(err, &refused) || err.Error() != "b-password: b at b:1 refused the connection: WRONGPASS" {
		t.Fatalf("Check = %v", err)
	}
	if err := secure.Check(context.Background(), nil, probe("c", errors.New("connection refused"))); err != nil {
		t.Fatalf("an unreachable server stopped the start: %v", err)
	}
}
