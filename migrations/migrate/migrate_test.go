package migrate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/migrations"
	"github.com/pulsestream/pulsestream/platform/clickhouse"
	"github.com/pulsestream/pulsestream/platform/config"
)

func integration(t *testing.T) {
	t.Helper()
	if os.Getenv("PULSESTREAM_TEST_INTEGRATION") != "1" {
		t.Skip("integration test: source scripts/env.sh (make test does)")
	}
}

func TestUpBringsBothDatabasesToTheLatestVersionAndIsIdempotent(t *testing.T) {
	integration(t)
	for _, cmd := range []string{"up", "up", "status"} {
		var out bytes.Buffer
		if code := Main([]string{cmd}, &out); code != 0 {
			t.Fatalf("migrate %s exited %d:\n%s", cmd, code, out.String())
		}
		for _, name := range []string{migrations.Postgres.Name, migrations.ClickHouse.Name} {
			line := lineOf(out.String(), name)
			var applied, latest int64
			if _, err := fmt.Sscanf(strings.TrimPrefix(line, name), " version %d of %d", &applied, &latest); err != nil {
				t.Fatalf("migrate %s: no version line for %s in %q", cmd, name, out.String())
			}
			if applied != latest || latest == 0 {
				t.Fatalf("migrate %s: %s at %d of %d", cmd, name, applied, latest)
			}
		}
	}
}

func TestUnreachableDatabaseFailsWithExitCode1(t *testing.T) {
	var out bytes.Buffer
	code := Main([]string{"status", "-postgres-url", "postgres://x@127.0.0.1:1/none?sslmode=disable",
		"-postgres-dial-timeout", "1s", "-migrate-timeout", "5s"}, &out)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

func TestUnknownSubcommandOrBadSettingIsAUsageError(t *testing.T) {
	for _, args := range [][]string{nil, {"down"}, {"up", "-migrate-timeout", "0s"}, {"up", "-clickhouse-protocol", "tcp"}, {"up", "-clickhouse-schema", "sharded"}} {
		if code := Main(args, &bytes.Buffer{}); code != 2 {
			t.Errorf("migrate %v exited %d, want 2", args, code)
		}
	}
}

func TestVersionFlagPrintsTheVersion(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"-version"}, &out); code != 0 || !strings.HasPrefix(out.String(), "migrate dev (go") {
		t.Fatalf("migrate -version: exit %d, printed %q", code, out.String())
	}
}

func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}

// The local engine cannot apply the cluster schema (no Keeper, no cluster, no
// macros; docs/scaling.md), so this shows what can be shown: the setting
// selects the cluster migrations, which reach the engine and are refused there
// for the cluster macro, not applied as the single-node schema.
func TestClusterSchemaIsWhatMigrateSendsToClickHouse(t *testing.T) {
	integration(t)
	var cfg Config
	if _, err := config.Parse("migrate", []string{"-clickhouse-schema", "cluster"}, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ClickHouse.Database = fmt.Sprintf("migrate_cluster_%d", time.Now().UnixNano())
	admin, err := clickhouse.OpenDB(clickhouse.Config{Addr: cfg.ClickHouse.Addr, Protocol: cfg.ClickHouse.Protocol, Database: "default",
		DialTimeout: cfg.ClickHouse.DialTimeout, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + cfg.ClickHouse.Database); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + cfg.ClickHouse.Database) })

	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = migrate(ctx, cfg, true, &out, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "No macro 'cluster'") {
		t.Fatalf("migrate up -clickhouse-schema cluster on the local engine: %v, want the engine's refusal of the {cluster} macro\n%s", err, out.String())
	}
	var tables int
	if err := admin.QueryRow("SELECT count() FROM system.tables WHERE database = ? AND name LIKE 'events%'", cfg.ClickHouse.Database).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d events tables created: the single-node schema was applied", tables)
	}
}
