// Package config parses PulseStream settings from flags and PULSESTREAM_*
// environment variables, using peterbourgon/ff (flags and env vars from one
// definition, so the two cannot drift). A flag named kafka-brokers is also read
// from PULSESTREAM_KAFKA_BROKERS; an explicit flag wins over the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/peterbourgon/ff/v3"
)

// EnvPrefix is the prefix of every environment variable PulseStream reads.
const EnvPrefix = "PULSESTREAM"

// Registrar is a component config that defines its own flags.
type Registrar interface{ RegisterFlags(fs *flag.FlagSet) }

// Validator is a component config that checks itself, naming the bad setting.
type Validator interface{ Validate() error }

// Parse registers the flags of every component, fills them from args and the
// environment, and validates each one. Errors name the setting.
func Parse(name string, args []string, components ...any) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	printSettings := fs.Bool("print-settings", false, "print the environment variable of every setting this program reads, then exit")
	printVersion := fs.Bool("version", false, "print the version, then exit")
	for _, c := range components {
		if r, ok := c.(Registrar); ok {
			r.RegisterFlags(fs)
		}
	}
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix)); err != nil {
		return fs, err
	}
	if *printVersion {
		fmt.Println(VersionLine(name))
		return fs, ErrPrintedVersion
	}
	if *printSettings {
		for _, s := range Settings(fs) {
			if s != EnvName("print-settings") && s != EnvName("version") {
				fmt.Println(s)
			}
		}
		return fs, ErrPrintedSettings
	}
	var errs []error
	for _, c := range components {
		if v, ok := c.(Validator); ok {
			if err := v.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return fs, errors.Join(errs...)
}

// ErrPrintedSettings is returned by Parse after -print-settings did its job;
// Exit turns it into exit code 0. The Helm chart's test compares this list
// with the settings the chart renders, so chart and code cannot drift.
var ErrPrintedSettings = errors.New("settings printed")

// ErrPrintedVersion is returned by Parse after -version printed the version;
// Exit turns it into exit code 0.
var ErrPrintedVersion = errors.New("version printed")

// Version is the release this binary was built as, set at link time with
// -ldflags "-X github.com/pulsestream/pulsestream/platform/config.Version=1.2.3"
// (deploy/docker/rootfs.sh does); "dev" when built without it.
var Version = "dev"

// VersionLine is what -version prints: "<name> <version> (<go version> <os>/<arch>)".
func VersionLine(name string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", name, Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// EnvName is the environment variable that sets the flag name.
func EnvName(flagName string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// Settings lists the environment variable of every flag in fs, sorted.
func Settings(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, EnvName(f.Name)) })
	return names
}

// Exit prints a configuration error the way every service reports it and
// returns the process exit code (2 for usage errors).
func Exit(name string, err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, ErrPrintedSettings) || errors.Is(err, ErrPrintedVersion) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "%s: invalid configuration: %v\n", name, err)
	return 2
}
