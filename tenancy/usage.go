package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"
)

// Usage is a tenant's count of accepted events in one quota month (UTC
// calendar month), as the gateways counted them for the monthly quota.
type Usage struct {
	TenantID     string    `json:"tenant_id"`
	Month        string    `json:"month"`
	Events       int64     `json:"events"`
	MonthlyQuota int64     `json:"monthly_quota"`
	QuotaPolicy  string    `json:"quota_policy"`
	Reset        time.Time `json:"reset"`
}

// UsageCounter reads the gateways' monthly counters (*RedisUsage).
type UsageCounter interface {
	MonthEvents(ctx context.Context, tenant, month string) (int64, error)
}

// RedisUsage reads the counters the gateways keep in Redis (QuotaKey under
// the gateways' redis-key-prefix). Counters are kept for two months after
// their month ends; an older or never-counted month reads 0.
type RedisUsage struct {
	rdb    *goredis.Client
	prefix string
}

// NewRedisUsage reads counters under prefix from rdb.
func NewRedisUsage(rdb *goredis.Client, prefix string) *RedisUsage {
	return &RedisUsage{rdb: rdb, prefix: prefix}
}

// MonthEvents implements UsageCounter.
func (u *RedisUsage) MonthEvents(ctx context.Context, tenant, month string) (int64, error) {
	n, err := u.rdb.Get(ctx, QuotaKey(u.prefix, tenant, month)).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read usage of %s in %s: %w", tenant, month, err)
	}
	return n, nil
}

// errNoUsage: this Admin was built without a UsageCounter.
var errNoUsage = errors.New("usage counters are not configured here")

var monthPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// WithUsage makes Usage read the counters of u. It returns a.
func (a *Admin) WithUsage(u UsageCounter) *Admin {
	a.usage = u
	return a
}

// Usage returns tenant id's usage in month ("2026-11"; empty: the current
// month). Errors: *ValidationError, ErrTenantNotFound.
func (a *Admin) Usage(ctx context.Context, id, month string) (Usage, error) {
	if err := ValidateTenantID(id); err != nil {
		return Usage{}, err
	}
	current, reset := QuotaMonth(a.now())
	switch {
	case month == "":
		month = current
	case !monthPattern.MatchString(month):
		return Usage{}, invalid("month", "month %q must read YYYY-MM", month)
	default:
		m, _ := time.Parse("2006-01", month)
		_, reset = QuotaMonth(m)
	}
	t, err := a.store.GetTenant(ctx, id)
	if err != nil {
		return Usage{}, err
	}
	if a.usage == nil {
		return Usage{}, errNoUsage
	}
	n, err := a.usage.MonthEvents(ctx, id, month)
	if err != nil {
		return Usage{}, err
	}
	return Usage{TenantID: id, Month: month, Events: n, MonthlyQuota: t.MonthlyQuota, QuotaPolicy: t.QuotaPolicy, Reset: reset}, nil
}

// usage serves GET /v1/admin/tenants/{tenant}/usage?month=YYYY-MM.
func (h *adminAPI) usage(c *gin.Context) {
	u, err := h.admin.Usage(c.Request.Context(), c.Param("tenant"), c.Query("month"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}
