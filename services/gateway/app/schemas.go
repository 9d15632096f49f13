package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/runner"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/services/gateway/quarantine"
	"github.com/pulsestream/pulsestream/services/gateway/schemacheck"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

// schemaParts are the event schemas and the quarantine of a gateway with
// PostgreSQL: the checker kept current by NOTIFY, the quarantine's producer
// side in the ingest handler, its API, and three actors (the listener, the
// quarantine projection, the expiry sweep).
type schemaParts struct {
	checker *schemacheck.Checker
	api     *quarantine.Handler
	actors  []func(context.Context) error
	qclient *kgo.Client
}

// wireSchemas adds event schemas and the quarantine to h (nothing without
// PostgreSQL: tests that replace every PostgreSQL dependency).
func (a *App) wireSchemas(cfg Config, reg *prometheus.Registry, extra []kgo.Opt, svc *ingest.Service, v *decode.Validator, h *ingest.Handler) error {
	if a.pool == nil {
		return nil
	}
	checker := schemacheck.New(eventschemas.NewRegistry(a.pool), reg, a.logger)
	store := quarantine.NewPGStore(a.pool)
	cl, err := kafka.NewClient(cfg.Kafka, reg, a.logger, "pulsestream_gateway_quarantine",
		append(quarantine.ConsumerOpts(cfg.Quarantine.Topic, cfg.Quarantine.Group), extra...)...)
	if err != nil {
		return fmt.Errorf("quarantine consumer: %w", err)
	}
	a.schemas = &schemaParts{checker: checker, qclient: cl}
	h.WithSchemas(checker, quarantine.NewHolder(cfg.Quarantine.Topic, a.producer, checker.Rules, a.logger))
	lim := decode.Limits{MaxEventBytes: cfg.Ingest.MaxEventBytes, MaxEvents: cfg.Ingest.MaxEvents, MaxDepth: cfg.Ingest.MaxDepth}
	a.schemas.api = quarantine.NewHandler(store, quarantine.NewReplayer(store, v, checker, svc, lim), tenancy.PrincipalFrom, a.logger)
	listener := checker.Listen(a.pool, cfg.Schemas)
	proj := quarantine.NewProjection(cl, store, reg, a.logger)
	sweeper := quarantine.NewSweeper(store, cfg.Quarantine.SweepInterval, a.logger)
	a.schemas.actors = []func(context.Context) error{listener.Run, proj.Run, sweeper.Run}
	// The rules before the first request; should PostgreSQL not answer
	// now, the listener keeps trying.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Postgres.DialTimeout)
	checker.Resync(ctx)
	cancel()
	return nil
}

// addSchemaActors runs the schema parts' actors in g.
func (a *App) addSchemaActors(g *runner.Group) {
	if a.schemas != nil {
		for _, fn := range a.schemas.actors {
			g.AddContext(fn)
		}
	}
}

// quarantineAPI registers the quarantine routes (nil without PostgreSQL).
func (a *App) quarantineAPI() func(gin.IRoutes) {
	if a.schemas == nil {
		return nil
	}
	return a.schemas.api.Register
}

// quarantineLeaveWait bounds how long a stopping gateway waits for its
// quarantine consumer to leave the consumer group.
const quarantineLeaveWait = 3 * time.Second

// closeWithin closes cl but waits for it at most wait. franz-go's Close
// first finishes a group join in progress before it leaves, and a join lasts
// until every member has rejoined or the rebalance timeout passed (a minute
// when a member hangs or died without leaving): longer than a pod's grace
// period. Nothing is lost by not waiting: the projection commits only what is
// stored, and the group drops a member that did not leave after its session
// timeout.
func closeWithin(cl *kgo.Client, wait time.Duration, logger *slog.Logger) {
	done := make(chan struct{})
	go func() {
		cl.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		logger.Warn("quarantine consumer still leaving its group; stopping without waiting for it", "waited", wait)
	}
}
