package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

// checker compares the (tenant, id) pairs of one read model with the
// expectation: every accepted event exactly once, nothing else except
// events of failed requests.
type checker struct {
	exp        *expectation
	seen       map[int]*stats.Set
	rows       int
	doubled    int
	unexpected int
	uncertain  int
	wrongTen   int
	example    string
}

func newChecker(exp *expectation) *checker {
	c := &checker{exp: exp, seen: map[int]*stats.Set{}}
	for p := range exp.accepted {
		c.seen[p] = stats.NewSet(uint64(p) * phaseSpan)
	}
	return c
}

func (c *checker) row(tenant, id string) {
	c.rows++
	seq, ok := gen.Config{Prefix: c.exp.prefix}.ParseID(id)
	p := int(seq / phaseSpan)
	pg, known := c.exp.gens[p]
	switch {
	case !ok || !known:
		c.unexpected++
	case pg.Event(seq).Tenant != tenant:
		c.wrongTen++
	case !c.seen[p].Add(seq):
		c.doubled++
	case c.exp.accepted[p].Has(seq):
	case c.exp.uncertain[p].Has(seq):
		c.uncertain++
	default:
		c.unexpected++
	}
	if (!ok || !known) && c.example == "" {
		c.example = tenant + "/" + id
	}
}

func (c *checker) problems(store string) []string {
	var out []string
	missing := 0
	for p, acc := range c.exp.accepted {
		acc.Each(func(seq uint64) {
			if !c.seen[p].Has(seq) {
				missing++
			}
		})
	}
	add := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%s: %d %s", store, n, what))
		}
	}
	add(missing, "accepted events missing")
	add(c.doubled, "events stored twice")
	add(c.unexpected, "rows that were never accepted "+c.example)
	add(c.wrongTen, "rows under the wrong tenant")
	return out
}

// verify checks both read models row by row against the accepted events,
// and the content of a sample through PostgreSQL, ClickHouse and the
// query API.
func (b *run) verify(ctx context.Context, conn *pgx.Conn, exp *expectation) Verification {
	b.logf("verify: every stored row against the accepted events, content of %d samples", b.cfg.Samples)
	v := Verification{}
	v.Expected, v.Uncertain = exp.total()
	fail := func(err error) { v.Problems = append(v.Problems, err.Error()) }

	pgc := newChecker(exp)
	rows, err := conn.Query(ctx, "SELECT tenant_id, external_id FROM events WHERE deleted_at IS NULL")
	if err == nil {
		var t, id string
		_, err = pgx.ForEachRow(rows, []any{&t, &id}, func() error { pgc.row(t, id); return nil })
	}
	if err != nil {
		fail(fmt.Errorf("postgres rows: %w", err))
	}
	v.PostgresRows = pgc.rows
	v.Problems = append(v.Problems, pgc.problems("PostgreSQL")...)

	// Raw rows, not FINAL: FINAL folds a key written twice into one row, so
	// a double could never show. The sink writes one event row per key; a
	// background merge may still fold a double before this reads it.
	chc := newChecker(exp)
	err = b.ch.query(ctx, "SELECT tenant_id, external_id FROM events WHERE is_deleted = 0", func(cols []string) error {
		if len(cols) != 2 {
			return fmt.Errorf("clickhouse row with %d columns", len(cols))
		}
		chc.row(cols[0], cols[1])
		return nil
	})
	if err != nil {
		fail(fmt.Errorf("clickhouse rows: %w", err))
	}
	v.ClickHouseRows = chc.rows
	v.Problems = append(v.Problems, chc.problems("ClickHouse")...)

	samples := sample(exp, b.cfg.Samples)
	v.SamplesPostgres, err = checkPostgres(ctx, conn, samples)
	if err != nil {
		fail(err)
	}
	v.SamplesClickHouse, err = checkClickHouse(ctx, b.ch, samples)
	if err != nil {
		fail(err)
	}
	v.SamplesQueryAPI, err = checkQueryAPI(ctx, "http://"+b.query.addr, b.keys, samples[:min(len(samples), 25)])
	if err != nil {
		fail(err)
	}
	v.OK = len(v.Problems) == 0 && v.Expected > 0
	if v.Expected == 0 {
		fail(fmt.Errorf("no event was accepted"))
	}
	return v
}

// sample returns up to n accepted events, rebuilt from their sequence numbers.
func sample(exp *expectation, n int) []gen.Event {
	var all []gen.Event
	rng := rand.New(rand.NewPCG(1, 2))
	for p, acc := range exp.accepted {
		keep := float64(n) / float64(max(1, acc.Len())) / float64(len(exp.accepted))
		acc.Each(func(seq uint64) {
			if rng.Float64() < keep*1.5 && len(all) < n {
				all = append(all, exp.gens[p].Event(seq))
			}
		})
	}
	return all
}

func checkPostgres(ctx context.Context, conn *pgx.Conn, evs []gen.Event) (int, error) {
	for i, e := range evs {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1 AND external_id = $2 AND type = $3 AND source = $4
			AND subject = $5 AND event_time = $6 AND data = $7::jsonb AND deleted_at IS NULL`,
			e.Tenant, e.ID, e.Type, e.Source, e.Subject, e.Time, string(e.Data)).Scan(&n)
		if err != nil {
			return i, fmt.Errorf("postgres sample %s/%s: %w", e.Tenant, e.ID, err)
		}
		if n != 1 {
			return i, fmt.Errorf("postgres sample %s/%s: content differs from what was sent", e.Tenant, e.ID)
		}
	}
	return len(evs), nil
}

// checkClickHouse looks the samples up in one query and compares the
// columns the ClickHouse read model keeps.
func checkClickHouse(ctx context.Context, ch *clickhouse, evs []gen.Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	want := map[string]gen.Event{}
	keys := make([]string, 0, len(evs))
	for _, e := range evs {
		want[e.Tenant+"/"+e.ID] = e
		keys = append(keys, "("+chString(e.Tenant)+","+chString(e.ID)+")")
	}
	sql := "SELECT tenant_id, external_id, type, source, subject, toUnixTimestamp64Milli(event_time) FROM events FINAL WHERE is_deleted = 0 AND (tenant_id, external_id) IN (" + strings.Join(keys, ",") + ")"
	found := map[string]int{}
	err := ch.query(ctx, sql, func(c []string) error {
		if len(c) != 6 {
			return fmt.Errorf("clickhouse sample row with %d columns", len(c))
		}
		k := c[0] + "/" + c[1]
		e := want[k]
		found[k]++
		if c[2] != e.Type || c[3] != e.Source || c[4] != e.Subject || c[5] != strconv.FormatInt(e.Time.UnixMilli(), 10) {
			return fmt.Errorf("clickhouse sample %s: stored %v, sent type %s source %s subject %s time %d", k, c[2:], e.Type, e.Source, e.Subject, e.Time.UnixMilli())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for k := range want {
		if found[k] != 1 {
			return 0, fmt.Errorf("clickhouse sample %s: %d rows, want 1", k, found[k])
		}
	}
	return len(evs), nil
}

func checkQueryAPI(ctx context.Context, base string, keys map[string]string, evs []gen.Event) (int, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	for i, e := range evs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events/"+e.ID, nil)
		if err != nil {
			return i, err
		}
		req.Header.Set("Authorization", "Bearer "+keys[e.Tenant])
		resp, err := client.Do(req)
		if err != nil {
			return i, fmt.Errorf("query API sample %s: %w", e.ID, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			ID, Type, Source, Subject string
			Time                      time.Time
			Data                      json.RawMessage
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
			return i, fmt.Errorf("query API sample %s: status %d: %.200s", e.ID, resp.StatusCode, body)
		}
		var a, b any
		_ = json.Unmarshal(got.Data, &a)
		_ = json.Unmarshal(e.Data, &b)
		if got.ID != e.ID || got.Type != e.Type || got.Source != e.Source || got.Subject != e.Subject || !got.Time.Equal(e.Time) || !reflect.DeepEqual(a, b) {
			return i, fmt.Errorf("query API sample %s: answer differs from what was sent: %.300s", e.ID, bytes.TrimSpace(body))
		}
	}
	return len(evs), nil
}
