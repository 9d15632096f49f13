// Command pulsectl administers PulseStream tenants, API keys and the audit
// log by talking to PostgreSQL directly (--postgres-url or
// PULSESTREAM_POSTGRES_URL). It runs the same tenancy.Admin code as the admin
// HTTP API; its audit entries name the actor cli:<os user>.
//
// Subcommands are declared with peterbourgon/ff/v3's ffcli (already the
// config library of every service), so flags and help come from one
// definition.
package main

import (
	"context"
	"os"
	"os/signal"
	"os/user"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, actor: osActor()})
	stop()
	os.Exit(code)
}

// osActor names the operator in the audit log: cli:<os user>.
func osActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return "cli:" + name
	}
	return "cli:unknown"
}
