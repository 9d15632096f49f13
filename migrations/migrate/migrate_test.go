package migrate

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/migrations"
)

func integration(t *testing.T) {
	t.Helper()
	if os.Getenv("PULSESTREAM_TEST_INTEGRATION") != "1" {
		t.Skip("integration test: source scripts/env.sh (make test does)")
	}
}

func TestUpBringsBothDatabasesToTheLatestVersionAndIsIdempotent(t *testing.T) {
	integration(t)
	for _, cmd := range []string{"up", "up", "status"} {
		var out bytes.Buffer
		if code := Main([]string{cmd}, &out); code != 0 {
			t.Fatalf("migrate %s exited %d:\n%s", cmd, code, out.String())
		}
		for _, name := range []string{migrations.Postgres.Name, migrations.ClickHouse.Name} {
			line := lineOf(out.String(), name)
			var applied, latest int64
			if _, err := fmt.Sscanf(strings.TrimPrefix(line, name), " version %d of %d", &applied, &latest); err != nil {
				t.Fatalf("migrate %s: no version line for %s in %q", cmd, name, out.String())
			}
			if applied != latest || latest == 0 {
				t.Fatalf("migrate %s: %s at %d of %d", cmd, name, applied, latest)
			}
		}
	}
}

func TestUnreachableDatabaseFailsWithExitCode1(t *testing.T) {
	var out bytes.Buffer
	code := Main([]string{"status", "-postgres-url", "postgres://x@127.0.0.1:1/none?sslmode=disable",
		"-postgres-dial-timeout", "1s", "-migrate-timeout", "5s"}, &out)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

func TestUnknownSubcommandOrBadSettingIsAUsageError(t *testing.T) {
	for _, args := range [][]string{nil, {"down"}, {"up", "-migrate-timeout", "0s"}, {"up", "-clickhouse-protocol", "tcp"}} {
		if code := Main(args, &bytes.Buffer{}); code != 2 {
			t.Errorf("migrate %v exited %d, want 2", args, code)
		}
	}
}

func TestVersionFlagPrintsTheVersion(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"-version"}, &out); code != 0 || !strings.HasPrefix(out.String(), "migrate dev (go") {
		t.Fatalf("migrate -version: exit %d, printed %q", code, out.String())
	}
}

func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}
