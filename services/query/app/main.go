package app

import (
	"os"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/runner"
)

// Main runs the query command line (args without the program name) and
// returns the exit code: services/query and the image's multi-call binary call it.
func Main(args []string) int {
	var cfg Config
	if _, err := config.Parse("query", args, &cfg); err != nil {
		return config.Exit("query", err)
	}
	gin.SetMode(gin.ReleaseMode)
	logger := logging.New(os.Stderr, cfg.Log, "query")
	return runner.Main(logger, func() (*App, error) { return New(cfg, logger, observe.NewRegistry()) })
}
