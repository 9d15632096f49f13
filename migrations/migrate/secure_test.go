package migrate

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestUpOverTLSWithLogins runs `migrate up` against a private PostgreSQL
// that accepts only TLS logins (verify-full) and a private ClickHouse engine
// over https with a client certificate and a login (chdb-server checks it):
// both reach their latest version. A wrong ClickHouse password and an
// untrusted PostgreSQL certificate each exit 1 naming the setting and the
// server.
func TestUpOverTLSWithLogins(t *testing.T) {
	certs := testenv.NewCerts(t)
	pg := testenv.StartPostgres(t)
	url := pg.RequireTLS(certs)
	ch := testenv.StartSecureClickHouse(t, certs, "migrate", "ch-pw")
	args := func(extra ...string) []string {
		return append([]string{"up", "-postgres-url", url, "-postgres-tls", "-postgres-tls-ca", certs.CA,
			"-clickhouse-addr", ch.Addr, "-clickhouse-database", "default", "-clickhouse-username", "migrate", "-clickhouse-password", "ch-pw",
			"-clickhouse-tls", "-clickhouse-tls-ca", certs.CA, "-clickhouse-tls-cert", certs.ClientCert, "-clickhouse-tls-key", certs.ClientKey,
			"-migrate-timeout", "2m"}, extra...)
	}
	var out bytes.Buffer
	if code := Main(args(), &out); code != 0 {
		t.Fatalf("migrate up over TLS exited %d:\n%s", code, out.String())
	}
	for _, name := range []string{"postgres", "clickhouse"} {
		if l := lineOf(out.String(), name); l == "" {
			t.Fatalf("no line for %s in %q", name, out.String())
		}
	}
	pgServer := strings.TrimSuffix(strings.SplitN(url, "@", 2)[1], "/pulsestream")
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"-clickhouse-password", "wrong"}, "clickhouse-username and clickhouse-password: clickhouse at https://" + ch.Addr + " refused the connection"},
		{[]string{"-postgres-tls-ca", certs.OtherCA}, "postgres-tls-ca: postgres at " + pgServer + " refused the connection"},
	} {
		stderr := captureStderr(t, func() {
			if code := Main(args(tc.extra...), &bytes.Buffer{}); code != 1 {
				t.Errorf("%v: exit %d, want 1", tc.extra, code)
			}
		})
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: the log does not say %q:\n%s", tc.extra, tc.want, stderr)
		}
	}
}

// captureStderr returns what f wrote to os.Stderr (migrate logs there).
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		done <- b.String()
	}()
	f()
	os.Stderr = old
	w.Close()
	return <-done
}
