package tenancy

import "time"

// QuotaMonth is the quota period containing now: the UTC calendar month's
// name ("2026-11") and its end, the next month's first instant (when the
// count starts again from zero).
func QuotaMonth(now time.Time) (month string, reset time.Time) {
	now = now.UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start.Format("2006-01"), start.AddDate(0, 1, 0)
}

// QuotaKey is the Redis key counting tenant's accepted events of month
// (QuotaMonth), under prefix (the gateway's redis-key-prefix): the gateways
// write it, the admin API reads it.
func QuotaKey(prefix, tenant, month string) string {
	return prefix + "quota:" + tenant + ":" + month
}
