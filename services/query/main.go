// Command query serves PulseStream's read API: events by id, search,
// statistics and ingestion status over the PostgreSQL and ClickHouse read
// models, plus the tenancy admin API on a private listener.
package main

import (
	"os"

	"github.com/pulsestream/pulsestream/services/query/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
