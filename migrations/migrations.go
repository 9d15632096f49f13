// Package migrations embeds PulseStream's versioned SQL (postgres/ and
// clickhouse/) and applies it with pressly/goose, a well-kept migration
// library, so no hand-written runner decides what has been applied. Up is
// idempotent; Version reports the applied version of each database.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql clickhouse/*.sql clickhouse-cluster/*.sql
var files embed.FS

// Target is one database kind with its migrations.
type Target struct {
	Name    string
	Dialect database.Dialect
	dir     string
}

// The two migrated databases. ClickHouseCluster is the same ClickHouse read
// model for a cluster (ON CLUSTER, Replicated engines, Distributed tables;
// docs/scaling.md): the same versions, so a database is migrated with one
// variant or the other, never both.
var (
	Postgres          = Target{Name: "postgres", Dialect: database.DialectPostgres, dir: "postgres"}
	ClickHouse        = Target{Name: "clickhouse", Dialect: database.DialectClickHouse, dir: "clickhouse"}
	ClickHouseCluster = Target{Name: "clickhouse", Dialect: database.DialectClickHouse, dir: "clickhouse-cluster"}
)

// The values of migrate's clickhouse-schema setting.
const (
	SchemaSingle  = "single"
	SchemaCluster = "cluster"
)

// ClickHouseSchema returns the ClickHouse target of a clickhouse-schema value.
func ClickHouseSchema(name string) (Target, error) {
	switch name {
	case SchemaSingle:
		return ClickHouse, nil
	case SchemaCluster:
		return ClickHouseCluster, nil
	}
	return Target{}, fmt.Errorf("clickhouse-schema: must be %s or %s, got %q", SchemaSingle, SchemaCluster, name)
}

// FS returns the target's SQL files.
func (t Target) FS() fs.FS {
	sub, err := fs.Sub(files, t.dir)
	if err != nil {
		panic(err) // the directory is embedded at build time; unreachable
	}
	return sub
}

func (t Target) provider(db *sql.DB) (*goose.Provider, error) {
	var opts []goose.ProviderOption
	if t.Dialect == database.DialectPostgres {
		// Several processes (tests, replicas, the Helm hook) may migrate at
		// once; an advisory lock makes them take turns.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("%s migration lock: %w", t.Name, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(t.Dialect, db, t.FS(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%s migrations: %w", t.Name, err)
	}
	return p, nil
}

// Up applies every pending migration and returns the resulting version.
func Up(ctx context.Context, db *sql.DB, t Target) (int64, error) {
	p, err := t.provider(db)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("%s migrate up: %w", t.Name, err)
	}
	return p.GetDBVersion(ctx)
}

// Version returns the applied version (0 when nothing is applied).
func Version(ctx context.Context, db *sql.DB, t Target) (int64, error) {
	p, err := t.provider(db)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s version: %w", t.Name, err)
	}
	return v, nil
}

// Latest is the highest version embedded for the target.
func Latest(db *sql.DB, t Target) (int64, error) {
	p, err := t.provider(db)
	if err != nil {
		return 0, err
	}
	srcs := p.ListSources()
	if len(srcs) == 0 {
		return 0, nil
	}
	return srcs[len(srcs)-1].Version, nil
}
