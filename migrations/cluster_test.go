package migrations_test

import (
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsestream/pulsestream/migrations"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// The cluster variant of the ClickHouse migrations cannot be applied by the
// local engine (chDB has no Keeper, no remote_servers and no macros: ON
// CLUSTER, Replicated engines and Distributed tables are refused before they
// run). What can be checked is checked here: the engine's own parser formats
// every statement of both variants, the cluster variant clusters everything,
// and with its cluster clauses taken out it is the single-node schema.
func TestClusterVariantDiffersOnlyWhereAClusterNeedsIt(t *testing.T) {
	if !testenv.Integration() {
		t.Skip("integration test: source scripts/env.sh (make test does)")
	}
	db := engine(t)
	single, cluster := files(t, migrations.ClickHouse), files(t, migrations.ClickHouseCluster)
	if !slices.Equal(names(single), names(cluster)) {
		t.Fatalf("versions differ: single %v, cluster %v", names(single), names(cluster))
	}
	for _, name := range names(single) {
		for section := range 2 { // Up, Down
			want := formatAll(t, db, name, sections(single[name])[section])
			got := formatAll(t, db, name, sections(cluster[name])[section])
			checkClustered(t, name, got)
			if norm := declustered(got); !slices.Equal(norm, want) {
				t.Errorf("%s section %d: the cluster variant without its cluster clauses is\n  %s\nthe single-node file is\n  %s",
					name, section, strings.Join(norm, "\n  "), strings.Join(want, "\n  "))
			}
		}
	}
}

func engine(t *testing.T) *sql.DB {
	t.Helper()
	proto := clickhouse.HTTP
	if testenv.ClickHouseProtocol() == "native" {
		proto = clickhouse.Native
	}
	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{testenv.ClickHouseAddr(t)}, Protocol: proto})
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func files(t *testing.T, target migrations.Target) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(target.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(target.FS(), path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func names(m map[string]string) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// sections splits a goose file into its Up and Down statements (comment lines
// dropped; no statement of these files has a semicolon inside a literal).
func sections(text string) [2][]string {
	up, down, _ := strings.Cut(text, "-- +goose Down")
	var out [2][]string
	for i, part := range []string{up, down} {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
			if s := strings.TrimSpace(stmt); s != "" {
				out[i] = append(out[i], s)
			}
		}
	}
	return out
}

// formatAll has the engine parse each statement and print it in its one-line
// canonical form (formatQuerySingleLine parses, it does not execute).
func formatAll(t *testing.T, db *sql.DB, file string, stmts []string) []string {
	t.Helper()
	out := make([]string, 0, len(stmts))
	for _, s := range stmts {
		var f string
		if err := db.QueryRow("SELECT formatQuerySingleLine(?)", s).Scan(&f); err != nil {
			t.Fatalf("%s: the engine does not parse\n%s\n: %v", file, s, err)
		}
		out = append(out, f)
	}
	return out
}

var (
	onCluster   = " ON CLUSTER `{cluster}`"
	engineRe    = regexp.MustCompile(`ENGINE = (\w+)\(`)
	replicated  = regexp.MustCompile(`Replicated(\w*MergeTree)\('/clickhouse/tables/\{shard\}/\{database\}/\w+', '\{replica\}'(, )?`)
	distributed = regexp.MustCompile("^CREATE TABLE IF NOT EXISTS (\\w+)" + regexp.QuoteMeta(onCluster) +
		" AS (\\w+) ENGINE = Distributed\\('\\{cluster\\}', currentDatabase\\(\\), (\\w+), ")
	localSuffix = regexp.MustCompile(`\b(\w+)_local\b`)
	// A Replicated table deduplicates inserts by replicated_deduplication_window,
	// a plain one by non_replicated_deduplication_window (migration 00080).
	dedupWindow = regexp.MustCompile(`\breplicated_deduplication_window\b`)
)

// checkClustered fails for a statement of the cluster variant that would
// change one server only, a table engine that is neither Replicated nor
// Distributed, or a Distributed table that is not over its own _local table.
func checkClustered(t *testing.T, file string, stmts []string) {
	t.Helper()
	for _, s := range stmts {
		if !strings.Contains(s, onCluster) {
			t.Errorf("%s: runs on one server only (no ON CLUSTER '{cluster}'): %s", file, s)
		}
		for _, m := range engineRe.FindAllStringSubmatch(s, -1) {
			if m[1] == "Distributed" {
				d := distributed.FindStringSubmatch(s)
				if d == nil || d[2] != d[1]+"_local" || d[3] != d[2] {
					t.Errorf("%s: a Distributed table must be CREATE TABLE IF NOT EXISTS X ON CLUSTER '{cluster}' AS X_local over X_local: %s", file, s)
				}
			} else if !strings.HasPrefix(m[1], "Replicated") {
				t.Errorf("%s: engine %s is not replicated: %s", file, m[1], s)
			}
		}
	}
}

// declustered is the cluster variant with its cluster clauses taken out:
// no ON CLUSTER, Replicated engines without their path and replica, no
// Distributed tables, X_local read as X, the replicated deduplication window
// read as the non-replicated one; a statement applied to both a
// Distributed table and its local table then appears twice in a row and is
// kept once.
func declustered(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if strings.Contains(s, "ENGINE = Distributed(") {
			continue
		}
		s = strings.ReplaceAll(s, onCluster, "")
		s = replicated.ReplaceAllString(s, "$1(")
		s = strings.ReplaceAll(s, "MergeTree()", "MergeTree")
		s = localSuffix.ReplaceAllString(s, "$1")
		s = dedupWindow.ReplaceAllString(s, "non_replicated_deduplication_window")
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func TestClickHouseSchemaNamesTheSetting(t *testing.T) {
	for name, want := range map[string]migrations.Target{"single": migrations.ClickHouse, "cluster": migrations.ClickHouseCluster} {
		got, err := migrations.ClickHouseSchema(name)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ClickHouseSchema(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := migrations.ClickHouseSchema("sharded"); err == nil || !strings.HasPrefix(err.Error(), "clickhouse-schema: ") {
		t.Errorf("ClickHouseSchema(sharded): %v, want an error naming clickhouse-schema", err)
	}
}
