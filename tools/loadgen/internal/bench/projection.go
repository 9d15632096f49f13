package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The projection phases (issue 14): the backlog of the gateway phases is
// drained three times, by fresh consumer groups: both sinks in one process
// (as deployed), then PostgreSQL alone, then ClickHouse alone (its read model
// emptied first). Progress is read from the groups' committed offsets, which
// the projector commits only after the rows are durable: that costs Kafka a
// metadata request per poll, where counting rows cost the measured stores a
// growing scan every poll. The rows are counted once at the end of each drain.

// phaseE2EHigh numbers the second end-to-end phase after every other phase
// (its ids, and so its expectation, must not share a range with another).
const phaseE2EHigh = phaseSingleHigh + 1

// projectorRun is one started projector: its sinks and consumer groups.
type projectorRun struct {
	sinks   string // "postgres,clickhouse", "postgres" or "clickhouse"
	pgGroup string
	chGroup string
}

func (p projectorRun) groups() []string {
	var out []string
	if p.sinks != "clickhouse" {
		out = append(out, p.pgGroup)
	}
	if p.sinks != "postgres" {
		out = append(out, p.chGroup)
	}
	return out
}

// startProjectorRun starts bin/projector for p; the previous projector of
// the run must have been stopped (one projector accounted at a time).
func (b *run) startProjectorRun(ctx context.Context, p projectorRun) error {
	b.groups = append(b.groups, p.groups()...)
	var err error
	b.proj, err = b.start(ctx, "projector", "-projector-addr", "ADDR", "-kafka-brokers", b.cfg.Brokers, "-kafka-topic", b.topic,
		"-kafka-dlq-topic", b.topic+".dlq", "-kafka-partitions", strconv.Itoa(b.cfg.Partitions), "-projector-sinks", p.sinks,
		"-projector-group-postgres", p.pgGroup, "-projector-group-clickhouse", p.chGroup,
		"-postgres-url", b.pgURL, "-clickhouse-addr", b.cfg.CHAddr, "-clickhouse-database", b.id, "-log-level", "warn")
	return err
}

// stopProjector stops the running projector (graceful: it commits what is durable).
func (b *run) stopProjector() error {
	if b.proj == nil {
		return nil
	}
	err := b.proj.stop(40 * time.Second)
	b.proj = nil
	return err
}

// projectionPhases runs the three drains and leaves a projector writing
// both sinks, caught up, for the end-to-end phases.
func (b *run) projectionPhases(ctx context.Context, conn *pgx.Conn, exp *expectation) ([]Phase, error) {
	records, err := b.topicRecords(ctx)
	if err != nil {
		return nil, err
	}
	want, _ := exp.total()
	b.logf("phase projection: projector drains the %d records (%d distinct events) accepted so far into PostgreSQL and ClickHouse", records, want)
	both := projectorRun{"postgres,clickhouse", b.id + "-pg", b.id + "-ch"}
	rates, cpu, secs, err := b.drain(ctx, both, records)
	if err != nil {
		return nil, err
	}
	if err := b.waitRows(ctx, conn, int64(want), true, true); err != nil {
		return nil, err
	}
	desc := "projector draining the gateway phases' backlog, both sinks in one process; rate from the first to the last commit of each sink's group; CPU is for both sinks together"
	phases := []Phase{
		drainResult("project-postgres", desc, records, secs, rates[0], cpu, b.cfg.DataBytes),
		drainResult("project-clickhouse", desc, records, secs, rates[1], cpu, b.cfg.DataBytes),
	}
	if !b.cfg.SinkAlone {
		return phases, nil
	}
	alone := projectorRun{pgGroup: b.id + "-pg-alone", chGroup: b.id + "-ch-alone"}
	for _, sink := range []string{"postgres", "clickhouse"} {
		p := alone
		p.sinks = sink
		b.logf("phase project-%s-alone: the %s read model emptied, projector with -projector-sinks %s drains the backlog again", sink, sink, sink)
		if err := b.stopProjector(); err != nil {
			return nil, err
		}
		if err := b.emptyReadModel(ctx, conn, sink); err != nil {
			return nil, err
		}
		rates, cpu, secs, err := b.drain(ctx, p, records)
		if err != nil {
			return nil, err
		}
		if err := b.waitRows(ctx, conn, int64(want), sink == "postgres", sink == "clickhouse"); err != nil {
			return nil, err
		}
		phases = append(phases, drainResult("project-"+sink+"-alone", "projector draining the same backlog with one sink; the other sink's read model untouched", records, secs, rates[0], cpu, b.cfg.DataBytes))
	}
	// The end-to-end phases need both sinks caught up: the "alone" groups are.
	if err := b.stopProjector(); err != nil {
		return nil, err
	}
	alone.sinks = "postgres,clickhouse"
	return phases, b.startProjectorRun(ctx, alone)
}

func drainResult(name, desc string, records int64, secs, rate float64, cpu map[string]float64, dataBytes int) Phase {
	return Phase{Name: name, Description: desc, Events: records, Accepted: records, Seconds: round(secs, 2), EventsPerSec: round(rate, 0),
		DataMBPerSec: round(rate*float64(dataBytes)/1e6, 2), CPUPerMillion: cpu}
}

// drain starts a projector for p, waits until each of its groups committed
// records, and returns each group's rate, the CPU per million records of the
// whole drain (projector start included) and its wall time.
func (b *run) drain(ctx context.Context, p projectorRun, records int64) ([]float64, map[string]float64, float64, error) {
	before := b.snapshot()
	started := time.Now()
	if err := b.startProjectorRun(ctx, p); err != nil {
		return nil, nil, 0, err
	}
	prof := b.startProfile("projection-"+p.sinks, b.proj)
	b.sampling(prof, true)
	polls, err := b.pollCommitted(ctx, p.groups(), records, b.cfg.DrainTimeout)
	after := b.snapshot()
	b.addProfile("projection-"+p.sinks, prof.stop(b))
	if err != nil {
		return nil, nil, 0, err
	}
	rates := make([]float64, len(polls))
	for i, ps := range polls {
		rates[i] = drainRate(ps, records, started)
	}
	return rates, before.perMillion(after, records), time.Since(started).Seconds(), nil
}

// topicRecords is the number of records in the bench topic.
func (b *run) topicRecords(ctx context.Context) (int64, error) {
	ends, err := b.kadm.ListEndOffsets(ctx, b.topic)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", b.topic, err)
	}
	var n int64
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			ferr = o.Err
		}
		n += o.Offset
	})
	return n, ferr
}

// committed is the number of records group has committed on the bench topic.
func (b *run) committed(ctx context.Context, group string) (int64, error) {
	offs, err := b.kadm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.Topic == b.topic && o.At > 0 {
			n += o.At
		}
	})
	return n, nil
}

// pollCommitted asks for the committed offsets of groups every
// PollInterval until every group committed want records.
func (b *run) pollCommitted(ctx context.Context, groups []string, want int64, timeout time.Duration) ([][]poll, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(b.cfg.PollInterval)
	defer tick.Stop()
	polls := make([][]poll, len(groups))
	for {
		done := true
		for i, g := range groups {
			n, err := b.committed(ctx, g)
			if err != nil {
				return polls, err
			}
			polls[i] = append(polls[i], poll{time.Now(), n})
			done = done && n >= want
		}
		if done {
			return polls, nil
		}
		if time.Now().After(deadline) {
			return polls, fmt.Errorf("consumer groups %v have not committed %d records after %s", groups, want, timeout)
		}
		select {
		case <-ctx.Done():
			return polls, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitRows checks (briefly polling) that the read models hold want rows of
// the load tenants once the groups have committed everything.
func (b *run) waitRows(ctx context.Context, conn *pgx.Conn, want int64, pg, ch bool) error {
	c := counter{conn, b.ch, append(append([]string{}, b.tenants...), b.schemaT...)} // every tenant of the gateway phases
	deadline := time.Now().Add(30 * time.Second)
	for {
		n1, n2 := want, want
		var err error
		if pg {
			if n1, err = c.postgres(ctx); err != nil {
				return fmt.Errorf("count postgres: %w", err)
			}
		}
		if ch {
			if n2, err = c.clickhouse(ctx); err != nil {
				return fmt.Errorf("count clickhouse: %w", err)
			}
		}
		if n1 >= want && n2 >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after the drain the read models hold %d (PostgreSQL) and %d (ClickHouse) rows, want %d", n1, n2, want)
		}
		time.Sleep(b.cfg.PollInterval)
	}
}

// emptyReadModel empties one read model of the bench database.
func (b *run) emptyReadModel(ctx context.Context, conn *pgx.Conn, sink string) error {
	if sink == "postgres" {
		_, err := conn.Exec(ctx, "TRUNCATE events")
		return err
	}
	for _, t := range []string{"events", "events_per_minute"} {
		if err := b.ch.exec(ctx, "TRUNCATE TABLE "+t); err != nil {
			return err
		}
	}
	return nil
}

// e2ePhases runs the end-to-end phase at E2ERate ("e2e") and, unless
// E2ERateHigh is 0, again at E2ERateHigh ("e2e-high") for other tenants.
func (b *run) e2ePhases(ctx context.Context, conn *pgx.Conn, exp *expectation, rep *Report) error {
	e2e, lag, err := b.e2ePhase(ctx, conn, exp, "e2e", phaseE2E, b.e2e, b.cfg.E2ERate)
	if err != nil {
		return err
	}
	rep.Phases = append(rep.Phases, e2e)
	rep.Visibility = lag
	if b.cfg.E2ERateHigh <= 0 {
		return nil
	}
	high, lag, err := b.e2ePhase(ctx, conn, exp, "e2e-high", phaseE2EHigh, b.e2eHigh, b.cfg.E2ERateHigh)
	if err != nil {
		return err
	}
	rep.Phases = append(rep.Phases, high)
	rep.VisibilityHigh = &lag
	return nil
}

// projectionTargets compares a report with the goals of issue 14.
func projectionTargets(r *Report) []Target {
	ph := map[string]Phase{}
	for _, p := range r.Phases {
		ph[p.Name] = p
	}
	both := min(ph["project-postgres"].EventsPerSec, ph["project-clickhouse"].EventsPerSec)
	cpu := ph["project-postgres"].CPUPerMillion
	out := []Target{{"projection into both stores events/s (issue 14)", ">= 60000", both, both >= 60000}}
	for _, s := range []string{"postgres", "clickhouse"} {
		if p, ok := ph["project-"+s+"-alone"]; ok {
			out = append(out, Target{"projection, " + s + " alone, events/s", ">= 90000", p.EventsPerSec, p.EventsPerSec >= 90000})
		}
	}
	if h := r.VisibilityHigh; h != nil {
		lag := max(h.Postgres.P99, h.ClickHouse.P99)
		out = append(out, Target{"e2e-high visibility p99 ms", "< 2000", lag, lag < 2000 && ph["e2e-high"].Missed == 0})
	}
	for _, c := range []struct {
		name string
		max  float64
	}{{"projector", 6}, {"postgres", 15}, {"clickhouse", 8}} {
		out = append(out, Target{"projection CPU-s per million, " + c.name, fmt.Sprintf("<= %g", c.max), cpu[c.name], cpu[c.name] <= c.max})
	}
	return out
}
