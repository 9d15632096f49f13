package tenancy

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// counters returns a Redis client and a fresh key prefix (the keys the
// test sets expire within the hour).
func counters(t *testing.T) (*goredis.Client, string) {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, "pstest:" + randomTenant(t) + ":"
}

// TestAdminAPIShowsMonthlyUsage: GET .../usage reads the gateways' counter
// of the month asked (default the current one) with the tenant's quota.
func TestAdminAPIShowsMonthlyUsage(t *testing.T) {
	c, admin, _ := adminServer(t)
	rdb, prefix := counters(t)
	admin.WithUsage(NewRedisUsage(rdb, prefix))
	tenant := mustTenant(t, admin)
	month, reset := QuotaMonth(time.Now())
	ctx := context.Background()
	if err := rdb.Set(ctx, QuotaKey(prefix, tenant, month), 42, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, QuotaKey(prefix, tenant, "2026-02"), 7, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if code, body := c.do("PATCH", "/v1/admin/tenants/"+tenant, map[string]any{"monthly_quota": 100, "quota_policy": "soft"}); code != 200 ||
		body["monthly_quota"] != float64(100) || body["quota_policy"] != "soft" {
		t.Fatalf("set quota: %d %v", code, body)
	}
	code, body := c.do("GET", "/v1/admin/tenants/"+tenant+"/usage", nil)
	if code != 200 || body["events"] != float64(42) || body["month"] != month || body["monthly_quota"] != float64(100) ||
		body["quota_policy"] != "soft" || body["reset"] != reset.Format(time.RFC3339) {
		t.Fatalf("usage: %d %v", code, body)
	}
	if code, body := c.do("GET", "/v1/admin/tenants/"+tenant+"/usage?month=2026-02", nil); code != 200 || body["events"] != float64(7) ||
		body["reset"] != "2026-03-01T00:00:00Z" {
		t.Fatalf("usage of 2026-02: %d %v", code, body)
	}
	if code, body := c.do("GET", "/v1/admin/tenants/"+tenant+"/usage?month=2026-01", nil); code != 200 || body["events"] != float64(0) {
		t.Fatalf("usage of an uncounted month: %d %v", code, body)
	}
	if code, body := c.do("GET", "/v1/admin/tenants/"+tenant+"/usage?month=2026-13", nil); code != 400 || errCode(body) != "invalid_month" {
		t.Fatalf("bad month: %d %v", code, body)
	}
	if code, body := c.do("GET", "/v1/admin/tenants/"+randomTenant(t)+"/usage", nil); code != 404 {
		t.Fatalf("unknown tenant: %d %v", code, body)
	}
	if code, body := c.do("PATCH", "/v1/admin/tenants/"+tenant, map[string]any{"quota_policy": "strict"}); code != 400 || errCode(body) != "invalid_quota_policy" {
		t.Fatalf("bad quota policy: %d %v", code, body)
	}
	if code, body := c.do("PATCH", "/v1/admin/tenants/"+tenant, map[string]any{"monthly_quota": -1}); code != 400 || errCode(body) != "invalid_monthly_quota" {
		t.Fatalf("negative quota: %d %v", code, body)
	}
}
