package pulsectl

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/redis"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/tenancy"
)

// usageCommand is `pulsectl tenants usage`: the tenant from PostgreSQL, its
// month's count from the gateways' Redis counters.
func usageCommand(e env) *ffcli.Command {
	c := newCommon("tenants usage")
	var rc redis.Config
	rc.RegisterFlags(c.fs)
	prefix := c.fs.String("redis-key-prefix", markers.DefaultPrefix, "the gateways' redis-key-prefix (their quota counters live under it)")
	month := c.fs.String("month", "", "quota month YYYY-MM (UTC calendar month); default: the current one")
	return leaf("usage", "tenants usage [--month YYYY-MM] [flags] <tenant-id>",
		"show a tenant's accepted events in a month against its monthly quota", c, func(ctx context.Context, args []string) error {
			id, err := oneArg(args, "tenant id")
			if err != nil {
				return err
			}
			if err := redisFromEnv(c.fs, e); err != nil {
				return err
			}
			if err := rc.Validate(); err != nil {
				return usagef("%v", err)
			}
			admin, done, err := c.admin(ctx, e)
			if err != nil {
				return err
			}
			defer done()
			rdb, err := redis.Open(rc)
			if err != nil {
				return err
			}
			defer rdb.Close()
			if err := secure.Check(ctx, nil, redis.Probe(rdb, rc)); err != nil {
				return err
			}
			u, err := admin.WithUsage(tenancy.NewRedisUsage(rdb, *prefix)).Usage(ctx, id, *month)
			if err != nil {
				return tenantErr(id, err)
			}
			if c.format == "json" {
				return writeJSON(e.stdout, u)
			}
			quota := "none"
			if u.MonthlyQuota > 0 {
				quota = fmt.Sprintf("%d (%s)", u.MonthlyQuota, u.QuotaPolicy)
			}
			_, err = fmt.Fprintf(e.stdout, "tenant %s, month %s: %d events accepted; quota %s; resets %s\n",
				u.TenantID, u.Month, u.Events, quota, u.Reset.Format(time.RFC3339))
			return err
		})
}

// redisFromEnv fills the redis-* flags not given on the command line from
// their PULSESTREAM_* variables, as the postgres-* flags are.
func redisFromEnv(fs *flag.FlagSet, e env) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || !strings.HasPrefix(f.Name, "redis-") {
			return
		}
		if v := e.getenv(config.EnvName(f.Name)); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usagef("%s: %v", config.EnvName(f.Name), serr)
			}
		}
	})
	return err
}
