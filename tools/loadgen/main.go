// Command loadgen is PulseStream's load generator and benchmark harness.
//
//	loadgen bench [flags]   the whole benchmark (make bench): own services, every phase, verification, JSON report
//	loadgen http [flags]    load against a running gateway
//	loadgen kafka [flags]   the raw franz-go producer against a broker
//
// Every target must be on the loopback interface; every run is bounded in
// time and count.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: loadgen bench|http|kafka [flags] (-h for the flags)")
		return 2
	}
	cmds := map[string]func(context.Context, *flag.FlagSet, []string) error{"bench": benchCmd, "http": httpCmd, "kafka": kafkaCmd}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown command %q (bench, http or kafka)\n", args[0])
		return 2
	}
	fs := flag.NewFlagSet("loadgen "+args[0], flag.ContinueOnError)
	if err := cmd(ctx, fs, args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
