// Command pulsestream is every PulseStream program in one binary, the one the
// image ships: gateway, projector, query, migrate and pulsectl share the Go
// runtime and their libraries (gin, franz-go, pgx, clickhouse-go, go-redis,
// Prometheus), so one binary is about a third of five. It runs the program
// named by the file it was started as (the image links /usr/local/bin/gateway,
// ... to it, see deploy/docker/rootfs.sh), or else by its first argument:
//
//	gateway [flags]              same as: pulsestream gateway [flags]
//	migrate up [flags]           same as: pulsestream migrate up [flags]
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulsestream/pulsestream/migrations/migrate"
	gateway "github.com/pulsestream/pulsestream/services/gateway/app"
	projector "github.com/pulsestream/pulsestream/services/projector/app"
	query "github.com/pulsestream/pulsestream/services/query/app"
	"github.com/pulsestream/pulsestream/tenancy/pulsectl"
)

// programs maps each program name to its Main.
var programs = map[string]func(args []string) int{
	"gateway":   gateway.Main,
	"projector": projector.Main,
	"query":     query.Main,
	"migrate":   func(args []string) int { return migrate.Main(args, os.Stdout) },
	"pulsectl":  pulsectl.Main,
}

func main() { os.Exit(dispatch(os.Args)) }

// dispatch runs the program argv names, by argv[0]'s file name or argv[1].
func dispatch(argv []string) int {
	name, args := filepath.Base(argv[0]), argv[1:]
	if _, ok := programs[name]; !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	run, ok := programs[name]
	if !ok {
		names := make([]string, 0, len(programs))
		for n := range programs {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(os.Stderr, "usage: pulsestream %s [args]\n", strings.Join(names, "|"))
		return 2
	}
	return run(args)
}
