package app

import (
	"os"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/runner"
)

// Main runs the projector command line (args without the program name) and
// returns the exit code: services/projector and the image's multi-call binary call it.
func Main(args []string) int {
	var cfg Config
	name := "projector"
	if len(args) > 0 && args[0] == "replay" {
		cfg.Replay.Enabled, name, args = true, "projector replay", args[1:]
	}
	if _, err := config.Parse(name, args, cfg.Components()...); err != nil {
		return config.Exit(name, err)
	}
	logger := logging.New(os.Stderr, cfg.Log, "projector")
	return runner.Main(logger, func() (*App, error) { return New(cfg, logger, observe.NewRegistry()) })
}
