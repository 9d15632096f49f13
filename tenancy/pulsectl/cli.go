// Package pulsectl is the pulsectl command (tenancy/cmd/pulsectl and the
// image's multi-call binary run Main): it administers PulseStream tenants, API
// keys, meter definitions and the audit log by talking to PostgreSQL directly (--postgres-url or
// PULSESTREAM_POSTGRES_URL). It runs the same tenancy.Admin code as the admin
// HTTP API; its audit entries name the actor cli:<os user>.
//
// Subcommands are declared with peterbourgon/ff/v3's ffcli (already the
// config library of every service), so flags and help come from one
// definition.
package pulsectl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/tenancy"
)

// env is what a run may touch outside itself; tests pass their own.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	actor          string
}

// errUsage marks a command-line mistake (exit code 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usagef(format string, args ...any) error { return errUsage{fmt.Sprintf(format, args...)} }

// Main runs one pulsectl command line (args without the program name) with
// the process's environment and returns the exit code; SIGINT and SIGTERM
// cancel it.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, actor: osActor()})
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

// run executes one pulsectl command line and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintln(e.stdout, config.VersionLine("pulsectl"))
		return 0
	}
	root := rootCommand(e)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var noExec ffcli.NoExecError
		if errors.As(err, &noExec) {
			fmt.Fprintln(e.stderr, ffcli.DefaultUsageFunc(noExec.Command))
			return 2
		}
		fmt.Fprintf(e.stderr, "pulsectl: %v\n", err)
		return 2
	}
	if err := root.Run(ctx); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(e.stderr, "pulsectl: %s\n", describe(err))
		var u errUsage
		if errors.As(err, &u) {
			return 2
		}
		var ve *tenancy.ValidationError
		if errors.As(err, &ve) {
			return 2
		}
		return 1
	}
	return 0
}

// describe turns admin errors into a line for the operator.
func describe(err error) string {
	var ve *tenancy.ValidationError
	if errors.As(err, &ve) {
		switch ve.Field {
		case "tenant_id", "key", "settings", "actor", "slug":
			return fmt.Sprintf("invalid %s: %s", strings.ReplaceAll(ve.Field, "_", " "), ve.Message)
		case "expires_at":
			return "invalid --expires-in: " + ve.Message
		case "description", "event_types", "aggregation", "value_path", "group_by", "filters":
			return fmt.Sprintf("invalid meter definition, field %s: %s", ve.Field, ve.Message)
		}
		return fmt.Sprintf("invalid --%s: %s", strings.ReplaceAll(ve.Field, "_", "-"), ve.Message)
	}
	return err.Error()
}

// common are the flags of every leaf command: the database and the output.
type common struct {
	pg         postgres.Config
	signingKey string
	format     string
	fs         *flag.FlagSet
}

func newCommon(name string, formats ...string) *common {
	c := &common{fs: flag.NewFlagSet("pulsectl "+name, flag.ContinueOnError)}
	c.pg.RegisterFlags(c.fs)
	tenancy.RegisterSigningKeyFlag(c.fs, &c.signingKey)
	if len(formats) == 0 {
		formats = []string{"text", "json"}
	}
	c.fs.StringVar(&c.format, "format", formats[0], "output format: "+strings.Join(formats, ", "))
	return c
}

// admin validates the flags, fills database flags not given on the command
// line from PULSESTREAM_* variables, and opens the admin service.
func (c *common) admin(ctx context.Context, e env, formats ...string) (*tenancy.Admin, func(), error) {
	pool, sealer, err := c.open(ctx, e, formats...)
	if err != nil {
		return nil, nil, err
	}
	return tenancy.NewAdmin(tenancy.NewPGStore(pool)).WithSealer(sealer), pool.Close, nil
}

// withAdmin runs fn with the admin service of c's database, closed after.
func (c *common) withAdmin(ctx context.Context, e env, fn func(*tenancy.Admin) error, formats ...string) error {
	admin, done, err := c.admin(ctx, e, formats...)
	if err != nil {
		return err
	}
	defer done()
	return fn(admin)
}

// tenantList runs list for the --tenant of a command that takes no
// arguments (keys list, meters list).
func (c *common) tenantList(ctx context.Context, e env, tenant string, args []string, list func(*tenancy.Admin) error) error {
	if err := noArgs(args); err != nil {
		return err
	}
	if tenant == "" {
		return usagef("--tenant is required")
	}
	return c.withAdmin(ctx, e, func(a *tenancy.Admin) error { return tenantErr(tenant, list(a)) })
}

// open validates the flags as admin does and opens the database.
func (c *common) open(ctx context.Context, e env, formats ...string) (*pgxpool.Pool, *tenancy.Sealer, error) {
	if len(formats) == 0 {
		formats = []string{"text", "json"}
	}
	if !contains(formats, c.format) {
		return nil, nil, usagef("--format must be one of %s, got %q", strings.Join(formats, ", "), c.format)
	}
	// Only the database settings and the signing-secret-key come from the
	// environment, so an unrelated PULSESTREAM_* variable of a service can
	// never change what a command does.
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envFlags []string // every postgres-* flag (URL, pool and TLS settings), and signing-secret-key
	c.fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "postgres-") || f.Name == "signing-secret-key" {
			envFlags = append(envFlags, f.Name)
		}
	})
	for _, name := range envFlags {
		if v := e.getenv(config.EnvName(name)); v != "" && !set[name] {
			if err := c.fs.Set(name, v); err != nil {
				return nil, nil, usagef("%s: %v", config.EnvName(name), err)
			}
		}
	}
	if err := c.pg.Validate(); err != nil {
		return nil, nil, usagef("%v", err)
	}
	sealer, err := (&tenancy.Config{SigningSecretKey: c.signingKey}).Sealer()
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	pool, err := postgres.Open(ctx, c.pg)
	if err != nil {
		return nil, nil, err
	}
	// a refused certificate or login names its setting; an unreachable
	// server fails in the command itself
	if err := secure.Check(ctx, nil, postgres.Probe(pool.Ping, c.pg)); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, sealer, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func leaf(name, usage, help string, c *common, exec func(ctx context.Context, args []string) error) *ffcli.Command {
	return &ffcli.Command{Name: name, ShortUsage: "pulsectl " + usage, ShortHelp: help, FlagSet: c.fs, Exec: exec}
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments: %s", strings.Join(args, " "))
	}
	return nil
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", usagef("give exactly one %s", what)
	}
	return args[0], nil
}

func rootCommand(e env) *ffcli.Command {
	fs := flag.NewFlagSet("pulsectl", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cmds := []*ffcli.Command{
		bootstrapCommand(e),
		{
			Name: "tenants", ShortUsage: "pulsectl tenants <create|list|get|set|suspend|resume|usage> ...", ShortHelp: "manage tenants",
			FlagSet:     flag.NewFlagSet("pulsectl tenants", flag.ContinueOnError),
			Subcommands: tenantCommands(e),
		},
		{
			Name: "keys", ShortUsage: "pulsectl keys <create|list|revoke> ...", ShortHelp: "manage API keys",
			FlagSet:     flag.NewFlagSet("pulsectl keys", flag.ContinueOnError),
			Subcommands: keyCommands(e),
		},
		auditCommand(e),
		probeCommand(e),
		metersCommand(e),
		schemasCommand(e),
	}
	root := &ffcli.Command{
		Name:       "pulsectl",
		ShortUsage: "pulsectl <command> [flags] [args]",
		LongHelp: "Administers PulseStream tenants, API keys, meters and the audit log in PostgreSQL\n" +
			"(--postgres-url or PULSESTREAM_POSTGRES_URL). Every change is audited as " + e.actor + ".\n" +
			"pulsectl -version prints the version.",
		FlagSet:     fs,
		Subcommands: cmds,
	}
	var setOutput func(cs []*ffcli.Command)
	setOutput = func(cs []*ffcli.Command) {
		for _, c := range cs {
			c.FlagSet.SetOutput(e.stderr)
			setOutput(c.Subcommands)
		}
	}
	setOutput(cmds)
	return root
}

// settingsFlags registers the tenant settings flags; the returned function
// gives the settings of the flags actually set.
func settingsFlags(fs *flag.FlagSet) func() tenancy.TenantSettings {
	name := fs.String("name", "", "display name (unique; defaults to the id)")
	ints := map[string]*int{
		"rate-limit-per-sec": fs.Int("rate-limit-per-sec", 0, "sustained ingest rate, events per second"),
		"rate-limit-burst":   fs.Int("rate-limit-burst", 0, "ingest burst, events"),
		"retention-days":     fs.Int("retention-days", 0, "days events are kept, by event time: older ones are deleted from both read models (within the projector's retention-interval + 1 min) and refused by the gateway (event_too_old)"),
		"max-event-bytes":    fs.Int("max-event-bytes", 0, "largest accepted event in bytes"),
		"future-tolerance-seconds": fs.Int("future-tolerance-seconds", 0,
			"how far after its receive time an event's time (corrected by its sentat) may lie before --future-policy applies (default 86400)"),
	}
	quota := fs.Int64("monthly-quota", 0, "most events accepted per UTC calendar month; 0 removes the quota")
	quotaPolicy := fs.String("quota-policy", "", "events past the monthly quota: hard (refused, 429 quota_exceeded; the default) or soft (accepted with the warning quota_exceeded)")
	futurePolicy := fs.String("future-policy", "", "events dated beyond the tolerance: clamp (accept with time = received_at, flagged time_clamped; the default) or reject (code time_in_future)")
	requireSig := fs.Bool("require-signature", false, "every key of the tenant must sign its ingest requests (RFC 9421); --require-signature=false turns it off")
	return func() tenancy.TenantSettings {
		var s tenancy.TenantSettings
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				s.Name = name
			case "rate-limit-per-sec":
				s.RateLimitPerSec = ints[f.Name]
			case "rate-limit-burst":
				s.RateLimitBurst = ints[f.Name]
			case "retention-days":
				s.RetentionDays = ints[f.Name]
			case "max-event-bytes":
				s.MaxEventBytes = ints[f.Name]
			case "require-signature":
				s.RequireSignature = requireSig
			case "future-tolerance-seconds":
				s.FutureToleranceSeconds = ints[f.Name]
			case "future-policy":
				s.FuturePolicy = futurePolicy
			case "monthly-quota":
				s.MonthlyQuota = quota
			case "quota-policy":
				s.QuotaPolicy = quotaPolicy
			}
		})
		return s
	}
}

func tenantCommands(e env) []*ffcli.Command {
	create := newCommon("tenants create")
	createSettings := settingsFlags(create.fs)
	list := newCommon("tenants list")
	get := newCommon("tenants get")
	set := newCommon("tenants set")
	setSettings := settingsFlags(set.fs)
	suspend := newCommon("tenants suspend")
	resume := newCommon("tenants resume")

	return []*ffcli.Command{
		leaf("create", "tenants create [flags] <tenant-id>", "create a tenant", create, func(ctx context.Context, args []string) error {
			return tenantAction(ctx, e, create, args, func(admin *tenancy.Admin, id string) (tenancy.Tenant, error) {
				return admin.CreateTenant(ctx, e.actor, id, createSettings())
			})
		}),
		leaf("list", "tenants list [flags]", "list tenants", list, func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return list.withAdmin(ctx, e, func(admin *tenancy.Admin) error {
				ts, err := admin.ListTenants(ctx)
				if err != nil {
					return err
				}
				return printTenants(e.stdout, list.format, true, ts...)
			})
		}),
		leaf("get", "tenants get [flags] <tenant-id>", "show a tenant", get, func(ctx context.Context, args []string) error {
			return tenantAction(ctx, e, get, args, func(admin *tenancy.Admin, id string) (tenancy.Tenant, error) {
				return admin.GetTenant(ctx, id)
			})
		}),
		leaf("set", "tenants set [--name N] [--rate-limit-per-sec N] [--rate-limit-burst N] [--retention-days N] [--max-event-bytes N] [--future-tolerance-seconds N] [--future-policy clamp|reject] [--monthly-quota N] [--quota-policy hard|soft] <tenant-id>",
			"change a tenant's name or limits", set, func(ctx context.Context, args []string) error {
				return tenantAction(ctx, e, set, args, func(admin *tenancy.Admin, id string) (tenancy.Tenant, error) {
					return admin.UpdateTenant(ctx, e.actor, id, setSettings())
				})
			}),
		leaf("suspend", "tenants suspend [flags] <tenant-id>", "suspend a tenant (its keys get 403 tenant_suspended)", suspend, func(ctx context.Context, args []string) error {
			return tenantAction(ctx, e, suspend, args, func(admin *tenancy.Admin, id string) (tenancy.Tenant, error) {
				return admin.SuspendTenant(ctx, e.actor, id)
			})
		}),
		leaf("resume", "tenants resume [flags] <tenant-id>", "make a suspended tenant active again", resume, func(ctx context.Context, args []string) error {
			return tenantAction(ctx, e, resume, args, func(admin *tenancy.Admin, id string) (tenancy.Tenant, error) {
				return admin.ResumeTenant(ctx, e.actor, id)
			})
		}),
		usageCommand(e),
	}
}

// tenantAction runs a one-tenant command (<tenant-id> its argument) and
// prints the tenant.
func tenantAction(ctx context.Context, e env, c *common, args []string, do func(*tenancy.Admin, string) (tenancy.Tenant, error)) error {
	id, err := oneArg(args, "tenant id")
	if err != nil {
		return err
	}
	return c.withAdmin(ctx, e, func(admin *tenancy.Admin) error {
		t, err := do(admin, id)
		if err != nil {
			return tenantErr(id, err)
		}
		return printTenants(e.stdout, c.format, false, t)
	})
}

func tenantErr(id string, err error) error {
	switch {
	case errors.Is(err, tenancy.ErrTenantNotFound):
		return fmt.Errorf("tenant %q does not exist", id)
	case errors.Is(err, tenancy.ErrTenantExists):
		return fmt.Errorf("tenant %q already exists", id)
	}
	return err
}

func keyCommands(e env) []*ffcli.Command {
	create := newCommon("keys create", "text", "json", "env")
	tenant := create.fs.String("tenant", "", "tenant of the key (required)")
	name := create.fs.String("name", "", "label for people")
	scopes := create.fs.String("scopes", "", "comma-separated scopes: ingest, query, admin (required)")
	expiresIn := create.fs.Duration("expires-in", 0, "expire the key after this long (e.g. 720h); 0 never")
	cidrs := create.fs.String("allowed-cidrs", "", "comma-separated networks the key may be used from (default: anywhere)")
	requireSig := create.fs.Bool("require-signature", false, "refuse this key's unsigned requests (RFC 9421, with the signing secret printed once)")

	list := newCommon("keys list")
	listTenant := list.fs.String("tenant", "", "tenant whose keys to list (required)")
	revoke := newCommon("keys revoke")
	revokeTenant := revoke.fs.String("tenant", "", "only revoke if the key belongs to this tenant")

	return []*ffcli.Command{
		leaf("create", "keys create --tenant T --scopes ingest,query [--name N] [--expires-in D] [--allowed-cidrs C,...] [--format text|json|env]",
			"create an API key (printed once, never stored)", create, func(ctx context.Context, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if *tenant == "" {
					return usagef("--tenant is required")
				}
				spec := tenancy.KeySpec{Name: *name, AllowedCIDRs: splitList(*cidrs), RequireSignature: *requireSig}
				for _, s := range splitList(*scopes) {
					spec.Scopes = append(spec.Scopes, tenancy.Scope(s))
				}
				if *expiresIn < 0 {
					return usagef("--expires-in must be positive")
				}
				if *expiresIn > 0 {
					at := time.Now().Add(*expiresIn).UTC().Truncate(time.Second)
					spec.ExpiresAt = &at
				}
				admin, done, err := create.admin(ctx, e, "text", "json", "env")
				if err != nil {
					return err
				}
				defer done()
				k, err := admin.CreateKey(ctx, e.actor, *tenant, spec)
				if err != nil {
					return tenantErr(*tenant, err)
				}
				return printCreatedKey(e, create.format, k)
			}),
		leaf("list", "keys list --tenant T [--format text|json]", "list a tenant's keys (never their secrets)", list, func(ctx context.Context, args []string) error {
			return list.tenantList(ctx, e, *listTenant, args, func(admin *tenancy.Admin) error {
				ks, err := admin.ListKeys(ctx, *listTenant)
				if err != nil {
					return err
				}
				return printKeys(e.stdout, list.format, true, ks...)
			})
		}),
		leaf("revoke", "keys revoke [--tenant T] <key-id|ps_prefix>", "revoke an API key", revoke, func(ctx context.Context, args []string) error {
			ref, err := oneArg(args, "key id or prefix")
			if err != nil {
				return err
			}
			admin, done, err := revoke.admin(ctx, e)
			if err != nil {
				return err
			}
			defer done()
			k, err := admin.RevokeKey(ctx, e.actor, *revokeTenant, ref)
			if errors.Is(err, tenancy.ErrKeyNotFound) {
				return fmt.Errorf("no API key %q", ref)
			}
			if err != nil {
				return err
			}
			return printKeys(e.stdout, revoke.format, false, k)
		}),
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func auditCommand(e env) *ffcli.Command {
	c := newCommon("audit")
	tenant := c.fs.String("tenant", "", "only entries about this tenant")
	limit := c.fs.Int("limit", tenancy.DefaultAuditLimit, "number of entries")
	before := c.fs.Int64("before", 0, "only entries with a smaller id (paging)")
	return leaf("audit", "audit [--tenant T] [--limit N] [--before ID] [--format text|json]", "read the audit log, newest first", c, func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		admin, done, err := c.admin(ctx, e)
		if err != nil {
			return err
		}
		defer done()
		entries, err := admin.Audit(ctx, tenancy.AuditFilter{TenantID: *tenant, Limit: *limit, BeforeID: *before})
		if err != nil {
			return err
		}
		if c.format == "json" {
			return writeJSON(e.stdout, entries)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAT\tACTOR\tACTION\tTENANT\tTARGET\tDETAILS")
		for _, a := range entries {
			d, _ := json.Marshal(a.Details)
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.At.UTC().Format(time.RFC3339), a.Actor, a.Action, a.TenantID, a.Target, d)
		}
		return tw.Flush()
	})
}

func bootstrapCommand(e env) *ffcli.Command {
	c := newCommon("bootstrap", "text", "env", "json")
	tenant := c.fs.String("tenant", "demo", "tenant to create if missing")
	adminKey := c.fs.Bool("admin-key", false, "also create an admin key of the operator tenant \""+tenancy.OperatorTenant+"\" (PULSESTREAM_ADMIN_API_KEY)")
	return leaf("bootstrap", "bootstrap [--tenant demo] [--admin-key] [--format text|env|json]",
		"create the operator tenant and --tenant if missing; print a NEW ingest+query key", c, func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			admin, done, err := c.admin(ctx, e, "text", "env", "json")
			if err != nil {
				return err
			}
			defer done()
			t, k, err := admin.Bootstrap(ctx, e.actor, *tenant)
			if err != nil {
				return err
			}
			var ak *tenancy.CreatedKey
			if *adminKey {
				created, err := admin.CreateKey(ctx, e.actor, tenancy.OperatorTenant, tenancy.KeySpec{Name: "bootstrap admin", Scopes: []tenancy.Scope{tenancy.ScopeAdmin}})
				if err != nil {
					return err
				}
				ak = &created
			}
			switch c.format {
			case "env":
				if err := printCreatedKey(e, "env", k); err != nil { // with its signing secret, when signing-secret-key is set
					return err
				}
				if ak != nil {
					fmt.Fprintf(e.stdout, "PULSESTREAM_ADMIN_API_KEY=%s\n", ak.Key)
				}
				return nil
			case "json":
				out := map[string]any{"tenant": t, "key": k}
				if ak != nil {
					out["admin_key"] = ak
				}
				return writeJSON(e.stdout, out)
			}
			fmt.Fprintf(e.stdout, "tenant %s (%s)\nnew API key %s (scopes ingest,query) — shown only now:\n%s\n", t.ID, t.Status, k.Prefix, k.Key)
			if ak != nil {
				fmt.Fprintf(e.stdout, "new admin key %s of tenant %s — shown only now:\n%s\n", ak.Prefix, tenancy.OperatorTenant, ak.Key)
			}
			return nil
		})
}

// keyEnvName is the variable bootstrap prints a tenant's key as:
// demo → PULSESTREAM_DEMO_API_KEY.
func keyEnvName(tenant string) string {
	return "PULSESTREAM_" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(tenant)) + "_API_KEY"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTenants(w io.Writer, format string, asList bool, ts ...tenancy.Tenant) error {
	if format == "json" {
		if asList {
			return writeJSON(w, ts)
		}
		return writeJSON(w, ts[0])
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tRATE/S\tBURST\tRETENTION_DAYS\tMAX_EVENT_BYTES\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", t.ID, t.Name, t.Status, t.RateLimitPerSec, t.RateLimitBurst, t.RetentionDays, t.MaxEventBytes, t.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func printKeys(w io.Writer, format string, asList bool, ks ...tenancy.KeyInfo) error {
	if format == "json" {
		if asList {
			return writeJSON(w, ks)
		}
		return writeJSON(w, ks[0])
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tID\tTENANT\tNAME\tSCOPES\tSTATUS\tEXPIRES\tALLOWED_CIDRS\tCREATED")
	for _, k := range ks {
		scopes := make([]string, len(k.Scopes))
		for i, s := range k.Scopes {
			scopes[i] = string(s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Prefix, k.ID, k.TenantID, k.Name, strings.Join(scopes, ","), k.Status,
			timeOrDash(k.ExpiresAt), cidrList(k.AllowedCIDRs), k.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func printCreatedKey(e env, format string, k tenancy.CreatedKey) error {
	switch format {
	case "json":
		return writeJSON(e.stdout, k)
	case "env":
		_, err := fmt.Fprintf(e.stdout, "%s=%s\n", keyEnvName(k.TenantID), k.Key)
		if err == nil && k.SigningSecret != "" {
			_, err = fmt.Fprintf(e.stdout, "%s=%s\n", strings.TrimSuffix(keyEnvName(k.TenantID), "_API_KEY")+"_SIGNING_SECRET", k.SigningSecret)
		}
		return err
	}
	if err := printKeys(e.stdout, "text", false, k.KeyInfo); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "\nAPI key — shown only now, store it:\n%s\n", k.Key)
	if err == nil && k.SigningSecret != "" {
		_, err = fmt.Fprintf(e.stdout, "\nRequest signing secret (RFC 9421 hmac-sha256, keyid %s) — shown only now, store it:\n%s\n", k.Prefix, k.SigningSecret)
	}
	return err
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cidrList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
