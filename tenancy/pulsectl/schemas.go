package pulsectl

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

// schemasCommand is `pulsectl schemas ...`: the event schema registry
// (tenancy/eventschemas), the same code as the admin API's schema routes.
// Answers are printed as JSON.
func schemasCommand(e env) *ffcli.Command {
	return &ffcli.Command{
		Name: "schemas", ShortUsage: "pulsectl schemas <add|list|versions|get|set-type|settings> ...", ShortHelp: "manage tenants' event schemas (JSON Schema 2020-12 per event type)",
		FlagSet:     flag.NewFlagSet("pulsectl schemas", flag.ContinueOnError),
		Subcommands: schemaCommands(e),
	}
}

// registry opens the registry with c's database flags.
func (c *common) registry(ctx context.Context, e env) (*eventschemas.Registry, func(), error) {
	pool, _, err := c.open(ctx, e, "json")
	if err != nil {
		return nil, nil, err
	}
	return eventschemas.NewRegistry(pool), pool.Close, nil
}

// regCommand is a leaf that runs fn on the registry with exactly n
// arguments and prints its answer as JSON.
func regCommand(e env, name, usage, help string, n int, setup func(fs *flag.FlagSet), fn func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error)) *ffcli.Command {
	c := newCommon("schemas "+name, "json")
	if setup != nil {
		setup(c.fs)
	}
	return leaf(name, "schemas "+usage, help, c, func(ctx context.Context, args []string) error {
		if len(args) != n {
			return usagef("usage: pulsectl schemas %s", usage)
		}
		r, done, err := c.registry(ctx, e)
		if err != nil {
			return err
		}
		defer done()
		out, err := fn(ctx, r, args)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	})
}

func schemaCommands(e env) []*ffcli.Command {
	var force bool
	var version int
	var mode, current string
	var settings struct {
		mode           string
		invalid        string
		quarantineDays int
	}
	return []*ffcli.Command{
		regCommand(e, "add", "add [--force] <tenant> <type> <schema-file|->", "add a schema version (it becomes current); refused if it does not compile or breaks the current one, unless --force", 3,
			func(fs *flag.FlagSet) {
				fs.BoolVar(&force, "force", false, "store a version the compatibility check refuses")
			},
			func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error) {
				doc, err := readDoc(args[2])
				if err != nil {
					return nil, err
				}
				return r.AddVersion(ctx, e.actor, args[0], args[1], doc, force)
			}),
		regCommand(e, "list", "list <tenant>", "list the tenant's types with their modes and current versions", 1, nil,
			func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error) {
				return r.Types(ctx, args[0])
			}),
		regCommand(e, "versions", "versions <tenant> <type>", "list a type's versions", 2, nil,
			func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error) {
				return r.Versions(ctx, args[0], args[1])
			}),
		regCommand(e, "get", "get [--version N] <tenant> <type>", "show one version (default: the current one)", 2,
			func(fs *flag.FlagSet) { fs.IntVar(&version, "version", 0, "version number (0: current)") },
			func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error) {
				return r.Get(ctx, args[0], args[1], version)
			}),
		regCommand(e, "set-type", "set-type [--mode off|warn|enforce|inherit] [--current-version N] <tenant> <type>", "set a type's mode and/or current version", 2,
			func(fs *flag.FlagSet) {
				fs.StringVar(&mode, "mode", "", "the type's mode; inherit: the tenant's")
				fs.StringVar(&current, "current-version", "", "make this existing version current (roll back or forward)")
			},
			func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error) {
				var p eventschemas.TypePatch
				if mode != "" {
					p.Mode = &mode
				}
				if current != "" {
					var n int
					if _, err := fmt.Sscan(current, &n); err != nil {
						return nil, usagef("--current-version must be a number")
					}
					p.CurrentVersion = &n
				}
				return r.UpdateType(ctx, e.actor, args[0], args[1], p)
			}),
		regCommand(e, "settings", "settings [--mode off|warn|enforce] [--quarantine-invalid true|false] [--quarantine-days N] <tenant>", "show or change the tenant's schema settings", 1,
			func(fs *flag.FlagSet) {
				fs.StringVar(&settings.mode, "mode", "", "mode of types without one")
				fs.StringVar(&settings.invalid, "quarantine-invalid", "", "quarantine events the envelope checks refuse too (true or false)")
				fs.IntVar(&settings.quarantineDays, "quarantine-days", 0, "days quarantined events are kept")
			},
			func(ctx context.Context, r *eventschemas.Registry, args []string) (any, error) {
				var p eventschemas.SettingsPatch
				if settings.mode != "" {
					p.Mode = &settings.mode
				}
				if settings.invalid != "" {
					b := settings.invalid == "true"
					if !b && settings.invalid != "false" {
						return nil, usagef("--quarantine-invalid must be true or false")
					}
					p.QuarantineInvalid = &b
				}
				if settings.quarantineDays != 0 {
					p.QuarantineDays = &settings.quarantineDays
				}
				if p == (eventschemas.SettingsPatch{}) {
					return r.Settings(ctx, args[0])
				}
				return r.UpdateSettings(ctx, e.actor, args[0], p)
			}),
	}
}

// readDoc reads a schema document from a file or, for -, standard input.
func readDoc(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, eventschemas.MaxDocumentBytes+1))
	}
	return os.ReadFile(path)
}
