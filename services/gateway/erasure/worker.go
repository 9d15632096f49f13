package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// JobStore is the worker's view of the erasures table (PGStore).
type JobStore interface {
	Claim(ctx context.Context, owner string, lease time.Duration) (*Job, error)
	NextPage(ctx context.Context, j *Job, n int) ([]string, error)
	Begin(ctx context.Context, j *Job, ids []string, lease time.Duration) error
	End(ctx context.Context, j *Job) error
	Finish(ctx context.Context, j *Job) error
	Touch(ctx context.Context, j *Job, lease time.Duration) error
	Release(ctx context.Context, j *Job) error
}

// Tombstoner produces one tombstone per id of tenant (same key, hence same
// partition, as the event) and returns once Kafka acknowledged all of them.
type Tombstoner interface {
	Tombstones(ctx context.Context, tenant string, ids []string, erasureID string) error
}

// Worker works erasures: claim, then page through the subject's live events
// in PostgreSQL producing their tombstones, then mark done. Every step is in
// the erasures row, so a restarted worker resumes where the last one stopped.
type Worker struct {
	cfg    Config
	store  JobStore
	ts     Tombstoner
	proj   Projection // nil: do not wait for the projector
	logger *slog.Logger
	owner  string
	erased prometheus.Counter
	errors prometheus.Counter
}

// NewWorker returns a worker; owner names it in the erasures table. With a
// Projection it waits, before reading a subject's ids, until the projector
// has stored every event the topic held when the erasure was claimed.
func NewWorker(cfg Config, store JobStore, ts Tombstoner, proj Projection, reg prometheus.Registerer, logger *slog.Logger) *Worker {
	f := promauto.With(reg)
	return &Worker{cfg: cfg, store: store, ts: ts, proj: proj, logger: logger, owner: "gateway-" + ulid.Make().String(),
		erased: f.NewCounter(prometheus.CounterOpts{Name: "pulsestream_gateway_erasure_tombstones_total",
			Help: "Tombstones the erasure worker produced for subject erasures (acknowledged by Kafka)."}),
		errors: f.NewCounter(prometheus.CounterOpts{Name: "pulsestream_gateway_erasure_errors_total",
			Help: "Erasure worker steps that failed and will be retried."}),
	}
}

// Run works erasures until ctx is cancelled. Failures are logged and retried
// after the poll interval (a lost lease means another worker has the job).
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		worked, err := w.once(ctx)
		if err != nil && ctx.Err() == nil {
			w.errors.Inc()
			w.logger.Warn("erasure step failed; retrying", "err", err)
		}
		if worked && err == nil {
			t.Reset(0) // maybe more are waiting
		} else {
			t.Reset(w.cfg.PollInterval)
		}
	}
}

// once claims and finishes one erasure; it reports whether there was one.
func (w *Worker) once(ctx context.Context) (bool, error) {
	j, err := w.store.Claim(ctx, w.owner, w.cfg.Lease)
	if err != nil || j == nil {
		return false, err
	}
	err = w.work(ctx, j)
	if ctx.Err() != nil { // shutting down: let the next gateway (or this one, restarted) take it now
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := w.store.Release(rctx, j); rerr != nil {
			w.logger.Warn("erasure lease not released; another gateway takes it over after erasure-lease", "erasure_id", j.ID, "err", rerr)
		}
	}
	return true, err
}

func (w *Worker) work(ctx context.Context, j *Job) error {
	if err := w.waitProjected(ctx, j); err != nil {
		return err
	}
	if len(j.Inflight) > 0 { // the previous owner died while producing this page
		if err := w.produce(ctx, j, j.Inflight); err != nil {
			return err
		}
	}
	for {
		ids, err := w.store.NextPage(ctx, j, w.cfg.PageSize)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			if err := w.store.Finish(ctx, j); err != nil {
				return err
			}
			w.logger.Info("erasure done", "erasure_id", j.ID, "tenant", j.TenantID)
			return nil
		}
		if err := w.store.Begin(ctx, j, ids, w.cfg.Lease); err != nil {
			return err
		}
		if err := w.produce(ctx, j, ids); err != nil {
			return err
		}
	}
}

func (w *Worker) produce(ctx context.Context, j *Job, ids []string) error {
	if err := w.ts.Tombstones(ctx, j.TenantID, ids, j.ID); err != nil {
		return fmt.Errorf("erasure %s: %w", j.ID, err)
	}
	w.erased.Add(float64(len(ids)))
	if err := w.store.End(ctx, j); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return fmt.Errorf("erasure %s: %w", j.ID, err)
		}
		return err
	}
	return nil
}

// waitProjected returns once the projector's group committed the topic's
// current end offsets (so every event accepted before now is in the read
// model the ids come from), keeping the lease meanwhile.
func (w *Worker) waitProjected(ctx context.Context, j *Job) error {
	if w.proj == nil {
		return nil
	}
	target, err := w.proj.EndOffsets(ctx)
	if err != nil {
		return err
	}
	logged := time.Now()
	for {
		ok, err := w.proj.Reached(ctx, target)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := w.store.Touch(ctx, j, w.cfg.Lease); err != nil {
			return err
		}
		if time.Since(logged) > time.Minute {
			w.logger.Warn("erasure waits for the projector to reach the topic's end", "erasure_id", j.ID, "target", target)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.cfg.PollInterval):
		}
	}
}
