// Command pulsectl administers PulseStream tenants, API keys and the audit
// log in PostgreSQL (see package tenancy/pulsectl).
package main

import (
	"os"

	"github.com/pulsestream/pulsestream/tenancy/pulsectl"
)

func main() { os.Exit(pulsectl.Main(os.Args[1:])) }
