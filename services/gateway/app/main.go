package app

import (
	"os"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/runner"
)

// Main runs the gateway command line (args without the program name) and
// returns the exit code: services/gateway and the image's multi-call binary call it.
func Main(args []string) int {
	var cfg Config
	if _, err := config.Parse("gateway", args, &cfg); err != nil {
		return config.Exit("gateway", err)
	}
	logger := logging.New(os.Stderr, cfg.Log, "gateway")
	return runner.Main(logger, func() (*App, error) { return New(cfg, logger, observe.NewRegistry()) })
}
