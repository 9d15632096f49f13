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
	"github.com/prometheus/client_golang/prometheus"
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
	db           CHQuerier
	builds       *MeterBuilds // nil: meters always parse data at query time
	statsAnswers *prometheus.CounterVec
}

// WithMeterBuilds has meters read the values b extracts at write time.
func (c *ClickHouse) WithMeterBuilds(b *MeterBuilds) *ClickHouse {
	c.builds = b
	return c
}

// NewClickHouse returns a store over db.
func NewClickHouse(db CHQuerier) *ClickHouse {
	c := &ClickHouse{db: db, statsAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_query_stats_answers_total",
		Help: "Statistics answered, by source: rollup (events_per_minute) or events (a FINAL scan of the events table)."}, []string{"source"})}
	for _, s := range []string{StatsFromRollup, StatsFromEvents} {
		c.statsAnswers.WithLabelValues(s)
	}
	return c
}

// StatsAnswers is the counter of statistics answered per source, for the
// caller to register.
func (c *ClickHouse) StatsAnswers() *prometheus.CounterVec { return c.statsAnswers }

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
// is not supported by this read model and must be empty): from the
// per-minute rollup when it can answer q (see rollupAnswers), otherwise
// from one FINAL scan of events. Both queries answer everything at once:
// GROUPING SETS give the buckets (bucket[, group]), the per-type counts (t)
// when top types are asked for, and the totals (); grouping(bucket, t)
// tells the sets apart (a bit is 1 for a column the row's set does not
// group by; with group_by=type, grp is t, so a bucket row may read 0 or 1:
// only the bucket bit matters for it).
func (c *ClickHouse) Stats(ctx context.Context, tenant string, q StatsQuery) (Stats, error) {
	width, ok := IntervalMillis[q.Interval]
	if !ok {
		return Stats{}, fmt.Errorf("stats: unknown interval %q", q.Interval)
	}
	if len(q.Data) > 0 {
		return Stats{}, errors.New("stats: data filters are not supported")
	}
	ctx = bounded(ctx)
	source := StatsFromEvents
	sql, args := eventsStatsSQL(tenant, q, width)
	if rollupAnswers(q) {
		source, sql = StatsFromRollup, rollupStatsSQL(q, width)
	}
	rows, err := c.db.Query(ctx, sql, args...)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	defer rows.Close()
	out, err := scanStats(rows, q)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	c.statsAnswers.WithLabelValues(source).Inc()
	return out, nil
}

// Where Stats read its counts (the label of StatsAnswers).
const (
	StatsFromRollup = "rollup" // events_per_minute
	StatsFromEvents = "events" // events FINAL
)

// rollupAnswers reports whether the per-minute rollup events_per_minute
// (migration clickhouse/00010: signed counts per tenant, minute and type,
// written in the same INSERT as events) holds q's answer exactly: no
// unique subjects asked for, no filter or grouping but by type, and a range
// of whole minutes within the rollup's DateTime (before 2106).
func rollupAnswers(q StatsQuery) bool {
	whole := func(t time.Time) bool { return t.Equal(t.Truncate(time.Minute)) }
	return q.NoSubjects && q.Source == "" && q.Subject == "" && (q.GroupBy == "" || q.GroupBy == "none" || q.GroupBy == "type") &&
		whole(q.From) && whole(q.To) && q.To.Unix() <= math.MaxUint32
}

// statsSets are the grouping sets of a stats query, and its t and set
// columns (without top types, t is in no set, and grouping() refuses a
// column outside every set: set is then 0 for a bucket, 3 for the totals).
func statsSets(q StatsQuery) (sets, t, set string) {
	if q.Top > 0 {
		return "(bucket, grp), (t), ()", "toString(type)", "grouping(bucket, t)"
	}
	return "(bucket, grp), ()", "''", "grouping(bucket) * 3"
}

// statsGroup is the grp column of a stats query.
func statsGroup(q StatsQuery) string {
	switch q.GroupBy {
	case "type":
		return "toString(type)"
	case "source":
		return "toString(source)"
	}
	return "''"
}

// eventsStatsSQL counts over events FINAL (and its arguments).
func eventsStatsSQL(tenant string, q StatsQuery, width int64) (string, []any) {
	where, args := q.chWhere(tenant)
	subjects := "uniqExactIf(subject, subject != '')"
	if q.NoSubjects {
		subjects = "toUInt64(0)"
	}
	sets, t, set := statsSets(q)
	return fmt.Sprintf(`SELECT intDiv(toUnixTimestamp64Milli(event_time), %d) * %d AS bucket, %s AS grp, %s AS t,
		toInt64(count()) AS n, %s AS subjects, %s AS set
		FROM events FINAL WHERE %s
		GROUP BY GROUPING SETS (%s)
		ORDER BY set, bucket, grp`, width, width, statsGroup(q), t, subjects, set, where, sets), args
}

// rollupStatsSQL counts over events_per_minute, with the arguments of
// eventsStatsSQL (the same predicate: tenant, from, to, types). A minute,
// type or total whose signed counts sum to 0 (every event erased) is left
// out, as FINAL leaves out erased events.
func rollupStatsSQL(q StatsQuery, width int64) string {
	w := []string{"tenant_id = ?", "minute >= toDateTime(intDiv(?, 1000), 'UTC')", "minute < toDateTime(intDiv(?, 1000), 'UTC')"}
	if len(q.Types) > 0 {
		w = append(w, "has(?, toString(type))")
	}
	sets, t, set := statsSets(q)
	return fmt.Sprintf(`SELECT toInt64(intDiv(toUnixTimestamp(minute), %d)) * %d AS bucket, %s AS grp, %s AS t,
		sum(events) AS n, toUInt64(0) AS subjects, %s AS set
		FROM events_per_minute WHERE %s
		GROUP BY GROUPING SETS (%s)
		HAVING n != 0
		ORDER BY set, bucket, grp`, width/1000, width, statsGroup(q), t, set, strings.Join(w, " AND "), sets)
}

// scanStats reads the rows of a stats query.
func scanStats(rows driver.Rows, q StatsQuery) (Stats, error) {
	out := Stats{Buckets: []Bucket{}}
	if q.Top > 0 {
		out.TopTypes = []TypeCount{}
	}
	subjectsOf := func(n uint64) *uint64 {
		if q.NoSubjects {
			return nil
		}
		return &n
	}
	out.UniqueSubjects = subjectsOf(0)
	for rows.Next() {
		var (
			ms, n         int64
			g, t          string
			subjects, set uint64
		)
		if err := rows.Scan(&ms, &g, &t, &n, &subjects, &set); err != nil {
			return Stats{}, err
		}
		if n < 0 {
			return Stats{}, fmt.Errorf("the rollup counts %d events (bucket %d, type %q): it disagrees with the events table", n, ms, t)
		}
		switch {
		case set&0b10 == 0: // grouped by bucket
			b := Bucket{Start: timeMillis(ms), Count: uint64(n), UniqueSubjects: subjectsOf(subjects)}
			if q.GroupBy == "type" || q.GroupBy == "source" {
				b.Group = &g
			}
			out.Buckets = append(out.Buckets, b)
		case set == 0b10: // grouped by t only
			out.TopTypes = append(out.TopTypes, TypeCount{Type: t, Count: uint64(n)})
		case set == 0b11: // the empty set: totals
			out.Total, out.UniqueSubjects = uint64(n), subjectsOf(subjects)
		default:
			return Stats{}, fmt.Errorf("unexpected grouping set %d", set)
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, err
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
