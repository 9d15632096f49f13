// Command query serves PulseStream's read API: events by id, search,
// statistics and ingestion status over the PostgreSQL and ClickHouse read
// models, plus the tenancy admin API on a private listener.
package main

import (
	"context"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/query/app"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg app.Config
	if _, err := config.Parse("query", os.Args[1:], &cfg); err != nil {
		return config.Exit("query", err)
	}
	gin.SetMode(gin.ReleaseMode)
	logger := logging.New(os.Stderr, cfg.Log, "query")
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
	return 0
}
