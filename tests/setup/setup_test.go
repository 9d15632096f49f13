package setup

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func TestInfraAndStopWorkFromACheckoutOnlyRootCanEnter(t *testing.T) {
	kafka, clickhouse := sharedKafkaAndClickHouse(t)
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	before := ownerAndMode(t, private)
	clone := checkout(t, private)
	ports := freePorts(t, 3)
	// Its own PostgreSQL and Redis; the shared Kafka on its usual port (so
	// reused as another checkout's broker); the shared ClickHouse engine as an
	// external server (its address moved off this checkout's port), which spares
	// the copy a 900 MB chDB install.
	env := checkoutEnv(clone, map[string]string{
		"PULSESTREAM_PG_PORT": strconv.Itoa(ports[0]), "PULSESTREAM_REDIS_PORT": strconv.Itoa(ports[1]),
		"PULSESTREAM_CLICKHOUSE_PORT": strconv.Itoa(ports[2]), "PULSESTREAM_CLICKHOUSE_ADDR": clickhouse,
	})
	postgres, redis := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	t.Cleanup(func() { _, _ = run(clone, env, "make", "clean") })

	mustRun(t, clone, env, "make", "infra")
	if after := ownerAndMode(t, private); after != before {
		t.Fatalf("make infra changed the private parent directory: %s, was %s", after, before)
	}
	data := postgresDataOutside(t, clone, private)
	for _, addr := range []string{postgres, redis} {
		if !listening(addr) {
			t.Fatalf("nothing listens on %s after make infra", addr)
		}
	}

	mustRun(t, clone, env, "make", "stop")
	for _, addr := range []string{postgres, redis} {
		if listening(addr) {
			t.Fatalf("%s still listens after make stop", addr)
		}
	}
	for _, addr := range []string{kafka, clickhouse} {
		if !listening(addr) {
			t.Fatalf("the checkout's make stop stopped the shared server on %s it had reused", addr)
		}
	}

	mustRun(t, clone, env, "make", "clean")
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("make clean left PostgreSQL's data directory %s (stat: %v)", data, err)
	}
}

func TestInfraNamesTheProcessHoldingAPortAndStartsNothing(t *testing.T) {
	testenv.Require(t, "PULSESTREAM_POSTGRES_URL")
	held := holdPort(t)
	clone := checkout(t, t.TempDir())
	pg := freePorts(t, 1)[0]
	env := checkoutEnv(clone, map[string]string{
		"PULSESTREAM_PG_PORT": strconv.Itoa(pg), "PULSESTREAM_REDIS_PORT": strconv.Itoa(held),
	})

	out, err := run(clone, env, "bash", "scripts/infra.sh", "up", "postgres", "redis")
	if err == nil {
		t.Fatalf("infra.sh up succeeded with Redis's port held by this test:\n%s", out)
	}
	want := fmt.Sprintf("port %d, wanted by Redis, is taken by pid %d", held, os.Getpid())
	if !strings.Contains(out, want) || !strings.Contains(out, "PULSESTREAM_REDIS_PORT") {
		t.Fatalf("the message does not name the port, its holder and the setting (want %q):\n%s", want, out)
	}
	if listening("127.0.0.1:" + strconv.Itoa(pg)) {
		t.Fatal("PostgreSQL was started although the check of every port failed first: a half-started stack")
	}
}

func TestDevNamesTheProcessHoldingAServicePortAndStartsNothing(t *testing.T) {
	testenv.Require(t, "PULSESTREAM_POSTGRES_URL")
	held := holdPort(t)
	clone := checkout(t, t.TempDir())
	ports := freePorts(t, 4)
	gateway := "127.0.0.1:" + strconv.Itoa(ports[0])
	env := checkoutEnv(clone, map[string]string{
		"PULSESTREAM_GATEWAY_ADDR":   gateway,
		"PULSESTREAM_HTTP_ADDR":      "127.0.0.1:" + strconv.Itoa(held), // the query service's listener
		"PULSESTREAM_PROJECTOR_ADDR": "127.0.0.1:" + strconv.Itoa(ports[1]),
		"PULSESTREAM_ADMIN_ADDR":     "127.0.0.1:" + strconv.Itoa(ports[2]),
		"PULSESTREAM_CONSOLE_ADDR":   "127.0.0.1:" + strconv.Itoa(ports[3]),
	})

	out, err := run(clone, env, "bash", "scripts/dev.sh", "run")
	if err == nil {
		t.Fatalf("dev.sh run succeeded with the query port held by this test:\n%s", out)
	}
	want := fmt.Sprintf("port %d, wanted by the query service, is taken by pid %d", held, os.Getpid())
	if !strings.Contains(out, want) || !strings.Contains(out, "PULSESTREAM_HTTP_ADDR") {
		t.Fatalf("the message does not name the port, its holder and the setting (want %q):\n%s", want, out)
	}
	if listening(gateway) {
		t.Fatal("the gateway was started although a service port was taken: a half-started stack")
	}
	if _, err := os.Stat(filepath.Join(clone, ".local", "dev.pids")); !os.IsNotExist(err) {
		t.Fatalf("dev.sh recorded started services (stat dev.pids: %v)", err)
	}
}

// sharedKafkaAndClickHouse returns the addresses of the servers `make test`
// started; a checkout's `make infra` on the same ports must reuse them.
func sharedKafkaAndClickHouse(tb testing.TB) (kafka, clickhouse string) {
	tb.Helper()
	kafka = strings.Split(testenv.KafkaBrokers(tb), ",")[0]
	clickhouse = testenv.ClickHouseAddr(tb)
	if os.Geteuid() != 0 {
		tb.Fatal("the set-up scripts run PostgreSQL as user postgres through runuser: run as root, as `make test` does")
	}
	return kafka, clickhouse
}

// checkout copies what `make infra`, `make dev` and `make stop` use (the
// Makefile and scripts/) into parent/pulsestream, as a clone would have them.
func checkout(tb testing.TB, parent string) string {
	tb.Helper()
	root := testenv.Root(tb)
	clone := filepath.Join(parent, "pulsestream")
	if err := os.CopyFS(filepath.Join(clone, "scripts"), os.DirFS(filepath.Join(root, "scripts"))); err != nil {
		tb.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clone, "Makefile"), makefile, 0o644); err != nil {
		tb.Fatal(err)
	}
	return clone
}

// checkoutEnv is this process's environment as a user's shell in the
// checkout would have it: the checkout's own root and .local, addresses
// derived again from the ports (scripts/env.sh), make's own variables unset.
func checkoutEnv(clone string, set map[string]string) []string {
	drop := map[string]bool{"PULSESTREAM_ROOT": true, "PULSESTREAM_LOCAL": true, "PULSESTREAM_POSTGRES_URL": true,
		"PULSESTREAM_REDIS_ADDR": true, "MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] && set[name] == "" {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

func run(dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(tb testing.TB, dir string, env []string, name string, args ...string) {
	tb.Helper()
	if out, err := run(dir, env, name, args...); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// postgresDataOutside checks that the checkout's PostgreSQL data lives where
// user postgres can reach it, outside the private directory, owned by
// postgres and linked from .local/postgres; it returns that directory.
func postgresDataOutside(tb testing.TB, clone, private string) string {
	tb.Helper()
	link := filepath.Join(clone, ".local", "postgres")
	data, err := filepath.EvalSymlinks(link)
	if err != nil {
		tb.Fatalf("%s: %v", link, err)
	}
	if strings.HasPrefix(data, private+string(filepath.Separator)) {
		tb.Fatalf("PostgreSQL's data %s is below the directory user postgres cannot enter", data)
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		tb.Fatal(err)
	}
	if owner := strings.Fields(ownerAndMode(tb, data))[0]; owner != pg.Uid {
		tb.Fatalf("%s belongs to uid %s, not to postgres (%s)", data, owner, pg.Uid)
	}
	return data
}

// ownerAndMode is "uid gid mode" of path.
func ownerAndMode(tb testing.TB, path string) string {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d %d %v", st.Uid, st.Gid, fi.Mode())
}

// freePorts returns n distinct free loopback ports.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		if p := testenv.FreePort(tb); !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// holdPort listens on a free loopback port until the test ends and returns it.
func holdPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
