// Package app wires the query service: PostgreSQL, ClickHouse and Redis
// clients, the tenant-scoped read API with /livez, /readyz and /metrics on the
// public listener, and the tenancy admin API on a second, private listener.
// All wiring is in New; main only parses config and runs the App.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/clickhouse"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/platform/httpserver"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/pgnotify"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/redis"
	"github.com/pulsestream/pulsestream/platform/runner"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/platform/tracing"
	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/console"
	"github.com/pulsestream/pulsestream/services/query/internal/cursor"
	"github.com/pulsestream/pulsestream/services/query/internal/dlq"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

// Config is the query service's settings.
type Config struct {
	Log        logging.Config
	HTTP       httpserver.Config
	Admin      httpserver.Config
	Postgres   postgres.Config
	ClickHouse clickhouse.Config
	Redis      redis.Config
	Runner     runner.Config
	Auth       tenancy.Config
	Health     observe.HealthConfig
	Query      QueryConfig
	Tracing    tracing.Config
	Console    ConsoleConfig
	Kafka      kafka.Config // the DLQ API: reads kafka-dlq-topic, re-drives into kafka-topic
	ReadModels dlq.ReadModels
}

// ConsoleConfig is the web console's settings: on or off, and its own
// listener (console-addr, ...). It serves the admin API too, so keep that
// listener private like admin-addr.
type ConsoleConfig struct {
	Enabled bool
	HTTP    httpserver.Config
}

// RegisterFlags defines console and the console-* listener flags.
func (c *ConsoleConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "console", true, "serve the web console (and, on its origin, the query and admin APIs it calls) on console-addr")
	c.HTTP.RegisterFlags(fs, "console", "127.0.0.1:8091")
}

// Validate checks the listener when the console is on.
func (c *ConsoleConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	return c.HTTP.Validate()
}

// QueryConfig holds the settings of the read API itself.
type QueryConfig struct {
	Timeout       time.Duration
	CursorKey     string
	MarkersPrefix string
}

// RegisterFlags defines query-timeout, cursor-key and markers-prefix.
func (c *QueryConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Timeout, "query-timeout", 5*time.Second, "longest a read-model query may run; a slower one is cancelled and answered 503")
	fs.StringVar(&c.CursorKey, "cursor-key", "", "hex HMAC key (at least 32 bytes) signing search cursors; every replica needs the same one. Empty: a random key per process (cursors die with it)")
	fs.StringVar(&c.MarkersPrefix, "markers-prefix", markers.DefaultPrefix, "Redis key prefix of the gateway's accepted markers and monthly quota counters (the gateways' redis-key-prefix)")
}

// Validate names a bad setting.
func (c *QueryConfig) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("query-timeout: must be positive, got %s", c.Timeout))
	}
	if c.CursorKey != "" {
		if k, err := hex.DecodeString(c.CursorKey); err != nil || len(k) < 32 {
			errs = append(errs, errors.New("cursor-key: must be hex of at least 32 bytes (64 hex digits)"))
		}
	}
	return errors.Join(errs...)
}

// RegisterFlags defines every flag of the service.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Log.RegisterFlags(fs)
	c.HTTP.RegisterFlags(fs, "http", "127.0.0.1:8081")
	c.Admin.RegisterFlags(fs, "admin", "127.0.0.1:8090")
	c.Postgres.RegisterFlags(fs)
	c.ClickHouse.RegisterFlags(fs)
	c.Redis.RegisterFlags(fs)
	c.Runner.RegisterFlags(fs)
	c.Auth.RegisterFlags(fs)
	c.Health.RegisterFlags(fs)
	c.Query.RegisterFlags(fs)
	c.Tracing.RegisterFlags(fs)
	c.Console.RegisterFlags(fs)
	c.Kafka.RegisterFlags(fs)
	c.ReadModels.RegisterFlags(fs)
}

// Validate checks every component.
func (c *Config) Validate() error {
	return errors.Join(c.Log.Validate(), c.HTTP.Validate(), c.Admin.Validate(), c.Postgres.Validate(), c.ClickHouse.Validate(),
		c.Redis.Validate(), c.Runner.Validate(), c.Auth.Validate(), c.Health.Validate(), c.Query.Validate(), c.Tracing.Validate(), c.Console.Validate(), c.Kafka.Validate(), c.ReadModels.Validate())
}

// App is the wired service.
type App struct {
	logger  *slog.Logger
	health  *observe.Health
	public  *httpserver.Server
	admin   *httpserver.Server
	console *httpserver.Server // nil when the console is off
	closer  []func()
	runCfg  runner.Config
	notify  *pgnotify.Listener // purges the key cache on tenancy changes
	builds  *store.MeterBuilds // builds meter views in the background
}

// meterBuildGuard bounds how long one insert into events may run across
// the creation of a meter's view: a build splits history from new rows at
// the engine's clock + this guard and checks the split afterwards
// (store/meter_build.go). The local engine runs one statement at a time, so
// there no insert overlaps the view's creation at all.
const meterBuildGuard = 2 * time.Second

// New wires the service; it binds both listeners.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*App, error) {
	a := &App{logger: logger, runCfg: cfg.Runner}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	ctx := context.Background()
	tr, err := tracing.New(cfg.Tracing, "pulsestream-query")
	if err != nil {
		return nil, err
	}
	a.closer = append(a.closer, func() { tracing.ShutdownLogged(tr, logger) })

	key, err := cursorKey(cfg.Query.CursorKey, logger)
	if err != nil {
		return nil, err
	}
	codec, err := cursor.NewCodec(key)
	if err != nil {
		return nil, err
	}

	pool, err := postgres.Open(ctx, cfg.Postgres)
	if err != nil {
		return nil, err
	}
	a.closer = append(a.closer, pool.Close)
	ch, err := clickhouse.Open(cfg.ClickHouse)
	if err != nil {
		return nil, err
	}
	a.closer = append(a.closer, func() { _ = ch.Close() })
	rdb, err := redis.Open(cfg.Redis)
	if err != nil {
		return nil, err
	}
	a.closer = append(a.closer, func() { _ = rdb.Close() })
	// A server refusing our certificate or credentials stops the start here,
	// naming the setting; an unreachable one is left to readiness.
	if err := secure.Check(ctx, logger, postgres.Probe(pool.Ping, cfg.Postgres),
		clickhouse.Probe(ch.Ping, cfg.ClickHouse), redis.Probe(rdb, cfg.Redis)); err != nil {
		return nil, err
	}

	pg := store.NewPostgres(pool)
	tenants := tenancy.NewPGStore(pool)
	a.builds = store.NewMeterBuilds(ch, logger, meterBuildGuard, reg).WithDefinitions(tenants.ListMeters)
	chs := store.NewClickHouse(ch).WithMeterBuilds(a.builds)
	reg.MustRegister(chs.StatsAnswers())

	a.health = observe.NewHealth(reg, cfg.Health.Timeout)
	a.health.Add("postgres", pg.Ping)
	a.health.Add("clickhouse", chs.Ping)
	// Redis is not a readiness check: it only feeds the "accepted" step of
	// the status endpoint (which answers 503 while Redis is down); taking
	// search, lookups and statistics out of rotation for it would be wrong.

	auth := tenancy.NewCachedAuthenticator(tenants, cfg.Auth.CacheTTL, reg)
	a.notify = auth.ChangeListener(pool, logger)

	httpMetrics := httpapi.NewMetrics(reg, "query") // one set for both listeners: routes tell them apart
	dlqAPI, lag, err := a.dlqHandler(cfg, pool, auth, httpMetrics, tr, logger, reg)
	if err != nil {
		return nil, err
	}
	h := api.New(api.Deps{
		Events:       pg,
		Stats:        chs,
		MeterDefs:    tenants,
		Meters:       chs,
		Outcomes:     pg,
		Lag:          lag,
		Markers:      store.NewMarkers(rdb, cfg.Query.MarkersPrefix),
		Cursors:      codec,
		Auth:         auth,
		Ops:          observe.Handler(a.health, reg),
		QueryTimeout: cfg.Query.Timeout,
		Logger:       logger,
		Metrics:      httpMetrics,
		Trace:        tr.Middleware(),
	}).Handler()
	if a.public, err = httpserver.Listen(cfg.HTTP, h, logger); err != nil {
		return nil, err
	}
	sealer, err := cfg.Auth.Sealer() // Validate checked it
	if err != nil {
		return nil, err
	}
	admin := tenancy.NewAdmin(tenants, auth).WithSealer(sealer).WithUsage(tenancy.NewRedisUsage(rdb, cfg.Query.MarkersPrefix))
	adminHandler := adminWithDLQ(tenancy.AdminHandler(admin, auth, httpMetrics, logger,
		eventschemas.AdminRoutes(eventschemas.NewRegistry(pool), logger)), dlqAPI)
	if a.admin, err = httpserver.Listen(cfg.Admin, adminHandler, logger); err != nil {
		return nil, err
	}
	if cfg.Console.Enabled {
		consoleHandler, err := console.Handler(console.Deps{Query: h, Admin: adminHandler})
		if err != nil {
			return nil, err
		}
		if a.console, err = httpserver.Listen(cfg.Console.HTTP, consoleHandler, logger); err != nil {
			return nil, err
		}
	}
	ok = true
	return a, nil
}

// dlqHandler builds the DLQ API: a Kafka client (producing re-driven records
// to kafka-topic; nothing connects until the first request) and PostgreSQL.
// It also returns the read models' lag and a tenant's DLQ depth for the
// tenant API's GET /v1/lag.
func (a *App) dlqHandler(cfg Config, pool *pgxpool.Pool, auth tenancy.Authenticator, m *httpapi.Metrics, tr *tracing.Tracing, logger *slog.Logger,
	reg prometheus.Registerer) (http.Handler, api.LagFunc, error) {
	newClient := func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kafka.NewClient(cfg.Kafka, nil, logger, "pulsestream_query_dlq", opts...)
	}
	cl, err := newClient()
	if err != nil {
		return nil, nil, err
	}
	a.closer = append(a.closer, cl.Close)
	models, err := cfg.ReadModels.Parse() // Validate checked it
	if err != nil {
		return nil, nil, err
	}
	d := dlq.New(cl, newClient, pool, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	cache := dlq.NewLagCache(d, models, cfg.ReadModels.CacheTTL, reg) // one for both APIs
	lag := func(ctx context.Context, tenant string) (api.LagAnswer, error) {
		lags, err := cache.Lags(ctx)
		out := api.LagAnswer{AsOf: lags.AsOf, ReadModels: make([]api.ReadModelLag, len(lags.ReadModels))}
		for i, l := range lags.ReadModels {
			out.ReadModels[i] = api.ReadModelLag{ReadModel: l.ReadModel, Seconds: l.Seconds}
		}
		if lags.DLQDepths != nil {
			n := lags.DLQDepths[tenant]
			out.DLQDepth = &n
		}
		return out, err
	}
	return dlq.Handler(d, cache, auth, m, tr.Middleware(), logger), lag, nil
}

// adminWithDLQ serves the DLQ API beside the tenancy admin API.
func adminWithDLQ(admin, dlqAPI http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/admin/dlq", dlqAPI)
	mux.Handle("/v1/admin/dlq/", dlqAPI)
	mux.Handle("/v1/admin/lag", dlqAPI)
	mux.Handle("/v1/admin/erasures", dlqAPI)
	mux.Handle("/", admin)
	return mux
}

func cursorKey(hexKey string, logger *slog.Logger) ([]byte, error) {
	if hexKey != "" {
		k, err := hex.DecodeString(hexKey)
		if err != nil {
			return nil, fmt.Errorf("cursor-key: %w", err)
		}
		return k, nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("random cursor key: %w", err)
	}
	logger.Warn("cursor-key is not set: using a random key, so cursors do not survive a restart and differ between replicas")
	return k, nil
}

// PublicAddr is the bound address of the public listener.
func (a *App) PublicAddr() string { return a.public.Addr() }

// ConsoleAddr is the bound address of the console listener ("" when off).
func (a *App) ConsoleAddr() string {
	if a.console == nil {
		return ""
	}
	return a.console.Addr()
}

// AdminAddr is the bound address of the admin listener.
func (a *App) AdminAddr() string { return a.admin.Addr() }

// Run serves until SIGINT/SIGTERM or the end of ctx, then fails readiness,
// drains and closes.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	g := runner.New(a.runCfg, a.logger)
	g.OnSignal(a.health.ShutDown)
	g.Add(a.public.Serve, a.public.Shutdown)
	g.Add(a.admin.Serve, a.admin.Shutdown)
	if a.console != nil {
		g.Add(a.console.Serve, a.console.Shutdown)
	}
	if a.notify != nil {
		g.AddContext(a.notify.Run)
	}
	g.AddContext(a.builds.Run)
	return g.Run(ctx)
}

// Close releases the clients (Run does it on return).
func (a *App) Close() {
	for i := len(a.closer) - 1; i >= 0; i-- {
		a.closer[i]()
	}
	a.closer = nil
}
