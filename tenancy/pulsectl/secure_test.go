package pulsectl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestCLIReadsThePostgresTLSSettingsFromTheEnvironment runs pulsectl against
// a private PostgreSQL that accepts only TLS logins, configured the way the
// services are (PULSESTREAM_POSTGRES_TLS, _TLS_CA): it works with the right
// CA and stops naming postgres-tls-ca and the server with an untrusted one.
func TestCLIReadsThePostgresTLSSettingsFromTheEnvironment(t *testing.T) {
	certs := testenv.NewCerts(t)
	pg := testenv.StartPostgres(t)
	url := pg.RequireTLS(certs)
	migratetest.Postgres(t, url)
	run := func(ca string, args ...string) (int, string) {
		vars := map[string]string{"PULSESTREAM_POSTGRES_URL": url, "PULSESTREAM_POSTGRES_TLS": "true", "PULSESTREAM_POSTGRES_TLS_CA": ca}
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }, actor: actor})
		return code, out.String() + errOut.String()
	}
	tenant := randomTenant(t)
	if code, out := run(certs.CA, "tenants", "create", tenant); code != 0 {
		t.Fatalf("tenants create over TLS: exit %d\n%s", code, out)
	}
	code, out := run(certs.OtherCA, "tenants", "get", tenant)
	server := strings.TrimSuffix(strings.SplitN(url, "@", 2)[1], "/pulsestream")
	if code != 1 || !strings.Contains(out, "postgres-tls-ca: postgres at "+server+" refused the connection") {
		t.Fatalf("untrusted CA: exit %d\n%s", code, out)
	}
}
