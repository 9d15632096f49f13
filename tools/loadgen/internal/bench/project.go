package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

// poll is a row count of a read model and when it was asked for.
type poll struct {
	at time.Time
	n  int64
}

// counter counts the rows of some tenants in both read models.
type counter struct {
	conn    *pgx.Conn
	ch      *clickhouse
	tenants []string
}

func (c counter) postgres(ctx context.Context) (int64, error) {
	var n int64
	err := c.conn.QueryRow(ctx, "SELECT count(*) FROM events WHERE tenant_id = ANY($1)", c.tenants).Scan(&n)
	return n, err
}

func (c counter) clickhouse(ctx context.Context) (int64, error) {
	return c.ch.count(ctx, "SELECT count() FROM events WHERE tenant_id IN "+chList(c.tenants))
}

// pollUntil asks both read models for their counts every interval until
// both reach target() (negative while load is still being offered) or
// the timeout passes.
func (b *run) pollUntil(ctx context.Context, c counter, target func() int64, timeout time.Duration) (pg, ch []poll, err error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(b.cfg.PollInterval)
	defer tick.Stop()
	for {
		t0 := time.Now()
		n1, err := c.postgres(ctx)
		if err != nil {
			return pg, ch, fmt.Errorf("count postgres: %w", err)
		}
		t1 := time.Now()
		n2, err := c.clickhouse(ctx)
		if err != nil {
			return pg, ch, fmt.Errorf("count clickhouse: %w", err)
		}
		pg, ch = append(pg, poll{t0, n1}), append(ch, poll{t1, n2})
		if want := target(); want >= 0 && n1 >= want && n2 >= want {
			return pg, ch, nil
		}
		if time.Now().After(deadline) {
			return pg, ch, fmt.Errorf("read models hold %d (PostgreSQL) and %d (ClickHouse) rows, want %d, after %s", n1, n2, target(), timeout)
		}
		select {
		case <-ctx.Done():
			return pg, ch, ctx.Err()
		case <-tick.C:
		}
	}
}

// drainRate is the sustained projection rate seen in polls: from the
// first poll with rows to the first holding want rows.
func drainRate(polls []poll, want int64, started time.Time) float64 {
	first := slices.IndexFunc(polls, func(p poll) bool { return p.n > 0 })
	last := slices.IndexFunc(polls, func(p poll) bool { return p.n >= want })
	if first < 0 || last < 0 {
		return 0
	}
	if last > first {
		return float64(polls[last].n-polls[first].n) / polls[last].at.Sub(polls[first].at).Seconds()
	}
	return float64(polls[last].n) / polls[last].at.Sub(started).Seconds()
}

// e2ePhase offers rate events/s to the gateway (open loop) for fresh
// tenants while polling both read models, then measures visibility lag.
func (b *run) e2ePhase(ctx context.Context, conn *pgx.Conn, exp *expectation, name string, idx int, tenants []string, rate float64) (Phase, Lag, error) {
	b.logf("phase %s: %.0f events/s offered in batches of %d for %s, polling the read models every %s", name, rate, b.cfg.E2EBatch, b.cfg.E2EDuration, b.cfg.PollInterval)
	cfg := b.httpConfig(idx, tenants, b.cfg.E2EBatch, b.cfg.E2EConcurrency, rate, b.cfg.E2EDuration)
	cfg.DupRatio = 0 // the count-based lag needs every accepted event to add one row
	var target = make(chan int64, 1)
	var want int64 = -1
	type polled struct {
		pg, ch []poll
		err    error
	}
	out := make(chan polled, 1)
	go func() {
		pg, ch, err := b.pollUntil(ctx, counter{conn, b.ch, tenants}, func() int64 {
			select {
			case w := <-target:
				want = w
			default:
			}
			return want
		}, b.cfg.E2EDuration+b.cfg.DrainTimeout)
		out <- polled{pg, ch, err}
	}()
	before := b.snapshot()
	res, err := load.RunHTTP(ctx, cfg)
	if err != nil {
		return Phase{}, Lag{}, err
	}
	exp.add(idx, cfg.Gen, res)
	target <- int64(exp.accepted[idx].Len())
	p := <-out
	after := b.snapshot()
	phase := httpPhaseResult(name, res, b.cfg.DataBytes, before.perMillion(after, res.Accepted))
	phase.Description = fmt.Sprintf("open loop, %.0f events/s offered in requests of %d, until visible in both read models; CPU includes the projector", rate, b.cfg.E2EBatch)
	if p.err != nil {
		return phase, Lag{}, p.err
	}
	lag := Lag{Method: fmt.Sprintf("count-based: k-th accepted event vs first poll (every %s) with >= k rows", b.cfg.PollInterval),
		Postgres: stats.Summarize(visibilityLags(res.Accepts, p.pg)), ClickHouse: stats.Summarize(visibilityLags(res.Accepts, p.ch))}
	return phase, lag, nil
}

// visibilityLags pairs the k-th accepted event (in answer order) with the
// first poll that counted at least k rows: the lag of a read model that
// applies events in about the order they were accepted. Events never
// counted get no sample.
func visibilityLags(accepts []load.Acceptance, polls []poll) []time.Duration {
	acc := slices.Clone(accepts)
	slices.SortFunc(acc, func(a, b load.Acceptance) int { return a.At.Compare(b.At) })
	var lags []time.Duration
	var k int64
	j := 0
	for _, a := range acc {
		for range a.N {
			k++
			for j < len(polls) && polls[j].n < k {
				j++
			}
			if j == len(polls) {
				return lags
			}
			lags = append(lags, max(polls[j].at.Sub(a.At), 0))
		}
	}
	return lags
}
