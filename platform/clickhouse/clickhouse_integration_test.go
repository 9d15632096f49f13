package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// Integration tests: they run against the ClickHouse at PULSESTREAM_CLICKHOUSE_ADDR
// (the local chDB engine from scripts/clickhouse.sh, or a real server) through
// clickhouse-go/v2, and skip unless PULSESTREAM_TEST_INTEGRATION=1.

const eventsDDL = `CREATE TABLE %s (
	tenant_id   String,
	external_id String,
	event_time  DateTime64(3, 'UTC'),
	type        LowCardinality(String),
	subject     String,
	version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, external_id)`

type event struct {
	tenant, id, typ, subject string
	at                       time.Time
	version                  uint64
}

var eventTypes = []string{"click", "page.view", "purchase", "signup"}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func testConfig(t *testing.T, addr string) Config {
	t.Helper()
	return Config{
		Addr:         addr,
		Protocol:     testenv.ClickHouseProtocol(),
		Database:     envOr("PULSESTREAM_CLICKHOUSE_DATABASE", "pulsestream"),
		Username:     envOr("PULSESTREAM_CLICKHOUSE_USERNAME", "default"),
		Password:     os.Getenv("PULSESTREAM_CLICKHOUSE_PASSWORD"),
		DialTimeout:  5 * time.Second,
		MaxOpenConns: 10,
	}
}

// openAt opens cfg, creating its database first (Open needs it to exist).
func openAt(t *testing.T, cfg Config) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	boot := cfg
	boot.Database = "default"
	bc := openPinged(ctx, t, boot)
	if err := bc.Exec(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`", cfg.Database)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	_ = bc.Close()
	conn := openPinged(ctx, t, cfg)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// openPinged opens cfg and waits for one answer.
func openPinged(ctx context.Context, t *testing.T, cfg Config) driver.Conn {
	t.Helper()
	conn, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		t.Fatalf("ping %s: %v", cfg.Addr, err)
	}
	return conn
}

func openTestConn(t *testing.T) driver.Conn {
	t.Helper()
	return openAt(t, testConfig(t, testenv.ClickHouseAddr(t)))
}

// newEventsTable creates a uniquely named events table, dropped when the test ends.
func newEventsTable(t *testing.T, conn driver.Conn) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "events_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := conn.Exec(ctx, fmt.Sprintf(eventsDDL, name)); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+name); err != nil {
			t.Errorf("drop table %s: %v", name, err)
		}
	})
	return name
}

func insertEvents(ctx context.Context, conn driver.Conn, table string, events []event) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (tenant_id, external_id, event_time, type, subject, version)")
	if err != nil {
		return fmt.Errorf("prepare batch: %w", err)
	}
	for _, e := range events {
		if err := batch.Append(e.tenant, e.id, e.at, e.typ, e.subject, e.version); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("append: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

var baseTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// generateEvents makes n events with known aggregates: 7 tenants, 1,000 subjects,
// 4 types, one every 137 ms (so minutes hold uneven counts).
func generateEvents(n int, version uint64, subjectPrefix string) []event {
	out := make([]event, n)
	for i := range out {
		out[i] = event{
			tenant:  fmt.Sprintf("tenant-%d", i%7),
			id:      fmt.Sprintf("ev-%06d", i),
			at:      baseTime.Add(time.Duration(i) * 137 * time.Millisecond),
			typ:     eventTypes[(i*7)%len(eventTypes)],
			subject: fmt.Sprintf("%s%04d", subjectPrefix, (i*31)%1000),
			version: version,
		}
	}
	return out
}

func TestBatchInsertOf100kRowsReadsBackExactAggregates(t *testing.T) {
	conn := openTestConn(t)
	table := newEventsTable(t, conn)
	ctx := context.Background()
	const n = 100_000
	events := generateEvents(n, 1, "user-")

	start := time.Now()
	if err := insertEvents(ctx, conn, table, events); err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d rows in one batch in %s", n, time.Since(start).Round(time.Millisecond))

	var (
		count, subjects, tenants, versions uint64
		minAt, maxAt                       time.Time
	)
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(subject), uniqExact(tenant_id), sum(version), min(event_time), max(event_time) FROM "+table).
		Scan(&count, &subjects, &tenants, &versions, &minAt, &maxAt); err != nil {
		t.Fatal(err)
	}
	if count != n || subjects != 1000 || tenants != 7 || versions != n {
		t.Fatalf("count=%d uniqExact(subject)=%d tenants=%d sum(version)=%d; want %d, 1000, 7, %d", count, subjects, tenants, versions, n, n)
	}
	if !minAt.Equal(events[0].at) || !maxAt.Equal(events[n-1].at) {
		t.Fatalf("time range [%s, %s], want [%s, %s]", minAt, maxAt, events[0].at, events[n-1].at)
	}

	// Per minute, exactly as computed here.
	wantPerMinute := map[time.Time]uint64{}
	for _, e := range events {
		wantPerMinute[e.at.Truncate(time.Minute)]++
	}
	rows, err := conn.Query(ctx, "SELECT toStartOfMinute(event_time) AS m, count() FROM "+table+" GROUP BY m ORDER BY m")
	if err != nil {
		t.Fatal(err)
	}
	gotMinutes := 0
	for rows.Next() {
		var m time.Time
		var c uint64
		if err := rows.Scan(&m, &c); err != nil {
			t.Fatal(err)
		}
		if want := wantPerMinute[m.UTC()]; c != want {
			t.Errorf("minute %s: count %d, want %d", m.UTC(), c, want)
		}
		gotMinutes++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if gotMinutes != len(wantPerMinute) {
		t.Fatalf("%d minutes, want %d", gotMinutes, len(wantPerMinute))
	}

	// LowCardinality group-by and a millisecond-exact point read.
	wantPerType := map[string]uint64{}
	for _, e := range events {
		wantPerType[e.typ]++
	}
	rows, err = conn.Query(ctx, "SELECT type, count() FROM "+table+" GROUP BY type")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ string
		var c uint64
		if err := rows.Scan(&typ, &c); err != nil {
			t.Fatal(err)
		}
		if c != wantPerType[typ] {
			t.Errorf("type %s: count %d, want %d", typ, c, wantPerType[typ])
		}
		delete(wantPerType, typ)
	}
	rows.Close()
	if len(wantPerType) != 0 {
		t.Errorf("types missing from the result: %v", wantPerType)
	}
	var at time.Time
	var subject string
	if err := conn.QueryRow(ctx, "SELECT event_time, subject FROM "+table+" WHERE tenant_id = ? AND external_id = ?",
		events[12345].tenant, events[12345].id).Scan(&at, &subject); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(events[12345].at) || subject != events[12345].subject {
		t.Fatalf("row 12345 = (%s, %s), want (%s, %s)", at, subject, events[12345].at, events[12345].subject)
	}
}

func TestDuplicatesAndReplaysCountOnceWithFinalAndArgMax(t *testing.T) {
	conn := openTestConn(t)
	table := newEventsTable(t, conn)
	ctx := context.Background()
	const n = 5000
	original := generateEvents(n, 1, "user-")
	// The same events again (a replay), then the first 1,000 once more with a
	// higher version and a new subject.
	updated := generateEvents(1000, 2, "updated-")
	for _, batch := range [][]event{original, original, updated} {
		if err := insertEvents(ctx, conn, table, batch); err != nil {
			t.Fatal(err)
		}
	}

	var final, v2, updatedSubjects uint64
	if err := conn.QueryRow(ctx, "SELECT count(), countIf(version = 2), countIf(startsWith(subject, 'updated-')) FROM "+table+" FINAL").
		Scan(&final, &v2, &updatedSubjects); err != nil {
		t.Fatal(err)
	}
	if final != n || v2 != 1000 || updatedSubjects != 1000 {
		t.Fatalf("FINAL: count=%d version2=%d updated=%d, want %d, 1000, 1000", final, v2, updatedSubjects, n)
	}

	var keys, latestUpdated, exactIDs uint64
	if err := conn.QueryRow(ctx, `SELECT count(), countIf(startsWith(s, 'updated-')), uniqExact(external_id) FROM (
		SELECT tenant_id, external_id, argMax(subject, version) AS s FROM `+table+` GROUP BY tenant_id, external_id)`).
		Scan(&keys, &latestUpdated, &exactIDs); err != nil {
		t.Fatal(err)
	}
	if keys != n || latestUpdated != 1000 || exactIDs != n {
		t.Fatalf("argMax: keys=%d updated=%d uniqExact=%d, want %d, 1000, %d", keys, latestUpdated, exactIDs, n, n)
	}

	// The duplicates are physically there until a merge; after one, plain count() agrees.
	var raw uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	t.Logf("rows stored before merge: %d (distinct keys %d)", raw, n)
	if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != n {
		t.Fatalf("after OPTIMIZE FINAL count() = %d, want %d", raw, n)
	}
}

func TestInvalidStatementsSurfaceClickHouseErrorCodeAndText(t *testing.T) {
	conn := openTestConn(t)
	ctx := context.Background()
	cases := []struct {
		name string
		run  func() error
		code int32
		text string
	}{
		{"syntax error", func() error { return conn.Exec(ctx, "SELEC 1") }, 62, "Syntax error"},
		{"unknown table", func() error {
			rows, err := conn.Query(ctx, "SELECT count() FROM no_such_table_for_tests")
			if err == nil {
				rows.Close()
			}
			return err
		}, 60, "Unknown table"},
		{"unknown function", func() error {
			var x uint64
			return conn.QueryRow(ctx, "SELECT no_such_function_for_tests(1)").Scan(&x)
		}, 46, "no_such_function_for_tests"},
		{"batch into a missing table", func() error {
			_, err := conn.PrepareBatch(ctx, "INSERT INTO no_such_table_for_tests (a)")
			return err
		}, 60, "no_such_table_for_tests"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			var ex *ch.Exception
			if !errors.As(err, &ex) {
				t.Fatalf("error is not a *clickhouse.Exception: %T %v", err, err)
			}
			if ex.Code != tc.code || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got code %d %q, want code %d containing %q", ex.Code, err, tc.code, tc.text)
			}
			var httpErr *ch.HTTPError
			if testenv.ClickHouseProtocol() == ProtocolHTTP && (!errors.As(err, &httpErr) || httpErr.StatusCode < 400) {
				t.Fatalf("over HTTP the error should carry the 4xx/5xx status: %v", err)
			}
		})
	}

	// A server-side failure while inserting a batch surfaces from Send, and no
	// row of the failed batch is stored.
	table := newEventsTable(t, conn)
	if err := conn.Exec(ctx, "ALTER TABLE "+table+" ADD CONSTRAINT positive_version CHECK version > 0"); err != nil {
		t.Fatal(err)
	}
	bad := generateEvents(100, 1, "user-")
	bad[50].version = 0
	err := insertEvents(ctx, conn, table, bad)
	var ex *ch.Exception
	if !errors.As(err, &ex) || !strings.Contains(ex.Message, "positive_version") {
		t.Fatalf("insert violating a constraint: %v, want the constraint's exception", err)
	}
	var count uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 0 {
		t.Fatalf("%d rows of the rejected batch were stored", count)
	}
}

func TestConcurrentWritersAndReadersLoseAndCorruptNothing(t *testing.T) {
	conn := openTestConn(t)
	table := newEventsTable(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, batches, perBatch = 4, 10, 1000
	const total = writers * batches * perBatch

	var wantVersionSum uint64
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	for w := range writers {
		for b := range batches {
			for r := range perBatch {
				wantVersionSum += uint64(w*1_000_000 + b*1000 + r)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				evs := make([]event, perBatch)
				for r := range evs {
					v := uint64(w*1_000_000 + b*1000 + r)
					subject := fmt.Sprintf("w%d-b%d-r%d", w, b, r)
					evs[r] = event{
						tenant: fmt.Sprintf("writer-%d", w), id: "ev-" + subject, subject: subject,
						typ: eventTypes[r%len(eventTypes)], version: v,
						at: time.UnixMilli(int64(v)).UTC(),
					}
				}
				if err := insertEvents(ctx, conn, table, evs); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
					return
				}
			}
		}()
	}

	done := make(chan struct{})
	var readers sync.WaitGroup
	var reads [2]int
	for rd := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				var count, mixed uint64
				// Every column of a row must still belong to that row.
				err := conn.QueryRow(ctx, `SELECT count(), countIf(external_id != concat('ev-', subject)
					OR toUnixTimestamp64Milli(event_time) != toInt64(version)) FROM `+table).Scan(&count, &mixed)
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", rd, err)
					return
				}
				switch {
				case mixed != 0:
					errs <- fmt.Errorf("reader %d: %d rows with columns from different rows", rd, mixed)
					return
				case count%perBatch != 0:
					errs <- fmt.Errorf("reader %d: saw %d rows, a partial batch", rd, count)
					return
				case count < last || count > total:
					errs <- fmt.Errorf("reader %d: count went %d -> %d (max %d)", rd, last, count, total)
					return
				}
				last = count
				reads[rd]++
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	t.Logf("readers ran %d and %d queries during the writes", reads[0], reads[1])

	var count, ids, versionSum, mixed uint64
	if err := conn.QueryRow(ctx, `SELECT count(), uniqExact(external_id), sum(version),
		countIf(external_id != concat('ev-', subject) OR toUnixTimestamp64Milli(event_time) != toInt64(version)) FROM `+table).
		Scan(&count, &ids, &versionSum, &mixed); err != nil {
		t.Fatal(err)
	}
	if count != total || ids != total || versionSum != wantVersionSum || mixed != 0 {
		t.Fatalf("count=%d ids=%d sum(version)=%d mixed=%d; want %d, %d, %d, 0", count, ids, versionSum, mixed, total, total, wantVersionSum)
	}
	rows, err := conn.Query(ctx, "SELECT tenant_id, count() FROM "+table+" GROUP BY tenant_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tenant string
		var c uint64
		if err := rows.Scan(&tenant, &c); err != nil {
			t.Fatal(err)
		}
		if c != batches*perBatch {
			t.Errorf("%s: %d rows, want %d", tenant, c, batches*perBatch)
		}
	}
}

func TestQueryParametersAndSettingsApplyToTheirQueryOnly(t *testing.T) {
	conn := openTestConn(t)
	table := newEventsTable(t, conn)
	ctx := context.Background()
	if err := insertEvents(ctx, conn, table, generateEvents(700, 1, "user-")); err != nil {
		t.Fatal(err)
	}

	// Server-side parameters ({name:Type}), with a value that needs escaping.
	var count uint64
	pctx := ch.Context(ctx, ch.WithParameters(ch.Parameters{"tenant": "tenant-3"}))
	if err := conn.QueryRow(pctx, "SELECT count() FROM "+table+" WHERE tenant_id = {tenant:String}").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 100 {
		t.Fatalf("tenant-3 has %d events, want 100", count)
	}
	tricky := "tab\there, quote ' backslash \\ newline \n end"
	var echoed string
	if err := conn.QueryRow(ctx, "SELECT {s:String}", ch.Named("s", tricky)).Scan(&echoed); err != nil {
		t.Fatal(err)
	}
	if echoed != tricky {
		t.Fatalf("parameter round trip: got %q, want %q", echoed, tricky)
	}

	// A per-query setting holds for that query and not for the next one.
	var def, limited string
	if err := conn.QueryRow(ctx, "SELECT toString(getSetting('max_threads'))").Scan(&def); err != nil {
		t.Fatal(err)
	}
	sctx := ch.Context(ctx, ch.WithSettings(ch.Settings{"max_threads": 1}))
	if err := conn.QueryRow(sctx, "SELECT toString(getSetting('max_threads'))").Scan(&limited); err != nil {
		t.Fatal(err)
	}
	var after string
	if err := conn.QueryRow(ctx, "SELECT toString(getSetting('max_threads'))").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if limited != "1" || after != def {
		t.Fatalf("max_threads: default %q, with setting %q, after %q", def, limited, after)
	}
}

// TestLocalEngineKeepsDataAcrossRestartAndCrash runs a private chdb-server (the
// local engine of scripts/clickhouse.sh) on its own port and data directory,
// stops it gracefully and then with SIGKILL, and reads back every acknowledged row.
func TestLocalEngineKeepsDataAcrossRestartAndCrash(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	if addr != "127.0.0.1:"+envOr("PULSESTREAM_CLICKHOUSE_PORT", "18123") {
		t.Skipf("PULSESTREAM_CLICKHOUSE_ADDR=%s is not the local engine; this test is about the local engine", addr)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	python := filepath.Join(envOr("PULSESTREAM_LOCAL", filepath.Join(root, ".local")), "venv", "bin", "python")
	server := filepath.Join(root, "tools", "chdb-server", "chdb_server.py")
	for _, p := range []string{python, server} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%v (scripts/clickhouse.sh start installs the local engine)", err)
		}
	}
	dataDir := t.TempDir()

	start := func() (*exec.Cmd, string) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cmd := exec.Command(python, server, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--data-dir", dataDir, "--quiet")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/ping")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd, addr
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("private chdb-server did not start: %s", stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	countRows := func(addr string) uint64 {
		cfg := testConfig(t, addr)
		cfg.Protocol = ProtocolHTTP
		conn := openAt(t, cfg)
		var c uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM events FINAL").Scan(&c); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close()
		return c
	}

	cmd, addr := start()
	cfg := testConfig(t, addr)
	cfg.Protocol = ProtocolHTTP
	conn := openAt(t, cfg)
	ctx := context.Background()
	if err := conn.Exec(ctx, fmt.Sprintf(eventsDDL, "events")); err != nil {
		t.Fatal(err)
	}
	all := generateEvents(15000, 1, "user-")
	if err := insertEvents(ctx, conn, "events", all[:10000]); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()

	// Graceful stop (SIGTERM), restart.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("server did not exit cleanly on SIGTERM: %v", err)
	}
	cmd, addr = start()
	if c := countRows(addr); c != 10000 {
		t.Fatalf("after restart: %d rows, want 10000", c)
	}

	// Acknowledged insert, then SIGKILL: the rows are still there.
	cfg = testConfig(t, addr)
	cfg.Protocol = ProtocolHTTP
	conn = openAt(t, cfg)
	if err := insertEvents(ctx, conn, "events", all[10000:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	_, addr = start()
	if c := countRows(addr); c != 15000 {
		t.Fatalf("after SIGKILL: %d rows, want 15000", c)
	}
}
