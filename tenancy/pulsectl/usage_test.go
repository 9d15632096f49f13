package pulsectl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestCLIShowsMonthlyUsageAndSetsTimeAndQuotaPolicies: the new tenant
// settings are set by flags, and `tenants usage` reads the gateways' Redis
// counter of the month.
func TestCLIShowsMonthlyUsageAndSetsTimeAndQuotaPolicies(t *testing.T) {
	c := newCLI(t)
	tenant := randomTenant(t)
	c.ok("tenants", "create", "--monthly-quota", "10", "--future-policy", "reject", "--future-tolerance-seconds", "60", tenant)
	var got tenancy.Tenant
	if err := json.Unmarshal([]byte(c.ok("tenants", "set", "--format", "json", "--quota-policy", "soft", tenant)), &got); err != nil {
		t.Fatal(err)
	}
	if got.MonthlyQuota != 10 || got.QuotaPolicy != tenancy.QuotaSoft || got.FuturePolicy != tenancy.FutureReject || got.FutureToleranceSeconds != 60 {
		t.Fatalf("tenant after set: %+v", got)
	}

	addr := testenv.RedisAddr(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	prefix := "pstest:" + tenant + ":"
	month, reset := tenancy.QuotaMonth(time.Now())
	key := tenancy.QuotaKey(prefix, tenant, month)
	t.Cleanup(func() { rdb.Del(context.Background(), key); _ = rdb.Close() })
	if err := rdb.Set(context.Background(), key, 7, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	out := c.ok("tenants", "usage", "--redis-addr", addr, "--redis-key-prefix", prefix, tenant)
	want := "tenant " + tenant + ", month " + month + ": 7 events accepted; quota 10 (soft); resets " + reset.Format(time.RFC3339) + "\n"
	if out != want {
		t.Fatalf("usage:\n%q\nwant\n%q", out, want)
	}
	var u tenancy.Usage
	if err := json.Unmarshal([]byte(c.ok("tenants", "usage", "--format", "json", "--redis-addr", addr, "--redis-key-prefix", prefix, "--month", "2026-01", tenant)), &u); err != nil {
		t.Fatal(err)
	}
	if u.Events != 0 || u.Month != "2026-01" || u.MonthlyQuota != 10 {
		t.Fatalf("usage of an uncounted month: %+v", u)
	}
	for _, bad := range [][]string{
		{"tenants", "usage", "--redis-addr", addr, "--month", "26-1", tenant},
		{"tenants", "set", "--quota-policy", "strict", tenant},
		{"tenants", "set", "--future-policy", "drop", tenant},
		{"tenants", "set", "--monthly-quota", "-1", tenant},
	} {
		code, _, errOut := c.run(bad...)
		flagName := strings.TrimPrefix(bad[2], "--")
		if bad[1] == "usage" {
			flagName = "month"
		}
		if code != 2 || !strings.Contains(errOut, "--"+flagName) {
			t.Fatalf("pulsectl %v: exit %d, stderr %q; want exit 2 naming --%s", bad, code, errOut, flagName)
		}
	}
}
