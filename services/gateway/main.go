// Command gateway is PulseStream's ingest API: it authenticates producers,
// validates and rate-limits their events, and answers only after Kafka has
// acknowledged them. See services/gateway/app for the wiring.
package main

import (
	"os"

	"github.com/pulsestream/pulsestream/services/gateway/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
