// Package app wires the projector: one franz-go consumer group per read model
// (PostgreSQL, ClickHouse), each with its own client and committed position so
// either read model can be rebuilt alone, a shared DLQ producer, and the
// /livez /readyz /metrics server. New is the only wiring function; main only
// parses the configuration and calls it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/clickhouse"
	"github.com/pulsestream/pulsestream/platform/httpserver"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/runner"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/platform/tracing"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/pgsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
	"github.com/pulsestream/pulsestream/services/projector/internal/retention"
)

// decodeAhead is how many decoded records (each holding its record and
// decoded event, ~2-3 KB) one sink may be ahead of the other and still share
// its decodes: 5 batches of the former default batch size. A count of
// records, not of batches, so that bigger batches (issue 14: 20,000 by
// default) do not also multiply this memory; at least two batches.
const decodeAhead = 50_000

// App is a wired projector.
type App struct {
	cfg     Config
	logger  *slog.Logger
	health  *observe.Health
	server  *httpserver.Server
	admin   *kgo.Client // DLQ producer and admin requests
	pool    *pgxpool.Pool
	ch      driver.Conn
	sinks   []*sinkRun
	closers []func()
	sweeper *retention.Sweeper // nil: retention off, or a replay
}

type sinkRun struct {
	name     string
	group    string
	client   *kgo.Client
	consumer *consumer.Consumer
	replay   *replayParts // replay mode: built after the offsets are reset
}

// New builds the projector from cfg. It opens clients but does not wait for
// the stores: /readyz shows what is unreachable.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (_ *App, err error) {
	// a, not the result: `return nil, err` must still close what was opened
	a := &App{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := tracing.New(cfg.Tracing, "pulsestream-projector")
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { tracing.ShutdownLogged(tr, logger) }) // runs last: after the consumers' spans end

	a.admin, err = kafka.NewClient(cfg.Kafka, reg, logger, "pulsestream_projector_dlq",
		// DLQ records must not be lost: keep franz-go's idempotent acks=all producer.
		kgo.DefaultProduceTopic(cfg.Kafka.DLQTopic))
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.admin.Close)
	// A server refusing our certificate or credentials stops the start here,
	// naming the setting; an unreachable one is left to readiness.
	if err := secure.Check(ctx, logger, kafka.Probe(a.admin, cfg.Kafka)); err != nil {
		return nil, err
	}
	if err := kafka.EnsureTopics(ctx, a.admin, cfg.Kafka); err != nil {
		return nil, err
	}
	a.health = observe.NewHealth(reg, cfg.Health.Timeout)
	a.health.Add("kafka", func(ctx context.Context) error { return kafka.Ping(ctx, a.admin) })
	m := consumer.NewMetrics(reg)

	sinks := cfg.Projector.SinkList()
	if cfg.Replay.Enabled {
		sinks = []string{cfg.Replay.Sink}
	}
	// The sinks read the same records: each is decoded once. Up to
	// decodeAhead decoded records wait for the slower sink.
	dec := record.NewShared(len(sinks), max(decodeAhead, 2*cfg.Projector.BatchSize))
	policy, err := a.retentionPolicy(ctx, reg)
	if err != nil {
		return nil, err
	}
	for _, name := range sinks {
		var (
			sink  consumer.Sink
			group string
			ping  observe.Check
		)
		switch name {
		case SinkPostgres:
			if err := a.openPostgres(ctx); err != nil {
				return nil, err
			}
			s := pgsink.New(a.pool)
			sink, group, ping = s, cfg.Projector.GroupPostgres, s.Ping
		case SinkClickHouse:
			a.ch, err = clickhouse.Open(cfg.ClickHouse)
			if err != nil {
				return nil, err
			}
			conn := a.ch
			a.closers = append(a.closers, func() { _ = conn.Close() })
			if err := secure.Check(ctx, logger, clickhouse.Probe(conn.Ping, cfg.ClickHouse)); err != nil {
				return nil, err
			}
			s := chsink.New(a.ch)
			s.KnownMax = cfg.Projector.KnownKeys
			sink, group, ping = s, cfg.Projector.GroupClickHouse, s.Ping
		}
		if policy != nil {
			sink = retention.NewFilter(sink, policy)
		}
		ccfg := consumer.Config{
			Group: group, Topic: cfg.Kafka.Topic, DLQTopic: cfg.Kafka.DLQTopic,
			BatchSize: cfg.Projector.BatchSize, Linger: cfg.Projector.Linger, WriteTimeout: cfg.Projector.WriteTimeout,
			BackoffMin: cfg.Projector.BackoffMin, BackoffMax: cfg.Projector.BackoffMax, SessionTimeout: cfg.Projector.SessionTimeout, Parallelism: writeParallelism(name),
			Decoder: dec, Tracer: tr.Tracer("pulsestream/projector"), TraceOpts: tr.KafkaOpts(group),
		}
		var cl *kgo.Client
		rb := consumer.NewRebalances()
		if !cfg.Replay.Enabled {
			// Replay builds its client after resetting the group's offsets.
			cl, err = kafka.NewClient(cfg.Kafka, reg, logger, "pulsestream_projector_"+name, consumer.GroupOpts(ccfg, rb)...)
			if err != nil {
				return nil, err
			}
			a.closers = append(a.closers, cl.Close)
		}
		sr := &sinkRun{name: name, group: group, client: cl}
		if cl != nil {
			sr.consumer = consumer.New(ccfg, cl, a.admin, sink, m, logger, rb)
			c := sr.consumer
			a.health.Add(name, func(ctx context.Context) error {
				if err := ping(ctx); err != nil {
					return err
				}
				return c.Healthy(ctx)
			})
		} else {
			sr.replay = &replayParts{cfg: ccfg, sink: sink, metrics: m, reg: reg}
		}
		a.sinks = append(a.sinks, sr)
	}
	if policy != nil && !cfg.Replay.Enabled {
		var pg *pgxpool.Pool
		if slices.Contains(sinks, SinkPostgres) {
			pg = a.pool
		}
		a.sweeper = retention.NewSweeper(cfg.Retention, policy, pg, a.ch, logger, reg)
	}
	if !cfg.Replay.Enabled {
		a.server, err = httpserver.Listen(cfg.HTTP, observe.Handler(a.health, reg), logger)
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Addr is the bound address of the ops server ("" in replay mode).
func (a *App) Addr() string {
	if a.server == nil {
		return ""
	}
	return a.server.Addr()
}

// Run runs the projector (or the replay) until SIGINT/SIGTERM, the end of
// ctx, a fatal error, or (replay) until the read model caught up. A replay
// stopped before it caught up is an error.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	g := runner.New(a.cfg.Runner, a.logger)
	g.OnSignal(a.health.ShutDown)
	if a.cfg.Replay.Enabled {
		var replayErr error
		g.AddContext(func(ctx context.Context) error {
			replayErr = a.replay(ctx)
			return replayErr
		})
		if err := g.Run(ctx); err != nil {
			return err
		}
		return replayErr
	}
	g.Add(a.server.Serve, a.server.Shutdown)
	if a.sweeper != nil {
		g.AddContext(a.sweeper.Run)
	}
	for _, s := range a.sinks {
		g.AddContext(s.consumer.Run)
		g.AddContext(func(ctx context.Context) error { return s.consumer.ReportLag(ctx, a.cfg.Projector.LagInterval) })
	}
	return g.Run(ctx)
}

// Close releases every client (idempotent).
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

type replayParts struct {
	cfg     consumer.Config
	sink    consumer.Sink
	metrics *consumer.Metrics
	reg     prometheus.Registerer
}

// replay rebuilds one read model: drop its rows when asked, move the sink's
// group to the start of the topic (or the first offset at/after a time), then
// consume until every partition's committed offset reaches the end offset seen
// at the start, and return.
func (a *App) replay(ctx context.Context) error {
	s := a.sinks[0]
	rc := a.cfg.Replay
	adm := kadm.NewClient(a.admin)
	var (
		listed kadm.ListedOffsets
		err    error
	)
	if from := rc.From(); !from.IsZero() {
		listed, err = adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), a.cfg.Kafka.Topic)
	} else {
		listed, err = adm.ListStartOffsets(ctx, a.cfg.Kafka.Topic)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return fmt.Errorf("list %s offsets: %w", a.cfg.Kafka.Topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, a.cfg.Kafka.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list %s end offsets: %w", a.cfg.Kafka.Topic, err)
	}
	if rc.Drop {
		a.logger.Warn("dropping the read model's rows before replay", "sink", s.name)
		switch s.name {
		case SinkPostgres:
			err = pgsink.Truncate(ctx, a.pool)
		case SinkClickHouse:
			err = chsink.Truncate(ctx, a.ch)
		}
		if err != nil {
			return err
		}
	}
	// Kafka refuses offset commits for a group with live members: stop the
	// running projector's sink before a replay.
	if err := adm.CommitAllOffsets(ctx, s.group, listed.Offsets()); err != nil {
		return fmt.Errorf("reset offsets of group %s (stop the projector's %s sink first): %w", s.group, s.name, err)
	}
	until, start := map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { until[o.Partition] = o.Offset })
	listed.Each(func(o kadm.ListedOffset) { start[o.Partition] = o.Offset })
	a.logger.Info("replay started", "sink", s.name, "group", s.group, "from", rc.FromTimestamp, "drop", rc.Drop)

	rp := s.replay
	rb := consumer.NewRebalances()
	cl, err := kafka.NewClient(a.cfg.Kafka, rp.reg, a.logger, "pulsestream_projector_"+s.name, consumer.GroupOpts(rp.cfg, rb)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	c := consumer.New(rp.cfg, cl, a.admin, rp.sink, rp.metrics, a.logger, rb)
	c.StopAt(until, start)
	if err := c.Run(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("replay interrupted before it caught up")
	}
	a.logger.Info("replay caught up", "sink", s.name)
	return nil
}

// openPostgres opens the pool once (the PostgreSQL sink and retention share it).
func (a *App) openPostgres(ctx context.Context) error {
	if a.pool != nil {
		return nil
	}
	pool, err := postgres.Open(ctx, a.cfg.Postgres)
	if err != nil {
		return err
	}
	a.pool = pool
	a.closers = append(a.closers, pool.Close)
	return secure.Check(ctx, a.logger, postgres.Probe(pool.Ping, a.cfg.Postgres))
}

// retentionPolicy is the tenants' retention (nil when retention-interval is
// 0), read from PostgreSQL. A replay must know it before its first write (a
// replay never restores expired events) and fails without it; the running
// projector logs the failure and reads it again at its first sweep.
func (a *App) retentionPolicy(ctx context.Context, reg prometheus.Registerer) (*retention.Policy, error) {
	if a.cfg.Retention.Interval == 0 {
		return nil, nil
	}
	if err := a.openPostgres(ctx); err != nil {
		return nil, err
	}
	p := retention.NewPolicy(a.pool, reg)
	if err := p.Load(ctx); err != nil {
		if a.cfg.Replay.Enabled {
			return nil, err
		}
		a.logger.Warn("tenants' retention not read yet; the first sweep reads it", "err", err)
	}
	return p, nil
}
