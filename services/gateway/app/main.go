package app

import (
	"context"
	"os"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
)

// Main runs the gateway command line (args without the program name) and
// returns the exit code: services/gateway and the image's multi-call binary call it.
func Main(args []string) int {
	var cfg Config
	if _, err := config.Parse("gateway", args, &cfg); err != nil {
		return config.Exit("gateway", err)
	}
	logger := logging.New(os.Stderr, cfg.Log, "gateway")
	reg := observe.NewRegistry()
	a, err := New(cfg, logger, reg)
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
