package testenv

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fault tests kill servers. They never kill the shared ones (`make infra`):
// StartKafka and StartRedis start a private instance through the same
// scripts (scripts/kafka.sh, scripts/redis.sh) with PULSESTREAM_LOCAL pointing
// at a fresh directory and free loopback ports, so a SIGKILL hits only the
// test's own process. Both stop and remove their data when the test ends.

// Root is the repository root: PULSESTREAM_ROOT, else the nearest parent of
// the working directory holding go.work.
func Root(tb testing.TB) string {
	tb.Helper()
	if r := os.Getenv("PULSESTREAM_ROOT"); r != "" {
		return r
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("repository root not found (no go.work above the working directory); set PULSESTREAM_ROOT")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port nothing listens on right now, chosen
// below Linux's ephemeral range (32768+): a server that is killed must not
// have its port taken meanwhile by a client's outgoing connection, nor by a
// TCP self-connect of a client retrying it (both happen with ephemeral ports).
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	tb.Fatal("no free port in 20000-31999")
	return 0
}

// script is one private instance driven by a scripts/*.sh file.
type script struct {
	tb    testing.TB
	path  string   // scripts/<name>.sh
	env   []string // the private PULSESTREAM_* overrides
	local string   // its PULSESTREAM_LOCAL
}

func (s *script) run(args ...string) error {
	cmd := exec.Command("bash", append([]string{s.path}, args...)...)
	cmd.Env = append(os.Environ(), s.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(s.path), strings.Join(args, " "), err, out.String())
	}
	return nil
}

func (s *script) must(args ...string) {
	s.tb.Helper()
	if err := s.run(args...); err != nil {
		s.tb.Fatal(err)
	}
}

// Kafka is a private single-node KRaft broker.
type Kafka struct {
	script
	Brokers string // host:port of its PLAINTEXT listener
}

// StartKafka starts a private broker on free ports with its own data dir; it
// reuses the jars `make infra` resolved ($PULSESTREAM_LOCAL/kafka/libs).
// Integration-only: it skips like Require when integration tests are off.
func StartKafka(tb testing.TB) *Kafka {
	tb.Helper()
	return startKafka(tb, nil)
}

// startKafka is StartKafka with extra script environment (secured listeners)
// made by extraEnv from the private directory and the PLAINTEXT and
// CONTROLLER ports.
func startKafka(tb testing.TB, extraEnv func(local string, port, cport int) []string) *Kafka {
	tb.Helper()
	root, local := privateKafkaLocal(tb)
	port, cport := FreePort(tb), FreePort(tb)
	for cport == port {
		cport = FreePort(tb)
	}
	k := &Kafka{Brokers: "127.0.0.1:" + strconv.Itoa(port)}
	k.script = script{tb: tb, path: filepath.Join(root, "scripts", "kafka.sh"), local: local, env: []string{
		"PULSESTREAM_ROOT=" + root, "PULSESTREAM_LOCAL=" + local,
		"PULSESTREAM_KAFKA_PORT=" + strconv.Itoa(port), "PULSESTREAM_KAFKA_CONTROLLER_PORT=" + strconv.Itoa(cport),
		"PULSESTREAM_KAFKA_BROKERS=" + k.Brokers,
	}}
	if extraEnv != nil {
		k.env = append(k.env, extraEnv(local, port, cport)...)
	}
	tb.Cleanup(func() {
		// SIGKILL: the data dir is thrown away, a clean stop would only cost time.
		if err := k.run("kill"); err != nil {
			tb.Log(err)
		}
	})
	k.must("start")
	return k
}

// privateKafkaLocal makes a fresh PULSESTREAM_LOCAL for private brokers
// that reuses the jars `make infra` resolved ($PULSESTREAM_LOCAL/kafka/libs):
// it returns the repository root and that directory.
func privateKafkaLocal(tb testing.TB) (root, local string) {
	tb.Helper()
	Require(tb, "PULSESTREAM_KAFKA_BROKERS")
	root = Root(tb)
	shared := os.Getenv("PULSESTREAM_LOCAL")
	if shared == "" {
		shared = filepath.Join(root, ".local")
	}
	libs := filepath.Join(shared, "kafka", "libs")
	if _, err := os.Stat(libs); err != nil {
		tb.Fatalf("no Kafka jars at %s: run `make infra` first", libs)
	}
	local = tb.TempDir()
	if err := os.MkdirAll(filepath.Join(local, "kafka"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(libs, filepath.Join(local, "kafka", "libs")); err != nil {
		tb.Fatal(err)
	}
	stamp, err := os.ReadFile(filepath.Join(shared, "kafka", "libs.stamp"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "kafka", "libs.stamp"), stamp, 0o644); err != nil {
		tb.Fatal(err)
	}
	return root, local
}

// Kill SIGKILLs the broker and waits until it is gone.
func (k *Kafka) Kill() {
	k.tb.Helper()
	k.must("kill")
	waitClosed(k.tb, k.Brokers)
}

// Pause freezes the broker (SIGSTOP): its connections stay open and every
// request waits, as on a broker that has stalled. Resume undoes it.
func (k *Kafka) Pause() { k.tb.Helper(); k.signal(syscall.SIGSTOP) }

// Resume lets a paused broker run again (SIGCONT).
func (k *Kafka) Resume() { k.tb.Helper(); k.signal(syscall.SIGCONT) }

func (k *Kafka) signal(sig syscall.Signal) {
	k.tb.Helper()
	b, err := os.ReadFile(filepath.Join(k.local, "kafka", "kafka.pid"))
	if err != nil {
		k.tb.Fatalf("kafka: no pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		k.tb.Fatalf("kafka: bad pid file %q", b)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		k.tb.Fatalf("kafka: %s pid %d: %v", sig, pid, err)
	}
}

// waitClosed fails the test unless nothing accepts connections on addr
// within 10 s.
func waitClosed(tb testing.TB, addr string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s still accepts connections 10s after SIGKILL", addr)
}

// Start (re)starts the broker on the same ports and data and waits until it
// answers metadata requests.
func (k *Kafka) Start() { k.tb.Helper(); k.must("start") }

// Log is the tail of the broker's log (for failure messages).
func (k *Kafka) Log(lines int) string {
	return tail(filepath.Join(k.local, "logs", "kafka.log"), lines)
}

// Redis is a private redis-server (no persistence: a kill loses its keys).
type Redis struct {
	script
	Addr string
}

// StartRedis starts a private redis-server on a free port.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	Require(tb, "PULSESTREAM_REDIS_ADDR")
	root := Root(tb)
	local := tb.TempDir()
	port := FreePort(tb)
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	r.script = script{tb: tb, path: filepath.Join(root, "scripts", "redis.sh"), local: local, env: []string{
		"PULSESTREAM_ROOT=" + root, "PULSESTREAM_LOCAL=" + local,
		"PULSESTREAM_REDIS_PORT=" + strconv.Itoa(port), "PULSESTREAM_REDIS_ADDR=" + r.Addr,
	}}
	tb.Cleanup(func() {
		if r.pid() > 0 {
			r.Kill()
		}
	})
	r.must("start")
	return r
}

func (r *Redis) pid() int {
	b, err := os.ReadFile(filepath.Join(r.local, "redis", "redis.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Kill SIGKILLs the redis-server (ours: its pid file is in our directory)
// and waits until its port is closed.
func (r *Redis) Kill() {
	r.tb.Helper()
	pid := r.pid()
	if pid <= 0 {
		r.tb.Fatal("redis: no pid file")
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = os.Remove(filepath.Join(r.local, "redis", "redis.pid"))
	waitClosed(r.tb, r.Addr)
}

// Start (re)starts the redis-server on the same port.
func (r *Redis) Start() { r.tb.Helper(); r.must("start") }

// Pause freezes the redis-server (SIGSTOP): its connections stay open and
// every command waits, as on a Redis that answers late. Resume undoes it.
func (r *Redis) Pause() { r.tb.Helper(); r.signal(syscall.SIGSTOP) }

// Resume lets a paused redis-server run again (SIGCONT).
func (r *Redis) Resume() { r.tb.Helper(); r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.tb.Helper()
	pid := r.pid()
	if pid <= 0 {
		r.tb.Fatal("redis: no pid file")
	}
	if err := syscall.Kill(pid, sig); err != nil {
		r.tb.Fatalf("redis: %s pid %d: %v", sig, pid, err)
	}
}

// Postgres is a private PostgreSQL cluster (initdb'ed on first start).
type Postgres struct {
	script
	URL  string
	addr string
}

// StartPostgres initialises and starts a private PostgreSQL 15 cluster on a
// free port (scripts/postgres.sh: role and database pulsestream).
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	Require(tb, "PULSESTREAM_POSTGRES_URL")
	root := Root(tb)
	local := tb.TempDir()
	// The server runs as user postgres: it must reach its data directory.
	for _, d := range []string{local, filepath.Dir(local)} {
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	port := FreePort(tb)
	p := &Postgres{addr: "127.0.0.1:" + strconv.Itoa(port),
		URL: "postgres://pulsestream:pulsestream@127.0.0.1:" + strconv.Itoa(port) + "/pulsestream?sslmode=disable"}
	p.script = script{tb: tb, path: filepath.Join(root, "scripts", "postgres.sh"), local: local, env: []string{
		"PULSESTREAM_ROOT=" + root, "PULSESTREAM_LOCAL=" + local,
		"PULSESTREAM_PG_PORT=" + strconv.Itoa(port), "PULSESTREAM_POSTGRES_URL=" + p.URL,
	}}
	tb.Cleanup(func() {
		if p.postmaster() > 0 {
			p.Kill()
		}
	})
	p.must("start")
	return p
}

func (p *Postgres) postmaster() int {
	b, err := os.ReadFile(filepath.Join(p.local, "postgres", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// Kill SIGKILLs the postmaster and every one of its children (a server
// crash: the next Start runs crash recovery) and waits until the port closes.
func (p *Postgres) Kill() {
	p.tb.Helper()
	pm := p.postmaster()
	if pm <= 0 {
		p.tb.Fatal("postgres: no running postmaster")
	}
	kids := childrenOf(pm)
	_ = syscall.Kill(pm, syscall.SIGKILL)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	waitClosed(p.tb, p.addr)
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range append(kids, pm) {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Start (re)starts the cluster on the same port and data directory.
func (p *Postgres) Start() { p.tb.Helper(); p.must("start") }

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// ClickHouse is a private local engine (tools/chdb-server on the chdb of the
// project's venv, `make infra` installs it) with its own data directory.
type ClickHouse struct {
	tb      testing.TB
	Addr    string
	python  string
	server  string
	dataDir string
	log     string
	cmd     *exec.Cmd
	args    []string     // extra chdb-server arguments (StartSecureClickHouse)
	ping    *http.Client // for /ping (https with the test CA when secured)
	scheme  string
}

// StartClickHouse starts a private chdb-server on a free port.
func StartClickHouse(tb testing.TB) *ClickHouse {
	tb.Helper()
	return startClickHouse(tb, nil)
}

func startClickHouse(tb testing.TB, configure func(*ClickHouse)) *ClickHouse {
	tb.Helper()
	Require(tb, "PULSESTREAM_CLICKHOUSE_ADDR")
	root := Root(tb)
	shared := os.Getenv("PULSESTREAM_LOCAL")
	if shared == "" {
		shared = filepath.Join(root, ".local")
	}
	c := &ClickHouse{tb: tb, Addr: "127.0.0.1:" + strconv.Itoa(FreePort(tb)),
		python: filepath.Join(shared, "venv", "bin", "python"), server: filepath.Join(root, "tools", "chdb-server", "chdb_server.py"),
		dataDir: tb.TempDir(), ping: http.DefaultClient, scheme: "http"}
	c.log = filepath.Join(c.dataDir, "chdb-server.log")
	for _, f := range []string{c.python, c.server} {
		if _, err := os.Stat(f); err != nil {
			tb.Fatalf("%v: run `make infra` first", err)
		}
	}
	tb.Cleanup(func() {
		if c.cmd != nil {
			c.Kill()
		}
	})
	if configure != nil {
		configure(c)
	}
	c.Start()
	return c
}

// Start (re)starts the engine on the same port and data and waits for /ping.
func (c *ClickHouse) Start() {
	c.tb.Helper()
	f, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer f.Close()
	host, port, _ := net.SplitHostPort(c.Addr)
	cmd := exec.Command(c.python, append([]string{c.server, "--host", host, "--port", port, "--data-dir", filepath.Join(c.dataDir, "data"), "--quiet"}, c.args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.tb.Fatal(err)
	}
	c.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.ping.Get(c.scheme + "://" + c.Addr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("private chdb-server did not answer /ping within 60s:\n%s", tail(c.log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CPUSeconds is the user+system CPU time the running engine has used.
func (c *ClickHouse) CPUSeconds() float64 {
	c.tb.Helper()
	s, err := ProcessCPUSeconds(c.cmd.Process.Pid)
	if err != nil {
		c.tb.Fatal(err)
	}
	return s
}

// ProcessCPUSeconds is the user+system CPU time of process pid, from
// /proc/<pid>/stat.
func ProcessCPUSeconds(pid int) (float64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3; utime and stime are fields 14 and 15, in clock ticks (100/s).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command", pid, len(f))
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (u + s) / 100, nil
}

// Kill SIGKILLs the engine and waits for its exit.
func (c *ClickHouse) Kill() {
	c.tb.Helper()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	c.cmd = nil
	waitClosed(c.tb, c.Addr)
}

// Build compiles the Go main package in dir (relative to the repository
// root, e.g. "services/gateway") into a temporary binary and returns its path.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	root := Root(tb)
	bin := filepath.Join(tb.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// Proc is a service binary the test started (and may kill).
type Proc struct {
	tb   testing.TB
	bin  string
	args []string
	log  string
	cmd  *exec.Cmd
}

// Spawn starts bin with args (flags only: no PULSESTREAM_* from the test's
// environment), output appended to a log file; it is killed at cleanup.
func Spawn(tb testing.TB, bin string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{tb: tb, bin: bin, args: args, log: filepath.Join(tb.TempDir(), filepath.Base(bin)+".log")}
	p.Start()
	tb.Cleanup(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// Start (re)starts the binary with the same arguments.
func (p *Proc) Start() {
	p.tb.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.tb.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		p.tb.Fatal(err)
	}
	p.cmd = cmd
}

// Signal sends sig and waits up to timeout for the exit (then SIGKILL); it
// returns the exit error (nil for a clean exit).
func (p *Proc) Signal(sig syscall.Signal, timeout time.Duration) error {
	p.tb.Helper()
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		err = fmt.Errorf("%s: no exit %s after %s: killed", filepath.Base(p.bin), sig, timeout)
		<-done
	}
	p.cmd = nil
	return err
}

// Pid is the process id of the running binary, 0 when it is stopped.
func (p *Proc) Pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Log is the tail of the process's output.
func (p *Proc) Log(lines int) string { return tail(p.log, lines) }

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
