package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutcomeBucket is what the gateways answered for one tenant's events in
// one bucket (table ingest_outcomes, written by services/gateway/outcomes).
type OutcomeBucket struct {
	Start       time.Time `json:"start"`
	Accepted    int64     `json:"accepted"`
	Duplicate   int64     `json:"duplicate"`
	Rejected    int64     `json:"rejected"`
	RateLimited int64     `json:"rate_limited"`
	// RequestsRefused counts requests refused whole (unreadable body, bad
	// format...), whose events were never counted one by one.
	RequestsRefused int64 `json:"requests_refused"`
}

// Outcomes returns tenant's outcome counts of the minutes starting within
// [from, to), per interval (minute, hour or day; UTC-aligned), oldest
// first; buckets without counts are omitted.
func (p *Postgres) Outcomes(ctx context.Context, tenant string, from, to time.Time, interval string) ([]OutcomeBucket, error) {
	if _, ok := IntervalMillis[interval]; !ok {
		return nil, fmt.Errorf("outcomes: interval %q", interval)
	}
	rows, err := p.db.Query(ctx, `SELECT date_trunc($4, minute, 'UTC') AS b, outcome, sum(events)::bigint FROM ingest_outcomes
		WHERE tenant_id = $1 AND minute >= $2 AND minute < $3 GROUP BY b, outcome ORDER BY b`, tenant, from, to, interval)
	if err != nil {
		return nil, fmt.Errorf("outcomes: %w", err)
	}
	var out []OutcomeBucket
	var start time.Time
	var outcome string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&start, &outcome, &n}, func() error {
		if len(out) == 0 || !out[len(out)-1].Start.Equal(start) {
			out = append(out, OutcomeBucket{Start: start.UTC()})
		}
		addOutcome(&out[len(out)-1], outcome, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outcomes: %w", err)
	}
	return out, nil
}

// addOutcome adds n to the field of b for outcome (unknown outcomes, from a
// newer gateway, are left out).
func addOutcome(b *OutcomeBucket, outcome string, n int64) {
	switch outcome {
	case "accepted":
		b.Accepted += n
	case "duplicate":
		b.Duplicate += n
	case "rejected":
		b.Rejected += n
	case "rate_limited":
		b.RateLimited += n
	case "request_refused":
		b.RequestsRefused += n
	}
}
