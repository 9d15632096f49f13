// Package runner runs a process's actors (servers, consumers) in one
// oklog/run group with a stop actor, the process's only signal handler. On
// SIGINT/SIGTERM (or when the caller's context ends) it first fails
// readiness, waits the shutdown delay so load balancers notice, and only then
// interrupts the actors, which drain and stop.
package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/oklog/run"
)

// Config holds the shutdown timing.
type Config struct {
	ShutdownDelay time.Duration
}

// RegisterFlags defines shutdown-delay.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", 0, "time between failing /readyz and stopping the servers on SIGTERM")
}

// Validate names a bad shutdown setting.
func (c *Config) Validate() error {
	if c.ShutdownDelay < 0 {
		return fmt.Errorf("shutdown-delay: must not be negative, got %s", c.ShutdownDelay)
	}
	return nil
}

// Group is a run group with a stop actor added by Run.
type Group struct {
	g      run.Group
	cfg    Config
	logger *slog.Logger
	onStop []func()
}

// New returns an empty group.
func New(cfg Config, logger *slog.Logger) *Group { return &Group{cfg: cfg, logger: logger} }

// Add registers an actor: execute blocks until done, interrupt makes it return.
func (g *Group) Add(execute func() error, interrupt func(error)) { g.g.Add(execute, interrupt) }

// AddContext registers an actor that runs until its context is cancelled.
func (g *Group) AddContext(fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.g.Add(func() error {
		err := fn(ctx)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}, func(error) { cancel() })
}

// OnSignal registers fn to run as soon as a stop is requested (signal or
// context), before the shutdown delay (use it to fail readiness).
func (g *Group) OnSignal(fn func()) { g.onStop = append(g.onStop, fn) }

// errStop ends the group when a stop signal arrived or the context ended.
var errStop = errors.New("stop requested")

// Run adds the stop actor and blocks until the first actor returns. A
// SIGINT/SIGTERM or the end of ctx (tests, or a caller that owns the process's
// lifetime) starts the shutdown: the OnSignal functions run (readiness
// fails), the shutdown delay passes, then every actor is interrupted and
// drains. A stop so requested returns nil; otherwise Run returns the error of
// the actor that ended first. The runner is the only place a PulseStream
// process handles signals.
func (g *Group) Run(ctx context.Context) error {
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	g.g.Add(func() error {
		select {
		case s := <-sig:
			g.stop("signal", s.String(), done)
			return errStop
		case <-ctx.Done():
			g.stop("context", context.Cause(ctx).Error(), done)
			return errStop
		case <-done:
			return nil
		}
	}, func(error) { close(done) })
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	err := g.g.Run()
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// stop fails readiness and waits the shutdown delay (cut short when another
// actor ends the group meanwhile).
func (g *Group) stop(by, what string, done <-chan struct{}) {
	g.logger.Info("stop requested; failing readiness", by, what, "delay", g.cfg.ShutdownDelay)
	for _, fn := range g.onStop {
		fn()
	}
	select {
	case <-time.After(g.cfg.ShutdownDelay):
	case <-done:
	}
}

// Service is a process's app: built with its settings, run until a signal
// or its context stops it.
type Service interface {
	Run(ctx context.Context) error
}

// Main builds a service and runs it, logging why it could not start or why
// it stopped, and returns the process's exit code (0 after a clean stop):
// the end of every service's command line.
func Main[S Service](logger *slog.Logger, build func() (S, error)) int {
	s, err := build()
	if err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	if err := s.Run(context.Background()); err != nil {
		logger.Error("run", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
