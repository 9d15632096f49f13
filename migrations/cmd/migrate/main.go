// Command migrate applies PulseStream's versioned SQL to PostgreSQL and
// ClickHouse (see package migrations/migrate):
//
//	migrate up      apply every pending migration to both databases (idempotent)
//	migrate status  print the applied and the latest version of each; exit 1 when behind
package main

import (
	"os"

	"github.com/pulsestream/pulsestream/migrations/migrate"
)

func main() { os.Exit(migrate.Main(os.Args[1:], os.Stdout)) }
