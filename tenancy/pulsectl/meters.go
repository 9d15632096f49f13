package pulsectl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/pulsestream/pulsestream/tenancy"
)

// metersCommand: pulsectl meters <put|list|get|delete>, the same actions
// (and audit entries) as the admin API's /v1/admin/tenants/{tenant}/meters.
func metersCommand(e env) *ffcli.Command {
	return &ffcli.Command{
		Name: "meters", ShortUsage: "pulsectl meters <put|list|get|delete> ...", ShortHelp: "manage a tenant's meter definitions",
		FlagSet:     flag.NewFlagSet("pulsectl meters", flag.ContinueOnError),
		Subcommands: meterCommands(e),
	}
}

func meterCommands(e env) []*ffcli.Command {
	put := newCommon("meters put")
	putTenant := put.fs.String("tenant", "", "tenant of the meter (required)")
	def := put.fs.String("definition", "", `the definition as JSON, e.g. {"event_types":["llm.call"],"aggregation":"sum","value_path":"$.tokens"}`)
	file := put.fs.String("file", "", "read the definition from this JSON file instead")
	list := newCommon("meters list")
	listTenant := list.fs.String("tenant", "", "tenant whose meters to list (required)")
	get := newCommon("meters get")
	getTenant := get.fs.String("tenant", "", "tenant of the meter (required)")
	del := newCommon("meters delete")
	delTenant := del.fs.String("tenant", "", "tenant of the meter (required)")

	return []*ffcli.Command{
		leaf("put", "meters put --tenant T (--definition JSON | --file F) <slug>", "create or replace a meter (applies to all history)", put, func(ctx context.Context, args []string) error {
			slug, err := meterArgs(args, *putTenant)
			if err != nil {
				return err
			}
			spec, err := readSpec(*def, *file)
			if err != nil {
				return err
			}
			admin, done, err := put.admin(ctx, e)
			if err != nil {
				return err
			}
			defer done()
			m, _, err := admin.PutMeter(ctx, e.actor, *putTenant, slug, spec)
			if err != nil {
				return tenantErr(*putTenant, err)
			}
			return printMeters(e.stdout, put.format, false, m)
		}),
		leaf("list", "meters list --tenant T [--format text|json]", "list a tenant's meters", list, func(ctx context.Context, args []string) error {
			return list.tenantList(ctx, e, *listTenant, args, func(admin *tenancy.Admin) error {
				ms, err := admin.ListMeters(ctx, *listTenant)
				if err != nil {
					return err
				}
				return printMeters(e.stdout, list.format, true, ms...)
			})
		}),
		leaf("get", "meters get --tenant T <slug>", "show a meter", get, func(ctx context.Context, args []string) error {
			return meterAction(ctx, e, get, *getTenant, args, func(a *tenancy.Admin, slug string) (tenancy.Meter, error) {
				return a.GetMeter(ctx, *getTenant, slug)
			})
		}),
		leaf("delete", "meters delete --tenant T <slug>", "delete a meter", del, func(ctx context.Context, args []string) error {
			return meterAction(ctx, e, del, *delTenant, args, func(a *tenancy.Admin, slug string) (tenancy.Meter, error) {
				return a.DeleteMeter(ctx, e.actor, *delTenant, slug)
			})
		}),
	}
}

func meterArgs(args []string, tenant string) (string, error) {
	slug, err := oneArg(args, "meter slug")
	if err == nil && tenant == "" {
		err = usagef("--tenant is required")
	}
	return slug, err
}

// meterAction runs a one-meter action and prints the meter.
func meterAction(ctx context.Context, e env, c *common, tenant string, args []string, do func(*tenancy.Admin, string) (tenancy.Meter, error)) error {
	slug, err := meterArgs(args, tenant)
	if err != nil {
		return err
	}
	admin, done, err := c.admin(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	m, err := do(admin, slug)
	if errors.Is(err, tenancy.ErrMeterNotFound) {
		return fmt.Errorf("tenant %q has no meter %q", tenant, slug)
	}
	if err != nil {
		return err
	}
	return printMeters(e.stdout, c.format, false, m)
}

// readSpec decodes a definition strictly (unknown fields are refused, as
// by the admin API).
func readSpec(def, file string) (tenancy.MeterSpec, error) {
	var spec tenancy.MeterSpec
	var src io.Reader
	switch {
	case def != "" && file != "":
		return spec, usagef("give --definition or --file, not both")
	case def != "":
		src = strings.NewReader(def)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return spec, usagef("--file: %v", err)
		}
		src = bytes.NewReader(b)
	default:
		return spec, usagef("give the definition with --definition or --file")
	}
	dec := json.NewDecoder(src)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, usagef("the definition is not a valid meter definition: %v", err)
	}
	return spec, nil
}

func printMeters(w io.Writer, format string, asList bool, ms ...tenancy.Meter) error {
	if format == "json" {
		if asList {
			return writeJSON(w, ms)
		}
		return writeJSON(w, ms[0])
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tTENANT\tAGGREGATION\tVALUE_PATH\tEVENT_TYPES\tGROUP_BY\tUPDATED")
	for _, m := range ms {
		dims := make([]string, 0, len(m.GroupBy))
		for name, src := range m.GroupBy {
			dims = append(dims, name+"="+src)
		}
		sort.Strings(dims)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Slug, m.TenantID, m.Aggregation, dashIfEmpty(m.ValuePath), strings.Join(m.EventTypes, ","),
			dashIfEmpty(strings.Join(dims, ",")), m.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
