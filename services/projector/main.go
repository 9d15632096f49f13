// Command projector consumes the event topic and writes the PostgreSQL and
// ClickHouse read models (see docs/projector.md).
//
//	projector [flags]                  run both sinks (or --projector-sinks)
//	projector replay --sink postgres|clickhouse [--from-timestamp RFC3339] [--drop] [flags]
package main

import (
	"os"

	"github.com/pulsestream/pulsestream/services/projector/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
