// Command projector consumes the event topic and writes the PostgreSQL and
// ClickHouse read models (see docs/projector.md).
//
//	projector [flags]                  run both sinks (or --projector-sinks)
//	projector replay --sink postgres|clickhouse [--from-timestamp RFC3339] [--drop] [flags]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/projector/app"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	var cfg app.Config
	name := "projector"
	if len(args) > 0 && args[0] == "replay" {
		cfg.Replay.Enabled, name, args = true, "projector replay", args[1:]
	}
	if _, err := config.Parse(name, args, cfg.Components()...); err != nil {
		return config.Exit(name, err)
	}
	logger := logging.New(os.Stderr, cfg.Log, "projector")
	a, err := app.New(cfg, logger, observe.NewRegistry())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := a.Run(context.Background()); err != nil {
		logger.Error("projector stopped", "err", err)
		return 1
	}
	return 0
}
