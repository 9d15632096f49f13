package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// Every binary refuses an invalid setting before it touches anything: it
// exits 2 and the message names the setting (flag and environment variable
// alike), so a misconfigured pod fails at once with a readable log line.
func TestEveryBinaryRefusesAnInvalidSettingNamingIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds five binaries")
	}
	for _, dir := range []string{"services/gateway", "services/projector", "services/query", "migrations/cmd/migrate", "tenancy/cmd/pulsectl"} {
		t.Run(dir, func(t *testing.T) {
			bin := testenv.Build(t, dir)
			var args []string
			switch dir {
			case "migrations/cmd/migrate":
				args = []string{"up"}
			case "tenancy/cmd/pulsectl":
				args = []string{"tenants", "list"}
			}
			for _, env := range []string{"PULSESTREAM_POSTGRES_URL=::not a url::", "PULSESTREAM_POSTGRES_MAX_CONNS=0"} {
				cmd := exec.Command(bin, args...)
				cmd.Env = []string{env}
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Fatalf("%s with %s: %v, want exit code 2\n%s", dir, env, err, out)
				}
				name := strings.ToLower(strings.TrimPrefix(strings.SplitN(env, "=", 2)[0], "PULSESTREAM_"))
				if flag := strings.ReplaceAll(name, "_", "-"); !strings.Contains(string(out), flag) {
					t.Fatalf("%s with %s: the message does not name %s:\n%s", dir, env, flag, out)
				}
			}
		})
	}
}
