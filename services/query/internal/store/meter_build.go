package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/tenancy"
)

// Write-time extraction (migration clickhouse/00060). Each meter
// definition gets a materialized view on events that writes the values it
// reads into meter_values, named after the definition's version (a hash of
// what the extraction depends on: tenant, slug, event types, value path and
// kind, dimensions; not the aggregation among numeric ones, nor filters).
// A build, asked for by the first query of a version and run in the
// background (queries answer from events meanwhile):
//
//  1. discards the other versions of the meter (view dropped, rows deleted);
//  2. creates the view for rows with projected_at >= cutoff (the engine's
//     now + guard); creating it is the lock between query replicas;
//  3. after cutoff + guard, backfills the rows with projected_at < cutoff
//     from events (INSERT ... SELECT), so each row of events is read once;
//  4. waits guard again and checks that meter_values holds as many rows of
//     the version as events holds matching rows projected before then: an
//     insert that started before the view existed and stamped its rows
//     after cutoff would show here; a mismatch discards the build (the next
//     query asks again);
//  5. marks the version ready: queries read meter_values from then on.
//
// guard bounds how long an insert into events may run; on the local engine,
// which runs one statement at a time, no insert overlaps the DDL at all.

// MeterExecer is what building views needs of a connection (driver.Conn).
type MeterExecer interface {
	CHQuerier
	Exec(ctx context.Context, query string, args ...any) error
}

// Build states (meter_builds.state).
const (
	BuildBuilding = "building"
	BuildReady    = "ready"
	BuildFailed   = "failed"
	BuildDropped  = "dropped"
)

// staleBuild: a build still "building" after this long was abandoned (its
// replica stopped) and is started again.
const staleBuild = time.Hour

// MeterBuilds builds meter views in the background, one at a time.
type MeterBuilds struct {
	db       MeterExecer
	log      *slog.Logger
	guard    time.Duration
	queue    chan buildJob
	mu       sync.Mutex
	pending  map[string]bool // versions queued or being built
	attempts map[string]int  // failed builds per version
	current  func(ctx context.Context, tenant string) ([]tenancy.Meter, error)
	answers  *prometheus.CounterVec
	outcomes *prometheus.CounterVec
	seconds  prometheus.Histogram
}

type buildJob struct {
	tenant string
	meter  tenancy.Meter
}

// NewMeterBuilds returns builds over db; guard is the longest an insert
// into events is expected to run (see above). reg may be nil.
func NewMeterBuilds(db MeterExecer, log *slog.Logger, guard time.Duration, reg prometheus.Registerer) *MeterBuilds {
	b := &MeterBuilds{db: db, log: log, guard: guard, queue: make(chan buildJob, 64), pending: map[string]bool{}, attempts: map[string]int{},
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_query_meter_answers_total",
			Help: "Meter queries answered, by source: extracted (meter_values) or events (data parsed at query time while the meter's view is built)."}, []string{"source"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_query_meter_builds_total",
			Help: "Meter view builds, by outcome: ready, failed (discarded; the next query asks again)."}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pulsestream_query_meter_build_seconds",
			Help: "Duration of successful meter view builds (view, backfill and check).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
	}
	for _, s := range []string{"extracted", "events"} {
		b.answers.WithLabelValues(s)
	}
	for _, s := range []string{BuildReady, BuildFailed} {
		b.outcomes.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(b.answers, b.outcomes, b.seconds)
	}
	return b
}

// Request queues a build of m's view unless one is queued or running; a
// full queue drops the request (the next query asks again).
func (b *MeterBuilds) Request(tenant string, m tenancy.Meter) {
	v := MeterVersion(tenant, m)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending[v] {
		return
	}
	select {
	case b.queue <- buildJob{tenant, m}:
		b.pending[v] = true
	default:
	}
}

// Run builds the requested views until ctx ends, those queued together
// in one batch. A failed build is asked for again after retryAfter, up to
// maxAttempts times per process (queries ask again after that).
func (b *MeterBuilds) Run(ctx context.Context) error {
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		var jobs []buildJob
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if b.current != nil {
				if err := b.Sweep(ctx, b.current); err != nil && ctx.Err() == nil {
					b.log.Error("meter views sweep failed", "err", err)
				}
			}
			continue
		case j := <-b.queue:
			jobs = append(jobs, j)
		}
		for len(b.queue) > 0 && len(jobs) < cap(b.queue) {
			jobs = append(jobs, <-b.queue)
		}
		errs := b.buildAll(ctx, jobs)
		b.mu.Lock()
		for i, j := range jobs {
			v := MeterVersion(j.tenant, j.meter)
			delete(b.pending, v)
			if errs[i] == nil || ctx.Err() != nil {
				delete(b.attempts, v)
				continue
			}
			b.log.Error("meter view build failed", "tenant", j.tenant, "meter", j.meter.Slug, "err", errs[i])
			if b.attempts[v]++; b.attempts[v] < maxAttempts {
				time.AfterFunc(retryAfter, func() { b.Request(j.tenant, j.meter) })
			}
		}
		b.mu.Unlock()
	}
}

// Sweep discards the views of meter versions that are no longer any
// tenant's definition (a deleted meter or tenant; a changed definition is
// discarded by its next build already): current lists a tenant's
// definitions. Run calls it every sweepEvery.
func (b *MeterBuilds) Sweep(ctx context.Context, current func(ctx context.Context, tenant string) ([]tenancy.Meter, error)) error {
	rows, err := b.db.Query(ctx, "SELECT DISTINCT tenant_id FROM meter_builds")
	if err != nil {
		return fmt.Errorf("meter views: %w", err)
	}
	var tenants []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return fmt.Errorf("meter views: %w", err)
		}
		tenants = append(tenants, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("meter views: %w", err)
	}
	for _, t := range tenants {
		ms, err := current(ctx, t)
		if err != nil && !errors.Is(err, tenancy.ErrTenantNotFound) {
			return err
		}
		if err := b.SweepTenant(ctx, t, ms); err != nil {
			return err
		}
	}
	return nil
}

// SweepTenant discards tenant's views whose version is none of defs'.
func (b *MeterBuilds) SweepTenant(ctx context.Context, tenant string, defs []tenancy.Meter) error {
	rows, err := b.db.Query(ctx, "SELECT meter, version FROM meter_builds WHERE tenant_id = ? GROUP BY meter, version HAVING argMax(state, updated) != ?", tenant, BuildDropped)
	if err != nil {
		return fmt.Errorf("meter views of %s: %w", tenant, err)
	}
	var views [][2]string
	for rows.Next() {
		var slug, v string
		if err := rows.Scan(&slug, &v); err != nil {
			rows.Close()
			return fmt.Errorf("meter views of %s: %w", tenant, err)
		}
		views = append(views, [2]string{slug, v})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("meter views of %s: %w", tenant, err)
	}
	keep := map[string]bool{}
	for _, m := range defs {
		keep[MeterVersion(tenant, m)] = true
	}
	for _, sv := range views {
		if !keep[sv[1]] {
			if err := b.discard(ctx, tenant, sv[0], sv[1], BuildDropped, "no longer defined"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Retries of a failed build; the period of Sweep in Run.
const (
	retryAfter  = 10 * time.Second
	maxAttempts = 3
	sweepEvery  = 10 * time.Minute
)

// WithDefinitions has Run sweep the views of deleted meters, listing a
// tenant's definitions with current.
func (b *MeterBuilds) WithDefinitions(current func(ctx context.Context, tenant string) ([]tenancy.Meter, error)) *MeterBuilds {
	b.current = current
	return b
}

// Ready reports whether m's current version is built and checked.
func (b *MeterBuilds) Ready(ctx context.Context, tenant string, m tenancy.Meter) (bool, error) {
	state, _, err := b.state(ctx, tenant, m.Slug, MeterVersion(tenant, m))
	return state == BuildReady, err
}

// state is the latest state of a version ("" when none) and when it was set.
func (b *MeterBuilds) state(ctx context.Context, tenant, slug, version string) (string, time.Time, error) {
	var (
		state   string
		updated time.Time
	)
	err := b.db.QueryRow(ctx, "SELECT argMax(state, updated), max(updated) FROM meter_builds WHERE tenant_id = ? AND meter = ? AND version = ?",
		tenant, slug, version).Scan(&state, &updated)
	if err != nil {
		return "", updated, fmt.Errorf("meter build state: %w", err)
	}
	return state, updated, nil
}

func (b *MeterBuilds) setState(ctx context.Context, tenant, slug, version, state string, cutoff int64, detail string) error {
	err := b.db.Exec(ctx, "INSERT INTO meter_builds (tenant_id, meter, version, state, cutoff, updated, detail) "+
		"SELECT ?, ?, ?, ?, fromUnixTimestamp64Milli(toInt64(?), 'UTC'), now64(6, 'UTC'), ?", tenant, slug, version, state, cutoff, detail)
	if err != nil {
		return fmt.Errorf("meter build state %s: %w", state, err)
	}
	return nil
}

// Build builds m's view unless it is built or being built elsewhere.
func (b *MeterBuilds) Build(ctx context.Context, tenant string, m tenancy.Meter) error {
	return b.buildAll(ctx, []buildJob{{tenant, m}})[0]
}

// build is one view of a batch in the making.
type build struct {
	buildJob
	version, sel, cols string
	err                error
	skip               bool // ready, or another replica builds it
}

// buildAll builds the views of jobs together: one cutoff and the same
// waits serve them all. It returns each job's error.
func (b *MeterBuilds) buildAll(ctx context.Context, jobs []buildJob) []error {
	start := time.Now()
	bs := make([]*build, len(jobs))
	for i, j := range jobs {
		bs[i] = b.prepare(ctx, j)
	}
	cutoff, err := b.now(ctx)
	cutoff += b.guard.Milliseconds()
	split := " AND projected_at %s fromUnixTimestamp64Milli(toInt64(" + strconv.FormatInt(cutoff, 10) + "), 'UTC')"
	for _, x := range live(bs) {
		x.err = err
		if err == nil {
			x.err = b.createView(ctx, x, cutoff, x.sel+fmt.Sprintf(split, ">="))
		}
	}
	if len(live(bs)) > 0 {
		err = b.waitUntil(ctx, cutoff+b.guard.Milliseconds())
	}
	for _, x := range live(bs) {
		if x.err = err; err == nil {
			if x.err = b.db.Exec(ctx, "INSERT INTO meter_values ("+x.cols+") "+x.sel+fmt.Sprintf(split, "<")); x.err != nil {
				x.err = fmt.Errorf("meter %s: backfill: %w", x.meter.Slug, x.err)
			}
		}
	}
	b.checkAll(ctx, live(bs))
	errs := make([]error, len(bs))
	for i, x := range bs {
		errs[i] = b.finish(ctx, x, cutoff, start)
	}
	return errs
}

// live are the builds still going.
func live(bs []*build) []*build {
	var out []*build
	for _, x := range bs {
		if x.err == nil && !x.skip {
			out = append(out, x)
		}
	}
	return out
}

// prepare discards the meter's other versions and a stale or failed build
// of this one, and renders its SELECT.
func (b *MeterBuilds) prepare(ctx context.Context, j buildJob) *build {
	x := &build{buildJob: j, version: MeterVersion(j.tenant, j.meter)}
	if x.err = b.discardOthers(ctx, j.tenant, j.meter.Slug, x.version); x.err != nil {
		return x
	}
	state, updated, err := b.state(ctx, j.tenant, j.meter.Slug, x.version)
	if x.err = err; err != nil {
		return x
	}
	if x.skip = state == BuildReady || state == BuildBuilding && time.Since(updated) < staleBuild; x.skip {
		return x
	}
	if state != "" {
		if x.err = b.discard(ctx, j.tenant, j.meter.Slug, x.version, BuildDropped, "started again after "+state); x.err != nil {
			return x
		}
	}
	x.sel, x.cols, x.err = extractSelect(j.tenant, j.meter, x.version)
	return x
}

// createView creates x's view for the rows projected from cutoff on; the
// creation is the lock between replicas.
func (b *MeterBuilds) createView(ctx context.Context, x *build, cutoff int64, sel string) error {
	if err := b.db.Exec(ctx, "CREATE MATERIALIZED VIEW "+viewName(x.version)+" TO meter_values AS "+sel); err != nil {
		if alreadyExists(err) {
			x.skip = true // another replica created it first and builds it
			return nil
		}
		return fmt.Errorf("meter %s: create view: %w", x.meter.Slug, err)
	}
	return b.setState(ctx, x.tenant, x.meter.Slug, x.version, BuildBuilding, cutoff, "")
}

// checkAll waits out the guard after the backfills, then checks that
// meter_values holds as many rows of each version as events holds
// matching rows projected before then.
func (b *MeterBuilds) checkAll(ctx context.Context, bs []*build) {
	if len(bs) == 0 {
		return
	}
	now, err := b.now(ctx)
	if err == nil {
		err = b.waitUntil(ctx, now+b.guard.Milliseconds())
	}
	before := "projected_at < fromUnixTimestamp64Milli(toInt64(?), 'UTC')"
	for _, x := range bs {
		if x.err = err; err != nil {
			continue
		}
		var want, got uint64
		if err := b.db.QueryRow(ctx, "SELECT count() FROM events WHERE tenant_id = ? AND has(?, toString(type)) AND rollup_sign != 0 AND "+before,
			x.tenant, x.meter.EventTypes, now).Scan(&want); err != nil {
			x.err = fmt.Errorf("meter %s: check: %w", x.meter.Slug, err)
			continue
		}
		if err := b.db.QueryRow(ctx, "SELECT count() FROM meter_values WHERE tenant_id = ? AND version = ? AND "+before,
			x.tenant, x.version, now).Scan(&got); err != nil {
			x.err = fmt.Errorf("meter %s: check: %w", x.meter.Slug, err)
			continue
		}
		if got != want {
			x.err = fmt.Errorf("meter %s: check: the view and backfill hold %d rows, events %d", x.meter.Slug, got, want)
		}
	}
}

// finish marks x ready, or discards it when it failed after its view was
// created.
func (b *MeterBuilds) finish(ctx context.Context, x *build, cutoff int64, start time.Time) error {
	if x.skip && x.err == nil {
		return nil
	}
	if x.err != nil {
		if x.sel != "" {
			if derr := b.discard(context.WithoutCancel(ctx), x.tenant, x.meter.Slug, x.version, BuildFailed, x.err.Error()); derr != nil {
				b.log.Error("meter view discard failed", "meter", x.meter.Slug, "err", derr)
			}
		}
		b.outcomes.WithLabelValues(BuildFailed).Inc()
		return x.err
	}
	b.outcomes.WithLabelValues(BuildReady).Inc()
	b.seconds.Observe(time.Since(start).Seconds())
	b.log.Info("meter view built", "tenant", x.tenant, "meter", x.meter.Slug, "version", x.version, "seconds", time.Since(start).Seconds())
	return b.setState(ctx, x.tenant, x.meter.Slug, x.version, BuildReady, cutoff, "")
}

// now is the engine's clock in Unix milliseconds (it stamps projected_at).
func (b *MeterBuilds) now(ctx context.Context) (int64, error) {
	var ms int64
	if err := b.db.QueryRow(ctx, "SELECT toUnixTimestamp64Milli(now64(3))").Scan(&ms); err != nil {
		return 0, fmt.Errorf("engine clock: %w", err)
	}
	return ms, nil
}

// waitUntil sleeps until the engine's clock passes ms.
func (b *MeterBuilds) waitUntil(ctx context.Context, ms int64) error {
	for {
		now, err := b.now(ctx)
		if err != nil || now >= ms {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(ms-now) * time.Millisecond):
		}
	}
}

// discardOthers discards the meter's versions other than v (a changed
// definition): their views stop and their rows go.
func (b *MeterBuilds) discardOthers(ctx context.Context, tenant, slug, v string) error {
	rows, err := b.db.Query(ctx, "SELECT version FROM meter_builds WHERE tenant_id = ? AND meter = ? AND version != ? "+
		"GROUP BY version HAVING argMax(state, updated) != ?", tenant, slug, v, BuildDropped)
	if err != nil {
		return fmt.Errorf("meter %s: other versions: %w", slug, err)
	}
	var others []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return fmt.Errorf("meter %s: other versions: %w", slug, err)
		}
		others = append(others, o)
	}
	rows.Close()
	for _, o := range others {
		if err := b.discard(ctx, tenant, slug, o, BuildDropped, "replaced by "+v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Discard drops m's current view and rows (the next query builds it
// again): for benchmarks measuring a build.
func (b *MeterBuilds) Discard(ctx context.Context, tenant string, m tenancy.Meter) error {
	return b.discard(ctx, tenant, m.Slug, MeterVersion(tenant, m), BuildDropped, "discarded")
}

// discard drops a version's view and deletes its rows (a mutation: parts
// inserted after it, such as a new build's, keep theirs).
func (b *MeterBuilds) discard(ctx context.Context, tenant, slug, v, state, detail string) error {
	if err := b.db.Exec(ctx, "DROP VIEW IF EXISTS "+viewName(v)); err != nil {
		return fmt.Errorf("meter %s: drop view: %w", slug, err)
	}
	for _, t := range []string{"meter_values", "meter_minutes"} {
		if err := b.db.Exec(ctx, "ALTER TABLE "+t+" DELETE WHERE tenant_id = ? AND version = ?", tenant, v); err != nil {
			return fmt.Errorf("meter %s: delete rows of %s from %s: %w", slug, v, t, err)
		}
	}
	return b.setState(ctx, tenant, slug, v, state, 0, detail)
}

func alreadyExists(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code == 57 // TABLE_ALREADY_EXISTS
	}
	return strings.Contains(err.Error(), "TABLE_ALREADY_EXISTS")
}

// MeterVersion names what m's extraction depends on.
func MeterVersion(tenant string, m tenancy.Meter) string {
	h := sha256.New()
	kind := valueKind(m.Aggregation)
	if kind == kindText {
		// The layout of its rows: unique_count versions built before
		// migration clickhouse/00090 have no hashes in meter_minutes.
		kind += "+minute-hashes"
	}
	for _, s := range []string{tenant, m.Slug, kind, m.ValuePath, strings.Join(m.EventTypes, "\x01")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, n := range dimensionNames(m) {
		h.Write([]byte(n + "\x01" + m.GroupBy[n] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func viewName(version string) string { return "meter_mv_" + version }

// dimensionNames are m's dimensions in the order of columns g0..g4.
func dimensionNames(m tenancy.Meter) []string {
	names := make([]string, 0, len(m.GroupBy))
	for n := range m.GroupBy {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// extractSelect is the SELECT from events that the view and the backfill
// run for m (every value a literal: a view takes no bound arguments), and
// the meter_values columns it fills. The expressions are those the query
// over events uses, so both sources agree.
func extractSelect(tenant string, m tenancy.Meter, v string) (string, string, error) {
	sel := []string{"tenant_id", quoteSQL(v) + " AS version", "event_time", "external_id", "rollup_sign AS sign", "projected_at"}
	cols := []string{"tenant_id", "version", "event_time", "external_id", "sign", "projected_at"}
	for i, n := range dimensionNames(m) {
		e, err := dimensionExpr(m.GroupBy[n])
		if err != nil {
			return "", "", err
		}
		sel = append(sel, fmt.Sprintf("%s AS g%d", e, i))
		cols = append(cols, "g"+strconv.Itoa(i))
	}
	switch valueKind(m.Aggregation) {
	case kindNumber:
		e, err := numericExpr(m.ValuePath)
		if err != nil {
			return "", "", err
		}
		sel, cols = append(sel, e+" AS num"), append(cols, "num")
	case kindText:
		e, err := textExpr(m.ValuePath)
		if err != nil {
			return "", "", err
		}
		// uniqExact keeps a String as its 128-bit SipHash: the same here.
		sel = append(sel, "if(isNull("+e+"), NULL, reinterpretAsUInt128(sipHash128(assumeNotNull("+e+")))) AS h")
		cols = append(cols, "h")
	}
	types := make([]string, len(m.EventTypes))
	for i, t := range m.EventTypes {
		types[i] = quoteSQL(t)
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM events WHERE tenant_id = " + quoteSQL(tenant) +
		" AND has([" + strings.Join(types, ", ") + "], toString(type)) AND rollup_sign != 0", strings.Join(cols, ", "), nil
}
