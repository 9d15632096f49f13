package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
)

// phaseSpan separates the sequence numbers of phases: phase p uses
// [p*phaseSpan, (p+1)*phaseSpan), so a stored id tells its phase.
const phaseSpan = 1_000_000_000_000

// run is the state of one bench run.
type run struct {
	cfg      Config
	logf     func(string, ...any)
	id       string // lowercase, usable in tenant ids, topics and database names
	started  time.Time
	pgURL    string // the bench's own database
	ch       *clickhouse
	chAdmin  *clickhouse
	topic    string
	rawTopic string
	groups   []string
	prefix   string // Redis key prefix
	tenants  []string
	e2e      []string
	e2eHigh  []string // tenants of the second end-to-end phase
	schemaT  []string // tenants enforcing event schemas (the -schemas phases)
	keys     map[string]string
	secrets  map[string]string // signing secret of each tenant's key
	sealKey  string            // the gateway's signing-secret-key, random per run
	kadm     *kadm.Client
	kcl      *kgo.Client
	gateway  *service
	query    *service
	proj     *service
	procs    []proc
	profiles map[string]string // phase → flat perf profile
	cleanups []func()
}

func newRun(ctx context.Context, cfg Config, logf func(string, ...any)) (*run, error) {
	for _, t := range []string{cfg.Brokers, cfg.PGURL, cfg.RedisAddr, cfg.CHAddr} {
		for _, one := range strings.Split(t, ",") {
			if err := load.CheckLoopback(ctx, one); err != nil {
				return nil, err
			}
		}
	}
	now := time.Now().UTC()
	id := "bench" + now.Format("0102150405")
	b := &run{cfg: cfg, logf: logf, id: id, started: now, topic: id + ".events", rawTopic: id + ".raw",
		groups: []string{id + "-pg", id + "-ch"}, prefix: id + ":", keys: map[string]string{}, secrets: map[string]string{}}
	for i := range cfg.Tenants {
		b.tenants = append(b.tenants, fmt.Sprintf("%s-t%d", id, i))
	}
	for i := range cfg.Tenants * boolInt(cfg.Schemas) {
		b.schemaT = append(b.schemaT, fmt.Sprintf("%s-s%d", id, i))
	}
	b.e2e = []string{id + "-e2e0", id + "-e2e1"}
	if cfg.E2ERateHigh > 0 {
		b.e2eHigh = []string{id + "-e2e2", id + "-e2e3"}
	}
	if err := mkdirs(cfg.WorkDir, cfg.ResultsDir); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *run) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func (b *run) onCleanup(f func()) { b.cleanups = append(b.cleanups, f) }

// setup creates the databases, migrates them, creates tenants and keys,
// and starts gateway and query.
func (b *run) setup(ctx context.Context) error {
	var err error
	var seal [32]byte
	if _, err := rand.Read(seal[:]); err != nil {
		return err
	}
	b.sealKey = hex.EncodeToString(seal[:])
	if b.pgURL, err = withDatabase(b.cfg.PGURL, b.id); err != nil {
		return fmt.Errorf("postgres url: %w", err)
	}
	b.logf("setup: PostgreSQL database %s, ClickHouse database %s, topic %s", b.id, b.id, b.topic)
	if err := pgExec(ctx, b.cfg.PGURL, "CREATE DATABASE "+b.id); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	b.onCleanup(func() {
		if !b.cfg.Keep {
			b.warn(dropDatabase(b.cfg.PGURL, b.id))
		}
	})
	b.chAdmin = newClickHouse(b.cfg.CHAddr, "")
	b.ch = newClickHouse(b.cfg.CHAddr, b.id)
	if err := b.chAdmin.exec(ctx, "CREATE DATABASE IF NOT EXISTS "+b.id); err != nil {
		return err
	}
	b.onCleanup(func() {
		if !b.cfg.Keep {
			b.warn(b.chAdmin.exec(context.Background(), "DROP DATABASE IF EXISTS "+b.id))
		}
	})
	if err := b.command(ctx, "migrate", "up", "-postgres-url", b.pgURL, "-clickhouse-addr", b.cfg.CHAddr, "-clickhouse-database", b.id, "-log-level", "warn"); err != nil {
		return err
	}
	if err := b.kafka(ctx); err != nil {
		return err
	}
	for _, t := range append(append(append(append([]string{}, b.tenants...), b.e2e...), b.e2eHigh...), b.schemaT...) {
		if err := b.tenant(ctx, t); err != nil {
			return err
		}
	}
	if err := b.enforceSchemas(ctx); err != nil {
		return err
	}
	b.procs = infraProcs(b.cfg.LocalDir)
	b.procs = append(b.procs, proc{name: "loadgen", pid: os.Getpid()})
	gwArgs := []string{"-gateway-addr", "ADDR", "-kafka-brokers", b.cfg.Brokers, "-kafka-topic", b.topic,
		"-kafka-dlq-topic", b.topic + ".dlq", "-kafka-partitions", strconv.Itoa(b.cfg.Partitions), "-redis-addr", b.cfg.RedisAddr,
		"-redis-key-prefix", b.prefix, "-marker-ttl", "30m", "-postgres-url", b.pgURL, "-signing-secret-key", b.sealKey, "-log-level", "warn"}
	if b.cfg.Schemas { // gateways older than event schemas have no quarantine
		gwArgs = append(gwArgs, "-quarantine-topic", b.topic+".quarantine", "-quarantine-group", b.id+"-quarantine")
	}
	if b.gateway, err = b.start(ctx, "gateway", gwArgs...); err != nil {
		return err
	}
	b.query, err = b.start(ctx, "query", "-http-addr", "ADDR", "-admin-addr", "ADDR2", "-postgres-url", b.pgURL,
		"-clickhouse-addr", b.cfg.CHAddr, "-clickhouse-database", b.id, "-redis-addr", b.cfg.RedisAddr, "-markers-prefix", b.prefix, "-log-level", "warn", "-console=false")
	return err
}

func (b *run) warn(err error) {
	if err != nil {
		b.logf("cleanup: %v", err)
	}
}

// kafka creates the raw topic (the gateway creates its own) and removes
// every topic and consumer group of the run at the end.
func (b *run) kafka(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(b.cfg.Brokers, ",")...))
	if err != nil {
		return err
	}
	b.kcl, b.kadm = cl, kadm.NewClient(cl)
	b.onCleanup(func() {
		defer cl.Close()
		if b.cfg.Keep {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := b.kadm.DeleteGroups(ctx, b.groups...); err != nil {
			b.warn(fmt.Errorf("delete groups: %w", err))
		}
		if _, err := b.kadm.DeleteGroups(ctx, b.id+"-quarantine"); err != nil {
			b.warn(fmt.Errorf("delete groups: %w", err))
		}
		if _, err := b.kadm.DeleteTopics(ctx, b.topic, b.topic+".dlq", b.topic+".quarantine", b.rawTopic); err != nil {
			b.warn(fmt.Errorf("delete topics: %w", err))
		}
	})
	resp, err := b.kadm.CreateTopic(ctx, int32(b.cfg.Partitions), 1, nil, b.rawTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", b.rawTopic, err)
	}
	return nil
}

// tenant creates tenant t with a key and lifts its rate limit above any
// load this machine can offer.
func (b *run) tenant(ctx context.Context, t string) error {
	out, err := b.output(ctx, "pulsectl", "bootstrap", "--tenant", t, "--format", "json", "--postgres-url", b.pgURL, "--signing-secret-key", b.sealKey)
	if err != nil {
		return err
	}
	var created struct {
		Key struct {
			Key           string `json:"key"`
			SigningSecret string `json:"signing_secret"`
		} `json:"key"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Key.Key == "" || created.Key.SigningSecret == "" {
		return fmt.Errorf("pulsectl bootstrap %s: no key and signing secret in %q (%v)", t, out, err)
	}
	b.keys[t], b.secrets[t] = created.Key.Key, created.Key.SigningSecret
	return b.command(ctx, "pulsectl", "tenants", "set", "--rate-limit-per-sec", "100000000", "--rate-limit-burst", "100000000", "--postgres-url", b.pgURL, t)
}

func (b *run) output(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.cfg.Bin, bin), args...)
	cmd.Env = minimalEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args[:min(2, len(args))], " "), err, stderr.String())
	}
	return out, nil
}

func (b *run) command(ctx context.Context, bin string, args ...string) error {
	_, err := b.output(ctx, bin, args...)
	return err
}

// start starts a service; "ADDR" and "ADDR2" in args become free ports,
// the first one serving /readyz.
func (b *run) start(ctx context.Context, name string, args ...string) (*service, error) {
	var addr string
	for i, a := range args {
		if a == "ADDR" || a == "ADDR2" {
			free, err := freeAddr()
			if err != nil {
				return nil, err
			}
			args[i] = free
			if a == "ADDR" {
				addr = free
			}
		}
	}
	s, err := startService(ctx, name, filepath.Join(b.cfg.Bin, name), addr, filepath.Join(b.cfg.WorkDir, b.id+"-"+name+".log"), args...)
	if err != nil {
		return nil, err
	}
	b.onCleanup(func() { b.warn(s.stop(40 * time.Second)) })
	b.procs = append(b.procs, proc{name: name, pid: s.pid()})
	b.logf("setup: %s pid %d on %s", name, s.pid(), addr)
	return s, nil
}

// genConfig is the event generator of phase p over tenants.
func (b *run) genConfig(tenants []string) gen.Config {
	return gen.Config{Prefix: b.id, Tenants: tenants, DataBytes: b.cfg.DataBytes, Base: b.started.Truncate(time.Hour)}
}
