package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

// statsRows writes one tenant's events to both read models the way the
// projector can leave them: duplicate copies in ClickHouse (same key, later
// offset, other type and time: lower version), deleted events (PostgreSQL
// tombstone row; ClickHouse event row plus tombstone row) and tombstones of
// keys never seen; each ClickHouse row with the rollup_sign the projector
// gives it, which feeds the per-minute rollup.
func statsRows(t *testing.T, pool *pgxpool.Pool, tenant string) {
	t.Helper()
	const n = 3000
	// ClickHouse collapses copies of a key inside one INSERT block, so the
	// copies go in separate inserts (separate parts) and FINAL must merge them.
	var pg, ch, dups, tombs []querytest.Row
	for i := range n {
		r := querytest.Row{
			Tenant: tenant, ID: fmt.Sprintf("ev-%05d", i), Type: types[i%3], Source: sources[i%2],
			Subject: fmt.Sprintf("sub-%d", i%17),
			// Spread over 72 hours at millisecond precision.
			Time:      t0.Add(time.Duration(i)*86400*time.Millisecond + time.Duration(i%1000)*time.Millisecond),
			Data:      map[string]any{"n": i},
			Partition: int32(i % 4), Offset: int64(i), RollupSign: 1,
		}
		if i%11 == 0 {
			r.Subject = ""
		}
		ch = append(ch, r)
		if i%10 == 0 {
			dup := r
			dup.Offset += 100_000
			dup.Type = "dup.type"
			dup.Time = r.Time.Add(time.Hour)
			dup.RollupSign = 0
			dups = append(dups, dup)
		}
		if i%13 == 0 {
			tomb := r
			tomb.Offset += 200_000
			tomb.Deleted, tomb.RollupSign = true, -1
			tombs = append(tombs, tomb)
			r.Deleted = true
		}
		pg = append(pg, r)
	}
	for i := range 20 {
		tomb := querytest.Row{Tenant: tenant, ID: fmt.Sprintf("gone-%d", i), Time: t0, Offset: int64(300_000 + i), Deleted: true}
		pg = append(pg, tomb)
		tombs = append(tombs, tomb)
	}
	querytest.InsertPG(t, pool, pg)
	querytest.InsertCH(t, querytest.ClickHouse(t), ch)
	querytest.InsertCH(t, querytest.ClickHouse(t), dups)
	querytest.InsertCH(t, querytest.ClickHouse(t), tombs)
	// The point of the test is counting while duplicates are still stored:
	// check ClickHouse has not merged them away yet.
	var raw, logical uint64
	conn := querytest.ClickHouse(t)
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM events WHERE tenant_id = ?", tenant).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM events FINAL WHERE tenant_id = ?", tenant).Scan(&logical); err != nil {
		t.Fatal(err)
	}
	t.Logf("ClickHouse holds %d row versions for %d live keys", raw, logical)
}

// pgStats counts the same thing directly in PostgreSQL.
func pgStats(t *testing.T, pool *pgxpool.Pool, tenant string, from, to time.Time, width int64, groupBy string, f store.Filter) (total, subjects uint64, buckets map[string][2]uint64) {
	t.Helper()
	where := "tenant_id = $1 AND deleted_at IS NULL AND event_time >= $2 AND event_time < $3"
	args := []any{tenant, from, to}
	if len(f.Types) > 0 {
		args = append(args, f.Types)
		where += " AND type = ANY($" + strconv.Itoa(len(args)) + ")"
	}
	if f.Source != "" {
		args = append(args, f.Source)
		where += " AND source = $" + strconv.Itoa(len(args))
	}
	if f.Subject != "" {
		args = append(args, f.Subject)
		where += " AND subject = $" + strconv.Itoa(len(args))
	}
	ctx := context.Background()
	if err := pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT subject) FROM events WHERE "+where, args...).Scan(&total, &subjects); err != nil {
		t.Fatal(err)
	}
	grp := "''"
	switch groupBy {
	case "type":
		grp = "coalesce(type, '')"
	case "source":
		grp = "coalesce(source, '')"
	}
	sql := fmt.Sprintf(`SELECT (floor(extract(epoch FROM event_time) * 1000 / %d) * %d)::bigint AS b, %s AS g, count(*), count(DISTINCT subject)
		FROM events WHERE %s GROUP BY 1, 2`, width, width, grp, where)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	buckets = map[string][2]uint64{}
	for rows.Next() {
		var ms int64
		var g string
		var c, s uint64
		if err := rows.Scan(&ms, &g, &c, &s); err != nil {
			t.Fatal(err)
		}
		buckets[fmt.Sprintf("%d/%s", ms, g)] = [2]uint64{c, s}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return total, subjects, buckets
}

// statsCase is one /v1/stats query of the test.
type statsCase struct {
	from, to          time.Time
	interval, groupBy string
	f                 store.Filter
}

// rollupAnswers is when the per-minute rollup should answer c without
// unique subjects: a range of whole minutes, no grouping or filter but by
// type.
func (c statsCase) rollupAnswers() bool {
	whole := c.from.Equal(c.from.Truncate(time.Minute)) && c.to.Equal(c.to.Truncate(time.Minute))
	return whole && c.groupBy != "source" && c.f.Source == "" && c.f.Subject == ""
}

// Every case is asked twice: with unique subjects (a FINAL scan of events)
// and without (unique_subjects=false: the per-minute rollup answers when
// the range is whole minutes and only types filter or group, else events).
func TestStatsEqualPostgresCountsDespiteDuplicatesAndDeletions(t *testing.T) {
	e, _ := newEnv(t)
	pool := querytest.Postgres(t)
	statsRows(t, pool, e.tenantA)
	// Tenant B's rows in the same time range must not count for A.
	b := genRows(e.tenantB, 500, time.Minute)
	querytest.InsertPG(t, pool, b)
	querytest.InsertCH(t, querytest.ClickHouse(t), b)

	ranges := [][2]time.Time{
		{t0, t0.Add(72 * time.Hour)},
		{t0.Add(5 * time.Hour), t0.Add(30 * time.Hour)},
		{t0.Add(time.Hour + 123*time.Millisecond), t0.Add(50*time.Hour + 7*time.Millisecond)},
		{t0.Add(90 * time.Minute), t0.Add(91 * time.Minute)},
	}
	var cases []statsCase
	for _, r := range ranges {
		for _, iv := range []string{"minute", "hour", "day"} {
			cases = append(cases, statsCase{r[0], r[1], iv, "none", store.Filter{}})
		}
	}
	for _, r := range ranges[1:3] {
		for _, g := range []string{"none", "type", "source"} {
			for _, f := range []store.Filter{{}, {Types: []string{"order.paid", "user.signup"}}, {Source: "shop"}, {Subject: "sub-3"}} {
				cases = append(cases, statsCase{r[0], r[1], "hour", g, f})
			}
		}
	}
	rollups := 0
	for _, c := range cases {
		checkStats(t, e, pool, c, true)
		checkStats(t, e, pool, c, false)
		if c.rollupAnswers() {
			rollups++
		}
	}
	if got := testutil.ToFloat64(e.ch.StatsAnswers().WithLabelValues(store.StatsFromRollup)); int(got) != rollups || rollups == 0 {
		t.Errorf("the rollup answered %v queries, want %d", got, rollups)
	}
	t.Logf("%d stats queries equal PostgreSQL counts, %d answered by the rollup", 2*len(cases), rollups)
}

// checkStats asks /v1/stats for c and compares its answer with
// PostgreSQL's counts; without subjects, the answer must leave them out.
// Daily counts ask for no top types (top=0), the others for two.
func checkStats(t *testing.T, e env, pool *pgxpool.Pool, c statsCase, subjects bool) {
	t.Helper()
	name := fmt.Sprintf("%s..%s/%s/%s/%+v/subjects=%v", c.from.Format(time.RFC3339Nano), c.to.Format(time.RFC3339Nano), c.interval, c.groupBy, c.f, subjects)
	q := url.Values{"from": {c.from.Format(time.RFC3339Nano)}, "to": {c.to.Format(time.RFC3339Nano)},
		"interval": {c.interval}, "group_by": {c.groupBy}, "top": {c.top()}}
	if !subjects {
		q.Set("unique_subjects", "false")
	}
	for _, ty := range c.f.Types {
		q.Add("type", ty)
	}
	if c.f.Source != "" {
		q.Set("source", c.f.Source)
	}
	if c.f.Subject != "" {
		q.Set("subject", c.f.Subject)
	}
	var got api.StatsAnswer
	if st, d, _ := call(t, e.base, e.keyA, "/v1/stats", q, &got); st != http.StatusOK {
		t.Fatalf("%s: %d %+v", name, st, d)
	}
	total, pgSubjects, buckets := pgStats(t, pool, e.tenantA, c.from, c.to, store.IntervalMillis[c.interval], c.groupBy, c.f)
	if total == 0 && c.to.Sub(c.from) > time.Hour {
		t.Fatalf("%s: PostgreSQL counts nothing; the test data is wrong", name)
	}
	if !subjects {
		pgSubjects = 0
		for k, v := range buckets {
			buckets[k] = [2]uint64{v[0], 0}
		}
	}
	if got.Total != total || subjectsOf(got.UniqueSubjects, subjects) != pgSubjects {
		t.Errorf("%s: total %d unique subjects %v; PostgreSQL says %d and %d", name, got.Total, got.UniqueSubjects, total, pgSubjects)
	}
	gotBuckets := map[string][2]uint64{}
	var sum uint64
	for _, bk := range got.Buckets {
		g := ""
		if bk.Group != nil {
			g = *bk.Group
		}
		gotBuckets[fmt.Sprintf("%d/%s", bk.Start.UnixMilli(), g)] = [2]uint64{bk.Count, subjectsOf(bk.UniqueSubjects, subjects)}
		sum += bk.Count
	}
	if sum != got.Total {
		t.Errorf("%s: buckets sum to %d, total says %d", name, sum, got.Total)
	}
	if fmt.Sprint(gotBuckets) != fmt.Sprint(buckets) {
		t.Errorf("%s: buckets differ from PostgreSQL:\n got %v\nwant %v", name, gotBuckets, buckets)
	}
	if want := pgTopTypes(t, pool, e.tenantA, c); fmt.Sprint(got.TopTypes) != fmt.Sprint(want) {
		t.Errorf("%s: top types %v, PostgreSQL says %v", name, got.TopTypes, want)
	}
}

// top is the number of top types c asks for.
func (c statsCase) top() string {
	if c.interval == "day" {
		return "0"
	}
	return "2"
}

// pgTopTypes is the most frequent types PostgreSQL counts for c.
func pgTopTypes(t *testing.T, pool *pgxpool.Pool, tenant string, c statsCase) []store.TypeCount {
	t.Helper()
	var want []store.TypeCount
	rows, err := pool.Query(context.Background(), `SELECT type, count(*) FROM events WHERE tenant_id = $1 AND deleted_at IS NULL
		AND event_time >= $2 AND event_time < $3 AND ($4::text[] IS NULL OR type = ANY($4)) AND ($5 = '' OR source = $5) AND ($6 = '' OR subject = $6)
		GROUP BY type ORDER BY count(*) DESC, type LIMIT `+c.top(), tenant, c.from, c.to, c.f.Types, c.f.Source, c.f.Subject)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tc store.TypeCount
		if err := rows.Scan(&tc.Type, &tc.Count); err != nil {
			t.Fatal(err)
		}
		want = append(want, tc)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

// subjectsOf reads a unique-subject count that must be there when asked
// for and absent otherwise (0 in both cases when it is wrong: the caller's
// comparison then fails unless PostgreSQL also says 0, checked elsewhere).
func subjectsOf(n *uint64, asked bool) uint64 {
	switch {
	case asked && n != nil:
		return *n
	case !asked && n == nil:
		return 0
	}
	return 1 << 63 // present when not asked for, or absent when asked for
}
