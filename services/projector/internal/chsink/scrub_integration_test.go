package chsink_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// erasureDiskBound is the bound docs/erasure.md states for an erased value to
// leave the disk after the projector's write: migration 00020's settings give
// 40 + 10 + 1 = 51 s; the rest is margin for a loaded machine.
const erasureDiskBound = 90 * time.Second

func privateDB(t *testing.T) (driver.Conn, string) {
	t.Helper()
	addr := testenv.ClickHouseAddr(t)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	db := "projtest_ch_" + hex.EncodeToString(b)
	migratetest.PrivateClickHouse(t, addr, db)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, db
}

func event(tenant, id, typ, source, subject string, at time.Time, offset int64) record.Item {
	return record.Item{Kind: record.KindEvent, TenantID: tenant, ExternalID: id, Offset: offset,
		Event: &schemas.Event{Version: 1, TenantID: tenant, ID: id, Type: typ, Source: source, Subject: subject, Time: at, ReceivedAt: at}}
}

// withData gives the event of it the JSON data raw.
func withData(it record.Item, raw string) record.Item {
	it.Event.Data = json.RawMessage(raw)
	return it
}

func tombstone(tenant, id string, offset int64) record.Item {
	return record.Item{Kind: record.KindTombstone, TenantID: tenant, ExternalID: id, Offset: offset, Timestamp: time.Now().UTC(),
		Tombstone: &schemas.Tombstone{Version: 1, TenantID: tenant, ID: id}}
}

// An erasure removes the erased events' subject, source and data from ClickHouse's
// storage: by the time Write returns (before the consumer commits the
// tombstones' offsets) no row read WITHOUT FINAL holds them, and within
// erasureDiskBound no file of the table does. The rollup keeps exact counts
// per minute and type, and the other events keep their values.
func TestErasureRemovesPersonalColumnsFromStorage(t *testing.T) {
	conn, db := privateDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := chsink.New(conn)
	meterView(ctx, t, conn)

	token, sourceToken, dataToken := literalToken(), literalToken(), literalToken()
	secret := token + "@example.com"
	secretData := `{"card":"` + dataToken + `","amount":7}`
	secretSource := "https://example.com/" + sourceToken
	m0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	m1 := m0.Add(time.Minute)
	const tenant = "tenant-erase"
	var off int64
	next := func() int64 { off++; return off }

	// Two inserts, so the erased rows sit in two parts beside rows that stay.
	var erased []string
	for batch := range 2 {
		var items []record.Item
		for i := range 10 {
			id := fmt.Sprintf("gone-%d-%d", batch, i)
			erased = append(erased, id)
			typ, at := "signup", m0
			if i%2 == 1 {
				typ, at = "login", m1
			}
			items = append(items, withData(event(tenant, id, typ, secretSource, secret, at, next()), secretData))
			items = append(items, withData(event(tenant, fmt.Sprintf("kept-%d-%d", batch, i), "login", "app", "keep@example.com", m1, next()), `{"amount":1}`))
		}
		write(ctx, t, s, items)
	}
	dataPath := tableDataPath(ctx, t, conn, db, "events")
	meterPath := tableDataPath(ctx, t, conn, db, "meter_values")
	minutesPath := tableDataPath(ctx, t, conn, db, "meter_minutes")
	if n := meterValues(ctx, t, conn, "g0 = ? OR g1 = ?", dataToken, secret); n != 20 {
		t.Fatalf("before the erasure %d meter_values rows hold the extracted data or subject, want 20", n)
	}
	var minutes uint64
	if err := conn.QueryRow(ctx, "SELECT sum(events) FROM meter_minutes WHERE g1 = ?", secret).Scan(&minutes); err != nil || minutes != 20 {
		t.Fatalf("before the erasure meter_minutes counts %d events of the erased subject, want 20 (%v)", minutes, err)
	}
	if n := minuteHashes(ctx, t, conn, dataToken); n == 0 {
		t.Fatal("before the erasure no meter_minutes row holds the hash of the erased card")
	}
	if n := rawCount(ctx, t, conn, "subject = ? OR source = ? OR data = ?", secret, secretSource, secretData); n != 20 {
		t.Fatalf("before the erasure %d raw rows hold the subject, source or data, want 20", n)
	}
	if dataPath != "" && (!onDisk(t, dataPath, token) || !onDisk(t, dataPath, sourceToken) || !onDisk(t, dataPath, dataToken)) {
		t.Fatalf("before the erasure the subject, source or data is not found in %s: the disk check could not see it", dataPath)
	}

	// The erasure: a tombstone per id, plus an event and its tombstone in the
	// same batch.
	items := []record.Item{withData(event(tenant, "gone-same-batch", "signup", secretSource, secret, m0, next()), secretData)}
	for _, id := range erased {
		items = append(items, tombstone(tenant, id, next()))
	}
	items = append(items, tombstone(tenant, "gone-same-batch", next()))
	write(ctx, t, s, items)

	if n := rawCount(ctx, t, conn, "subject = ? OR source = ? OR position(data, ?) > 0", secret, secretSource, dataToken); n != 0 {
		t.Fatalf("after the erasure %d rows read without FINAL still hold the subject, source or data", n)
	}
	if n := rawCount(ctx, t, conn, `subject = 'keep@example.com' AND source = 'app' AND data = '{"amount":1}' AND is_deleted = 0`); n != 20 {
		t.Fatalf("%d raw rows of the other subject keep their values, want 20", n)
	}
	wantRollup(ctx, t, conn, tenant, map[string]int64{m1.Format(time.DateTime) + " login": 20})
	if n := meterValues(ctx, t, conn, "g0 = ? OR g1 = ? OR (sign = 1 AND external_id LIKE 'gone-%' AND (num IS NOT NULL OR g0 IS NOT NULL OR g1 IS NOT NULL))", dataToken, secret); n != 0 {
		t.Fatalf("after the erasure %d meter_values rows still hold extracted values of erased events", n)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM meter_minutes WHERE g0 = ? OR g1 = ?", dataToken, secret).Scan(&minutes); err != nil || minutes != 0 {
		t.Fatalf("after the erasure %d meter_minutes rows hold the erased events' dimensions (%v)", minutes, err)
	}
	if n := minuteHashes(ctx, t, conn, dataToken); n != 0 {
		t.Fatalf("after the erasure %d meter_minutes rows hold the hash of the erased card", n)
	}
	if n := meterValues(ctx, t, conn, "h = reinterpretAsUInt128(sipHash128(?))", dataToken); n != 0 {
		t.Fatalf("after the erasure %d meter_values rows hold the hash of the erased card", n)
	}
	if n := meterValues(ctx, t, conn, "sign = -1"); n != 21 {
		t.Fatalf("meter_values has %d rows with sign -1, want one per erased event (21)", n)
	}
	if n := meterValues(ctx, t, conn, "sign = 1 AND g1 = 'keep@example.com' AND num = 1"); n != 20 {
		t.Fatalf("%d meter_values rows of the other subject keep their values, want 20", n)
	}

	if dataPath == "" {
		t.Log("the engine's data directory is not on this machine: the check of its files was not run")
		return
	}
	deadline := time.Now().Add(erasureDiskBound)
	for onDisk(t, dataPath, token) || onDisk(t, dataPath, sourceToken) || onDisk(t, dataPath, dataToken) ||
		onDisk(t, meterPath, token) || onDisk(t, meterPath, dataToken) || onDisk(t, minutesPath, token) || onDisk(t, minutesPath, dataToken) ||
		outdatedParts(ctx, t, conn, db) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the erased subject is still in a file under %s (or outdated parts remain) %v after the erasure", dataPath, erasureDiskBound)
		}
		time.Sleep(time.Second)
	}
}

// A crash between the tombstones' INSERT and the scrub leaves the rows on
// disk; the replayed batch finds the keys deleted (its tombstones are
// duplicates) and must still scrub them.
func TestReplayedTombstonesScrubWhatACrashLeft(t *testing.T) {
	conn, _ := privateDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := chsink.New(conn)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	write(ctx, t, s, []record.Item{event("t", "a", "x", "src-a", "a@example.com", at, 1)})
	// The tombstone row as the crashed INSERT left it, without the scrub.
	if err := conn.Exec(ctx, `INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at, kafka_partition, kafka_offset, version, is_deleted, rollup_sign)
		VALUES ('t', 'a', 'x', '', '', ?, ?, 0, 2, ?, 1, -1)`, at, at, chsink.TombstoneVersion(2)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Write(ctx, []record.Item{tombstone("t", "a", 2)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 0 || st.Duplicates != 1 {
		t.Fatalf("replayed tombstone: %+v, want 0 rows and 1 duplicate", st)
	}
	if n := rawCount(ctx, t, conn, "subject = 'a@example.com' OR source = 'src-a'"); n != 0 {
		t.Fatalf("%d raw rows still hold the erased subject after the replay", n)
	}
}

func write(ctx context.Context, t *testing.T, s *chsink.Sink, items []record.Item) {
	t.Helper()
	if _, err := s.Write(ctx, items); err != nil {
		t.Fatal(err)
	}
}

// rawCount counts rows of events matching where, without FINAL: every stored
// row, whatever the merges did.
func rawCount(ctx context.Context, t *testing.T, conn driver.Conn, where string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events WHERE "+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRollup checks events_per_minute of tenant per minute and type: want
// holds every non-zero "minute type" sum.
func wantRollup(ctx context.Context, t *testing.T, conn driver.Conn, tenant string, want map[string]int64) {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT toString(minute), toString(type), sum(events) FROM events_per_minute WHERE tenant_id = ? GROUP BY minute, type HAVING sum(events) != 0", tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var minute, typ string
		var n int64
		if err := rows.Scan(&minute, &typ, &n); err != nil {
			t.Fatal(err)
		}
		got[minute+" "+typ] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rollup per minute and type = %v, want %v", got, want)
	}
}

// meterView creates a meter's view as the query service does
// (services/query/internal/store/meter_build.go): the card in data and the
// subject as dimensions, the amount as the value, the card's hash as a
// unique_count meter keeps it (meter_minutes keeps its minutes' hashes,
// migration clickhouse/00090).
func meterView(ctx context.Context, t *testing.T, conn driver.Conn) {
	t.Helper()
	err := conn.Exec(ctx, `CREATE MATERIALIZED VIEW meter_mv_test TO meter_values AS
		SELECT tenant_id, 'test' AS version, event_time, external_id, rollup_sign AS sign, projected_at,
			JSONExtractString(data, 'card') AS g0, nullIf(subject, '') AS g1, JSONExtract(data, 'amount', 'Nullable(Float64)') AS num,
			if(JSONHas(data, 'card'), reinterpretAsUInt128(sipHash128(JSONExtractString(data, 'card'))), NULL) AS h
		FROM events WHERE rollup_sign != 0`)
	if err != nil {
		t.Fatal(err)
	}
}

// meterValues counts rows of meter_values matching where, as stored.
func meterValues(ctx context.Context, t *testing.T, conn driver.Conn, where string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM meter_values WHERE "+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// minuteHashes counts the rows of meter_minutes whose set of hashes holds
// the hash of value, as stored.
func minuteHashes(ctx context.Context, t *testing.T, conn driver.Conn, value string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM meter_minutes WHERE has(u, reinterpretAsUInt128(sipHash128(?)))", value).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// tableDataPath is a table's directory when it is on this machine (the
// local chdb-server), else "".
func tableDataPath(ctx context.Context, t *testing.T, conn driver.Conn, db, table string) string {
	t.Helper()
	var paths []string
	if err := conn.QueryRow(ctx, "SELECT data_paths FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&paths); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 {
		t.Fatalf("%s has data paths %v, want one", table, paths)
	}
	if _, err := os.Stat(paths[0]); err != nil {
		return ""
	}
	return paths[0]
}

// literalToken returns 24 random capital letters with no repeated 4-letter
// run: nothing else the test stores holds capitals, so LZ4 (which only
// back-references runs of 4 bytes or more) keeps the token's first occurrence
// in a part as one literal that onDisk finds.
func literalToken() string {
	for {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		for i := range b {
			b[i] = 'A' + b[i]%26
		}
		seen := map[string]bool{}
		ok := true
		for i := 0; i+4 <= len(b) && ok; i++ {
			ok = !seen[string(b[i:i+4])]
			seen[string(b[i:i+4])] = true
		}
		if ok {
			return string(b)
		}
	}
}

// onDisk reports whether any file under dir holds s in clear (parts store
// columns LZ4-compressed; see literalToken).
func onDisk(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) { // a part removed while walking
				return nil
			}
			return err
		}
		if d.IsDir() || found {
			return nil
		}
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found = bytes.Contains(b, []byte(s))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func outdatedParts(ctx context.Context, t *testing.T, conn driver.Conn, db string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table IN ('events', 'meter_values', 'meter_minutes') AND NOT active", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
