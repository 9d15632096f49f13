package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/platform/httpserver"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/pgnotify"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/redis"
	"github.com/pulsestream/pulsestream/platform/runner"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/platform/tracing"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/services/gateway/outcomes"
	"github.com/pulsestream/pulsestream/services/gateway/signature"
	"github.com/pulsestream/pulsestream/tenancy"
)

// App is a wired gateway.
type App struct {
	cfg      Config
	logger   *slog.Logger
	health   *observe.Health
	router   *gin.Engine
	server   *httpserver.Server
	kafka    *kgo.Client
	producer *ingest.Producer
	tracing  *tracing.Tracing
	redis    *goredis.Client
	pool     *pgxpool.Pool
	worker   *erasure.Worker   // nil when deps replace the erasure store
	outcomes *outcomes.Counter // nil without PostgreSQL
	schemas  *schemaParts      // nil without PostgreSQL
	// notify purges the key cache on tenancy changes; nil when deps
	// replace the authenticator.
	notify *pgnotify.Listener
}

// New builds the gateway: Kafka producer (topics ensured when configured),
// Redis, the PostgreSQL-backed cached authenticator, the router, the
// listener. Nothing runs until Run.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*App, error) {
	return build(cfg, logger, reg, deps{})
}

// deps replaces real dependencies in tests; nil fields get the real ones.
type deps struct {
	auth    tenancy.Authenticator
	markers ingest.MarkerStore
	limiter ingest.Limiter
	kafka   []kgo.Opt // extra client options (tests: a dialer through a cuttable proxy)
	// erasures records deletions and erasure requests; nil: PostgreSQL,
	// and the erasure worker runs in this process.
	erasures erasureStore
	// audit records signature refusals; nil: PostgreSQL.
	audit signature.Auditor
}

// erasureStore is what the handlers need of erasure.PGStore.
type erasureStore interface {
	erasure.RequestStore
	ingest.DeleteAuditor
	ingest.ErasedLookup
}

func build(cfg Config, logger *slog.Logger, reg *prometheus.Registry, d deps) (*App, error) {
	gin.SetMode(gin.ReleaseMode)
	a := &App{cfg: cfg, logger: logger}
	ok := false
	var err error
	defer func() {
		if !ok {
			a.close()
		}
	}()
	if a.tracing, err = tracing.New(cfg.Tracing, "pulsestream-gateway"); err != nil {
		return nil, err
	}
	// Tracing off adds no option: the producer runs without hooks.
	kopts := append(append(append(cfg.Producer.ProducerOpts(), kgo.DefaultProduceTopic(cfg.Kafka.Topic)), d.kafka...), a.tracing.KafkaOpts("")...)
	cl, err := kafka.NewClient(cfg.Kafka, reg, logger, "pulsestream_gateway", kopts...)
	if err != nil {
		return nil, err
	}
	a.kafka = cl
	if a.redis, err = redis.Open(cfg.Redis); err != nil {
		return nil, err
	}
	probes := []secure.Probe{kafka.Probe(cl, cfg.Kafka), redis.Probe(a.redis, cfg.Redis)}
	if d.markers == nil {
		d.markers = ingest.NewRedisMarkers(a.redis, cfg.Ingest.RedisKeyPrefix, cfg.Ingest.MarkerTTL, cfg.Ingest.ErasedMarkerTTL)
	}
	if d.limiter == nil {
		d.limiter = ingest.NewRedisLimiter(a.redis, cfg.Ingest.RedisKeyPrefix)
	}
	// Readiness: what ingestion cannot work without. Redis is left out on
	// purpose: without it ingestion goes on (fail-open), only without dedup.
	a.health = observe.NewHealth(reg, cfg.Health.Timeout)
	a.health.Add("kafka", func(ctx context.Context) error { return kafka.Ping(ctx, cl) })
	if d.auth == nil || d.erasures == nil || d.audit == nil {
		a.pool, err = postgres.Open(context.Background(), cfg.Postgres)
		if err != nil {
			return nil, err
		}
		probes = append(probes, postgres.Probe(a.pool.Ping, cfg.Postgres))
	}
	// A server refusing our certificate or credentials stops the start here,
	// naming the setting; an unreachable one is left to readiness.
	if err := secure.Check(context.Background(), logger, probes...); err != nil {
		return nil, err
	}
	if cfg.Producer.EnsureTopics {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, cfg.Quarantine.Topic)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ensure topics: %w", err)
		}
	}
	if d.auth == nil {
		store := tenancy.NewPGStore(a.pool)
		auth := tenancy.NewCachedAuthenticator(store, cfg.Auth.CacheTTL, reg)
		a.notify = auth.ChangeListener(a.pool, logger)
		d.auth = auth
		a.health.Add("postgres", store.Ping)
	}

	v, err := decode.NewValidator()
	if err != nil {
		return nil, err
	}
	var metrics *ingest.Metrics
	a.producer = ingest.NewProducer(cl, cfg.Producer, func(d time.Duration) { metrics.ProduceLatency.Observe(d.Seconds()) })
	metrics = ingest.NewMetrics(reg, func() float64 { return float64(a.producer.Buffered()) })
	var es *erasure.PGStore // the real store: then the erasure worker runs in this process
	if d.erasures == nil {
		es = erasure.NewPGStore(a.pool, cfg.Kafka.Topic)
		d.erasures = es
		if d.auth != nil { // the tenancy store did not add PostgreSQL to readiness
			a.health.Add("postgres", es.Ping)
		}
	}
	quota := ingest.NewRedisQuota(a.redis, cfg.Ingest.RedisKeyPrefix)
	svc := ingest.NewService(cfg.Ingest, cfg.Kafka.Topic, ingest.Deps{Producer: a.producer, Markers: d.markers, Limiter: d.limiter,
		Audit: d.erasures, Erased: d.erasures, Quota: quota, Metrics: metrics, Logger: logger})
	if es != nil {
		var proj erasure.Projection
		if cfg.Erasure.ProjectorGroup != "" {
			proj = erasure.NewKafkaProjection(cl, cfg.Kafka.Topic, cfg.Erasure.ProjectorGroup)
		}
		a.worker = erasure.NewWorker(cfg.Erasure, es, svc, proj, reg, logger)
	}
	h := ingest.NewHandler(cfg.Ingest, svc, v, tenancy.PrincipalFrom, metrics)
	if a.pool != nil {
		a.outcomes = outcomes.New(cfg.Outcomes, outcomes.NewPGStore(a.pool), logger)
		h.WithOutcomes(a.outcomes)
	}
	if err := a.wireSchemas(cfg, reg, d.kafka, svc, v, h); err != nil {
		return nil, err
	}
	gate, err := a.signatureGate(cfg, reg, d.audit)
	if err != nil {
		return nil, err
	}

	a.router = NewRouter(RouterDeps{
		Ingest:    h,
		Erasure:   erasure.NewHandler(d.erasures, tenancy.PrincipalFrom, logger),
		Auth:      tenancy.Middleware(d.auth, tenancy.ScopeIngest),
		Signature: gate.Handler(),
		Extra:     a.quarantineAPI(),
		Ops:       observe.Handler(a.health, reg),
		Metrics:   httpapi.NewMetrics(reg, "gateway"),
		Trace:     a.tracing.Middleware(),
		Logger:    logger,
	})
	a.server, err = httpserver.Listen(cfg.HTTP, a.router, logger)
	if err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// signatureGate builds the request-signature check (nonces in Redis,
// refusals audited in PostgreSQL unless audit is given).
func (a *App) signatureGate(cfg Config, reg *prometheus.Registry, audit signature.Auditor) (*signature.Gate, error) {
	sealer, err := cfg.Auth.Sealer()
	if err != nil {
		return nil, err
	}
	if audit == nil {
		audit = signature.NewPGAuditor(a.pool)
	}
	// A nonce cannot be skipped like a marker (redis-op-timeout): its claim
	// waits as long as the client lets one round trip take. On the ingest
	// route it rides that request's round trip (ingest.TakesNonce).
	nonces, err := signature.NewRedisNonces(a.redis, cfg.Ingest.RedisKeyPrefix, cfg.Redis.WriteTimeout+cfg.Redis.ReadTimeout)
	if err != nil {
		return nil, err
	}
	return signature.New(cfg.Signature, signature.Deps{Sealer: sealer, Nonces: nonces,
		Audit: audit, Principal: tenancy.PrincipalFrom, MaxBody: cfg.Ingest.MaxRequestBytes, RetryAfter: cfg.Ingest.RetryAfter,
		Leave: ingest.TakesNonce, Logger: a.logger, Registry: reg}), nil
}

// Handler is the gateway's router (tests call it without a listener).
func (a *App) Handler() http.Handler { return a.router }

// Addr is the bound listen address.
func (a *App) Addr() string { return a.server.Addr() }

// Health is the readiness state (tests fail it to watch shutdown).
func (a *App) Health() *observe.Health { return a.health }

// Run serves until SIGINT/SIGTERM or the end of ctx: readiness fails first,
// the server drains in-flight requests, then the producer flushes what is
// buffered and closes.
func (a *App) Run(ctx context.Context) error {
	g := runner.New(a.cfg.Runner, a.logger)
	g.OnSignal(a.health.ShutDown)
	g.Add(a.server.Serve, a.server.Shutdown)
	a.addWorker(g)
	if a.outcomes != nil {
		g.AddContext(a.outcomes.Run)
	}
	a.addSchemaActors(g)
	if a.notify != nil {
		g.AddContext(a.notify.Run)
	}
	err := g.Run(ctx)
	a.close()
	return err
}

// addWorker runs the erasure worker as an actor of g: it stops when the
// group stops (its claimed erasure stays in PostgreSQL for the next claim).
func (a *App) addWorker(g *runner.Group) {
	if a.worker != nil {
		g.AddContext(a.worker.Run)
	}
}

// flushOutcomes stores the outcome counts the last flush left (after the
// server drained, so every answered request is counted).
func (a *App) flushOutcomes() {
	if a.outcomes == nil || a.pool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.outcomes.Flush(ctx); err != nil {
		a.logger.Warn("outcome counts not flushed at stop", "err", err)
	}
}

func (a *App) close() {
	if a.kafka != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Producer.DeliveryTimeout)
		if err := a.kafka.Flush(ctx); err != nil {
			a.logger.Warn("producer flush incomplete", "err", err)
		}
		cancel()
		a.kafka.Close()
		a.kafka = nil
	}
	if a.schemas != nil && a.schemas.qclient != nil {
		closeWithin(a.schemas.qclient, quarantineLeaveWait, a.logger)
		a.schemas.qclient = nil
	}
	tracing.ShutdownLogged(a.tracing, a.logger)
	a.flushOutcomes()
	if a.redis != nil {
		_ = a.redis.Close()
		a.redis = nil
	}
	if a.pool != nil {
		a.pool.Close()
		a.pool = nil
	}
}
