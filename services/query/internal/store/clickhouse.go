package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// CHQuerier is what the ClickHouse store needs of a connection
// (clickhouse-go's driver.Conn implements it).
type CHQuerier interface {
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) driver.Row
	Ping(ctx context.Context) error
}

// ClickHouse reads the events table of migrations/clickhouse/00001_events.sql.
// Counts read it with FINAL: ReplacingMergeTree(version, is_deleted) then
// keeps one row per (tenant_id, external_id), the highest version, and drops
// keys whose latest row is a deletion, so duplicates and replays never count
// twice, before or after background merges.
type ClickHouse struct {
	db     CHQuerier
	builds *MeterBuilds // nil: meters always parse data at query time
}

// WithMeterBuilds has meters read the values b extracts at write time.
func (c *ClickHouse) WithMeterBuilds(b *MeterBuilds) *ClickHouse {
	c.builds = b
	return c
}

// NewClickHouse returns a store over db.
func NewClickHouse(db CHQuerier) *ClickHouse { return &ClickHouse{db: db} }

// bounded passes the context's deadline to ClickHouse as max_execution_time
// (whole seconds, at least 1), so the server stops a query the caller gave
// up on: over HTTP a cancelled request does not stop the query by itself
// (the local chDB endpoint documents it; a real server may keep going too).
func bounded(ctx context.Context) context.Context {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	secs := max(1, int(math.Ceil(time.Until(dl).Seconds())))
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": secs}))
}

// Ping checks ClickHouse answers.
func (c *ClickHouse) Ping(ctx context.Context) error { return c.db.Ping(ctx) }

// IntervalMillis is the bucket width of each supported interval.
var IntervalMillis = map[string]int64{"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}

// where renders the common predicate. Times are bound as Unix milliseconds
// (the column is DateTime64(3)), so no driver time formatting is involved.
func (f Filter) chWhere(tenant string) (string, []any) {
	w := []string{"tenant_id = ?", "is_deleted = 0",
		"event_time >= fromUnixTimestamp64Milli(?, 'UTC')", "event_time < fromUnixTimestamp64Milli(?, 'UTC')"}
	args := []any{tenant, f.From.UnixMilli(), f.To.UnixMilli()}
	if len(f.Types) > 0 {
		w = append(w, "has(?, toString(type))")
		args = append(args, f.Types)
	}
	if f.Source != "" {
		w = append(w, "source = ?")
		args = append(args, f.Source)
	}
	if f.Subject != "" {
		w = append(w, "subject = ?")
		args = append(args, f.Subject)
	}
	return strings.Join(w, " AND "), args
}

// Stats counts tenant's events matching q (From and To must be set; q.Data
// is not supported by this read model and must be empty). One FINAL scan
// answers everything: GROUPING SETS give the buckets (bucket[, group]), the
// per-type counts (type) when top types are asked for, and the totals ();
// grouping(bucket, t) tells the sets apart (a bit is 1 for a column the
// row's set does not group by; with group_by=type, grp is t, so a bucket
// row may read 0 or 1: only the bucket bit matters for it).
func (c *ClickHouse) Stats(ctx context.Context, tenant string, q StatsQuery) (Stats, error) {
	width, ok := IntervalMillis[q.Interval]
	if !ok {
		return Stats{}, fmt.Errorf("stats: unknown interval %q", q.Interval)
	}
	if len(q.Data) > 0 {
		return Stats{}, errors.New("stats: data filters are not supported")
	}
	ctx = bounded(ctx)
	where, args := q.chWhere(tenant)
	grp := "''"
	switch q.GroupBy {
	case "type":
		grp = "toString(type)"
	case "source":
		grp = "toString(source)"
	}
	sets := "(bucket, grp), ()"
	if q.Top > 0 {
		sets = "(bucket, grp), (t), ()"
	}
	sql := fmt.Sprintf(`SELECT intDiv(toUnixTimestamp64Milli(event_time), %d) * %d AS bucket, %s AS grp, toString(type) AS t,
		count() AS n, uniqExactIf(subject, subject != '') AS subjects, grouping(bucket, t) AS set
		FROM events FINAL WHERE %s
		GROUP BY GROUPING SETS (%s)
		ORDER BY set, bucket, grp`, width, width, grp, where, sets)
	rows, err := c.db.Query(ctx, sql, args...)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	defer rows.Close()
	out := Stats{Buckets: []Bucket{}}
	if q.Top > 0 {
		out.TopTypes = []TypeCount{}
	}
	for rows.Next() {
		var (
			ms          int64
			g, t        string
			n, subjects uint64
			set         uint64
		)
		if err := rows.Scan(&ms, &g, &t, &n, &subjects, &set); err != nil {
			return Stats{}, fmt.Errorf("stats: %w", err)
		}
		switch {
		case set&0b10 == 0: // grouped by bucket
			b := Bucket{Start: timeMillis(ms), Count: n, UniqueSubjects: subjects}
			if q.GroupBy == "type" || q.GroupBy == "source" {
				b.Group = &g
			}
			out.Buckets = append(out.Buckets, b)
		case set == 0b10: // grouped by t only
			out.TopTypes = append(out.TopTypes, TypeCount{Type: t, Count: n})
		case set == 0b11: // the empty set: totals
			out.Total, out.UniqueSubjects = n, subjects
		default:
			return Stats{}, fmt.Errorf("stats: unexpected grouping set %d", set)
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	slices.SortFunc(out.TopTypes, func(a, b TypeCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	if len(out.TopTypes) > q.Top {
		out.TopTypes = out.TopTypes[:q.Top]
	}
	return out, nil
}

// Projected returns the latest row version of externalID in tenant (a
// deletion included), or ErrNotFound. It reads without FINAL so that a
// deleted key is still seen.
func (c *ClickHouse) Projected(ctx context.Context, tenant, externalID string) (Projected, error) {
	ctx = bounded(ctx)
	rows, err := c.db.Query(ctx, `SELECT projected_at, kafka_partition, kafka_offset, is_deleted FROM events
		WHERE tenant_id = ? AND external_id = ? ORDER BY version DESC LIMIT 1`, tenant, externalID)
	if err != nil {
		return Projected{}, fmt.Errorf("projected state of event: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Projected{}, fmt.Errorf("projected state of event: %w", err)
		}
		return Projected{}, ErrNotFound
	}
	var p Projected
	var deleted uint8
	if err := rows.Scan(&p.ProjectedAt, &p.Partition, &p.Offset, &deleted); err != nil {
		return Projected{}, fmt.Errorf("projected state of event: %w", err)
	}
	p.ProjectedAt = p.ProjectedAt.UTC()
	p.Deleted = deleted == 1
	return p, nil
}
