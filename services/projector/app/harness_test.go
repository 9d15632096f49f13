package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/app"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// harness is one test's private world: its own topics, consumer groups,
// PostgreSQL schema (migrated) and ClickHouse database (migrated), and a
// random tenant, so tests never see each other's rows and --drop is safe.
type harness struct {
	t        testing.TB
	suffix   string
	tenant   string
	brokers  string
	topic    string
	dlq      string
	parts    int
	replicas int    // replication factor of its topics
	pgURL    string // search_path = the private schema
	pgSchema string
	pool     *pgxpool.Pool
	chAddr   string
	chDB     string
	ch       driver.Conn
	prod     *kgo.Client
	adm      *kadm.Client
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newHarness(t testing.TB, partitions int) *harness {
	t.Helper()
	return newHarnessOn(t, testenv.KafkaBrokers(t), partitions, 1)
}

// newHarnessOn is newHarness on the given brokers, its topics replicated
// replicas times (a private cluster's).
func newHarnessOn(t testing.TB, brokers string, partitions, replicas int) *harness {
	t.Helper()
	h := &harness{t: t, suffix: randHex(5), parts: partitions, replicas: replicas, brokers: brokers}
	baseURL := testenv.PostgresURL(t)
	h.chAddr = testenv.ClickHouseAddr(t)
	h.tenant = "tenant-" + h.suffix
	h.topic = "projector-test-" + h.suffix
	h.dlq = h.topic + ".dlq"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var err error
	h.prod, err = kafka.NewClient(h.kafkaConfig(), nil, nil, "", kgo.DefaultProduceTopic(h.topic), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.prod.Close)
	h.adm = kadm.NewClient(h.prod)
	if err := kafka.EnsureTopics(ctx, h.prod, h.kafkaConfig()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = h.adm.DeleteTopics(ctx, h.topic, h.dlq)
		_, _ = h.adm.DeleteGroups(ctx, h.group("postgres"), h.group("clickhouse"))
	})

	// PostgreSQL: a private schema with the migrations applied.
	h.pgSchema = "projtest_" + h.suffix
	h.pgURL = migratetest.PrivatePostgres(t, baseURL, h.pgSchema)
	h.pool, err = pgxpool.New(ctx, h.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.pool.Close)

	// ClickHouse: a private database with the migrations applied.
	h.chDB = "projtest_" + h.suffix
	migratetest.PrivateClickHouse(t, h.chAddr, h.chDB)
	h.ch = h.chOpen(h.chDB)
	t.Cleanup(func() { _ = h.ch.Close() })
	return h
}

func (h *harness) chOpen(db string) driver.Conn {
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{h.chAddr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) kafkaConfig() kafka.Config {
	return kafka.Config{Brokers: h.brokers, Topic: h.topic, DLQTopic: h.dlq, Partitions: h.parts, ReplicationFactor: h.replicas, ClientID: "projector-test"}
}

func (h *harness) group(sink string) string { return "projtest-" + sink + "-" + h.suffix }

// args are the projector's flags for this harness (extra come last and win).
func (h *harness) args(extra ...string) []string {
	return append([]string{
		"--kafka-brokers", h.brokers, "--kafka-topic", h.topic, "--kafka-dlq-topic", h.dlq,
		"--kafka-partitions", fmt.Sprint(h.parts), "--kafka-replication-factor", fmt.Sprint(h.replicas),
		"--postgres-url", h.pgURL, "--clickhouse-addr", h.chAddr, "--clickhouse-database", h.chDB,
		"--projector-group-postgres", h.group("postgres"), "--projector-group-clickhouse", h.group("clickhouse"),
		"--projector-addr", "127.0.0.1:0", "--log-level", "warn", "--log-format", "text",
		"--projector-lag-interval", "1s", "--projector-backoff-max", "1s", "--projector-session-timeout", "6s",
	}, extra...)
}

// start runs the projector in this process until the test ends; it returns
// the ops server address.
func (h *harness) start(extra ...string) string {
	h.t.Helper()
	addr, _ := h.startStoppable(extra...)
	return addr
}

// startStoppable is start that also returns a function stopping the
// projector gracefully (idempotent; also run at cleanup).
func (h *harness) startStoppable(extra ...string) (string, func()) {
	h.t.Helper()
	var cfg app.Config
	if _, err := config.Parse("projector", h.args(extra...), cfg.Components()...); err != nil {
		h.t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(cfg, logger, observe.NewRegistry())
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					h.t.Errorf("projector: %v", err)
				}
			case <-time.After(30 * time.Second):
				h.t.Error("projector did not stop within 30s")
			}
		})
	}
	h.t.Cleanup(stop)
	return a.Addr(), stop
}

// replay runs `projector replay` in this process and waits for it to finish.
func (h *harness) replay(sink string, extra ...string) {
	h.t.Helper()
	var cfg app.Config
	cfg.Replay.Enabled = true
	if _, err := config.Parse("projector replay", h.args(append([]string{"--sink", sink}, extra...)...), cfg.Components()...); err != nil {
		h.t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(cfg, logger, observe.NewRegistry())
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		h.t.Fatalf("replay %s: %v", sink, err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ---- the log ----

var types = []string{"order.created", "order.paid", "order.shipped", "user.signed_up", "page.viewed"}

var baseTime = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func (h *harness) event(id string, typ string, at time.Time) *schemas.Event {
	data := fmt.Sprintf(`{"id":%q,"amount":%d,"note":"some payload to make the event about three hundred bytes long"}`, id, len(id))
	return &schemas.Event{Version: 1, TenantID: h.tenant, IngestID: "ing-" + randHex(4), ReceivedAt: at.Add(time.Second),
		ContentHash: "hash-" + id + "-" + typ, ID: id, Type: typ, Source: "test", Subject: "s-" + id, Time: at,
		DataContentType: "application/json", Data: json.RawMessage(data)}
}

func (h *harness) eventRecord(ev *schemas.Event) *kgo.Record {
	r := schemas.EventRecord(h.topic, ev)
	return r
}

func (h *harness) tombstoneRecord(id string) *kgo.Record {
	r, err := schemas.TombstoneRecord(h.topic, &schemas.Tombstone{Version: 1, TenantID: h.tenant, ID: id, DeletedAt: time.Now().UTC().Truncate(time.Millisecond), ErasureID: "er-" + id})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) produce(recs ...*kgo.Record) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const chunk = 10000
	for i := 0; i < len(recs); i += chunk {
		if err := h.prod.ProduceSync(ctx, recs[i:min(i+chunk, len(recs))]...).FirstErr(); err != nil {
			h.t.Fatal(err)
		}
	}
}

// expected is what the read models must hold: the first copy of each id,
// counted in total, per type, per minute and per (minute, type) cell (the
// rollup's own grain, where a double in one cell and a loss in another of
// the same minute or type would cancel out in the marginals).
type expected struct {
	total  int
	byType map[string]int
	byMin  map[time.Time]int
	byCell map[cell]int
}

type cell struct {
	minute time.Time
	typ    string
}

func newExpected() expected {
	return expected{byType: map[string]int{}, byMin: map[time.Time]int{}, byCell: map[cell]int{}}
}

// add counts n events of typ at the minute of at (n < 0 removes them);
// entries that reach 0 are dropped, as the stores' queries drop them.
func (e *expected) add(typ string, at time.Time, n int) {
	m := at.UTC().Truncate(time.Minute)
	e.total += n
	bump(e.byType, typ, n)
	bump(e.byMin, m, n)
	bump(e.byCell, cell{m, typ}, n)
}

func bump[K comparable](m map[K]int, k K, n int) {
	if m[k] += n; m[k] == 0 {
		delete(m, k)
	}
}

// dupLog builds n records over n*(1-dupFrac) ids: every id once, plus
// duplicate copies of earlier ids with a different type and time (so a wrong
// "winner" changes the counts).
func (h *harness) dupLog(n int, dupFrac float64) ([]*kgo.Record, expected) {
	unique := int(float64(n) * (1 - dupFrac))
	exp := newExpected()
	recs := make([]*kgo.Record, 0, n)
	ids := make([]string, 0, unique)
	dupEvery := 0
	if n > unique {
		dupEvery = unique / (n - unique)
	}
	for i := 0; i < unique; i++ {
		id := fmt.Sprintf("evt-%07d", i)
		typ := types[i%len(types)]
		at := baseTime.Add(time.Duration(i%1800) * time.Second) // 30 minutes
		recs = append(recs, h.eventRecord(h.event(id, typ, at)))
		ids = append(ids, id)
		exp.add(typ, at, 1)
		if dupEvery > 0 && i%dupEvery == dupEvery-1 && len(recs) < n {
			// a copy of a recent id with different attributes: must lose
			j := i - (i/dupEvery)%7
			recs = append(recs, h.eventRecord(h.event(ids[j], "dup.type", baseTime.Add(-time.Hour))))
		}
	}
	for len(recs) < n { // rounding
		recs = append(recs, h.eventRecord(h.event(ids[len(recs)%len(ids)], "dup.type", baseTime.Add(-time.Hour))))
	}
	return recs, exp
}

// ---- the read models ----

// counts is what a read model holds, in the shape of expected.
type counts struct {
	expected
	deleted int
}

func newCounts() counts { return counts{expected: newExpected()} }

func (h *harness) pgCounts() counts {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCounts()
	rows, err := h.pool.Query(ctx, `SELECT type, date_trunc('minute', event_time), count(*) FROM events
		WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY 1, 2`, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	for rows.Next() {
		var (
			typ string
			m   time.Time
			n   int
		)
		if err := rows.Scan(&typ, &m, &n); err != nil {
			h.t.Fatal(err)
		}
		c.add(typ, m, n)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1 AND deleted_at IS NOT NULL`, h.tenant).Scan(&c.deleted); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) pgTotal() int {
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE tenant_id = $1`, h.tenant).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// chRollup reads the per-minute rollup (the exact counts queries serve).
func (h *harness) chRollup() counts {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCounts()
	rows, err := h.ch.Query(ctx, `SELECT type, minute, sum(events) AS n FROM events_per_minute
		WHERE tenant_id = ? GROUP BY type, minute HAVING n != 0`, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			typ string
			m   time.Time
			n   int64
		)
		if err := rows.Scan(&typ, &m, &n); err != nil {
			h.t.Fatal(err)
		}
		c.add(typ, m, int(n))
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// chFinal counts the events table itself with FINAL (and the deleted rows).
func (h *harness) chFinal() counts {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCounts()
	rows, err := h.ch.Query(ctx, `SELECT type, toStartOfMinute(event_time) AS m, count() FROM events FINAL
		WHERE tenant_id = ? GROUP BY type, m`, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			typ string
			m   time.Time
			n   uint64
		)
		if err := rows.Scan(&typ, &m, &n); err != nil {
			h.t.Fatal(err)
		}
		c.add(typ, m, int(n))
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	var del uint64
	if err := h.ch.QueryRow(ctx, `SELECT count() FROM (SELECT argMax(is_deleted, version) AS d FROM events WHERE tenant_id = ? GROUP BY external_id) WHERE d = 1`, h.tenant).Scan(&del); err != nil {
		h.t.Fatal(err)
	}
	c.deleted = int(del)
	return c
}

func (h *harness) chRowCount() int {
	var n uint64
	if err := h.ch.QueryRow(context.Background(), `SELECT count() FROM events WHERE tenant_id = ?`, h.tenant).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return int(n)
}

func equalCounts(t testing.TB, what string, got counts, want expected) {
	t.Helper()
	if got.total != want.total {
		t.Errorf("%s: total %d, want %d", what, got.total, want.total)
	}
	if fmt.Sprint(got.byType) != fmt.Sprint(want.byType) {
		t.Errorf("%s: per type %v, want %v", what, got.byType, want.byType)
	}
	if len(got.byMin) != len(want.byMin) {
		t.Errorf("%s: %d minutes, want %d", what, len(got.byMin), len(want.byMin))
	}
	for m, n := range want.byMin {
		if got.byMin[m] != n {
			t.Errorf("%s: minute %s has %d, want %d", what, m.Format(time.TimeOnly), got.byMin[m], n)
			break
		}
	}
	if len(got.byCell) != len(want.byCell) {
		t.Errorf("%s: %d (minute, type) cells, want %d", what, len(got.byCell), len(want.byCell))
	}
	for c, n := range want.byCell {
		if got.byCell[c] != n {
			t.Errorf("%s: minute %s type %s has %d, want %d", what, c.minute.Format(time.TimeOnly), c.typ, got.byCell[c], n)
			break
		}
	}
}

// holdMerges keeps ClickHouse from merging the parts of the events table
// (it still runs mutations), so every row the sink wrote stays countable:
// a merge would fold a doubled key's rows into one. Table settings persist
// across an engine restart.
func (h *harness) holdMerges() {
	h.t.Helper()
	if err := h.ch.Exec(context.Background(), `ALTER TABLE events MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1,
		max_bytes_to_merge_at_min_space_in_pool = 1`); err != nil {
		h.t.Fatal(err)
	}
}

// chRawExcess returns the tenant's keys holding more raw rows (no FINAL)
// than the sink writes for a key, at most one event row and one tombstone
// row, with their counts. Meaningful after holdMerges.
func (h *harness) chRawExcess() map[string]string {
	h.t.Helper()
	rows, err := h.ch.Query(context.Background(), `SELECT external_id, countIf(is_deleted = 0) AS ev, countIf(is_deleted = 1) AS del
		FROM events WHERE tenant_id = ? GROUP BY external_id HAVING ev > 1 OR del > 1`, h.tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var (
			id      string
			ev, del uint64
		)
		if err := rows.Scan(&id, &ev, &del); err != nil {
			h.t.Fatal(err)
		}
		out[id] = fmt.Sprintf("%d event rows, %d tombstone rows", ev, del)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// requireNoRawExcess fails the test when a key holds more raw rows than the
// sink writes for it.
func (h *harness) requireNoRawExcess() {
	h.t.Helper()
	if ex := h.chRawExcess(); len(ex) > 0 {
		n := 0
		for id, what := range ex {
			if n++; n <= 5 {
				h.t.Errorf("clickhouse: key %s holds %s", id, what)
			}
		}
		h.t.Fatalf("clickhouse: %d keys hold more raw rows than the sink writes", len(ex))
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lag sums the committed-offset lag of a sink's group (-1 when unknown).
func (h *harness) lag(sink string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := h.adm.Lag(ctx, h.group(sink))
	if err != nil {
		return -1
	}
	l, ok := lags[h.group(sink)]
	if !ok || l.Error() != nil {
		return -1
	}
	var total int64
	seen := 0
	for _, pl := range l.Lag[h.topic] {
		if pl.Err != nil || pl.Lag < 0 {
			return -1
		}
		total += pl.Lag
		seen++
	}
	if seen < h.parts {
		return -1
	}
	return total
}

func readyz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
