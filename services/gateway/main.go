// Command gateway is PulseStream's ingest API: it authenticates producers,
// validates and rate-limits their events, and answers only after Kafka has
// acknowledged them. See services/gateway/app for the wiring.
package main

import (
	"context"
	"os"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/gateway/app"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg app.Config
	if _, err := config.Parse("gateway", os.Args[1:], &cfg); err != nil {
		return config.Exit("gateway", err)
	}
	logger := logging.New(os.Stderr, cfg.Log, "gateway")
	reg := observe.NewRegistry()
	a, err := app.New(cfg, logger, reg)
	if err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	if err := a.Run(context.Background()); err != nil {
		logger.Error("run", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
