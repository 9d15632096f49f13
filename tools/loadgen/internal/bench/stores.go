package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// clickhouse speaks the ClickHouse HTTP interface, enough for the bench:
// statements and TabSeparated results.
type clickhouse struct {
	base     string // http://host:port
	database string
	client   *http.Client
}

func newClickHouse(addr, database string) *clickhouse {
	return &clickhouse{base: "http://" + addr, database: database, client: &http.Client{Timeout: 5 * time.Minute}}
}

// query runs sql and streams its TabSeparated rows to each.
func (c *clickhouse) query(ctx context.Context, sql string, each func(cols []string) error) error {
	u := c.base + "/?default_format=TabSeparated"
	if c.database != "" {
		u += "&database=" + url.QueryEscape(c.database)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("clickhouse %.60s: %w", sql, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		return fmt.Errorf("clickhouse %.60s: status %d: %s", sql, resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if each == nil {
			continue
		}
		if err := each(strings.Split(sc.Text(), "\t")); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (c *clickhouse) exec(ctx context.Context, sql string) error { return c.query(ctx, sql, nil) }

func (c *clickhouse) count(ctx context.Context, sql string) (int64, error) {
	var n int64
	err := c.query(ctx, sql, func(cols []string) error {
		v, err := strconv.ParseInt(cols[0], 10, 64)
		n = v
		return err
	})
	return n, err
}

// chString renders s as a ClickHouse string literal.
func chString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// chList renders strings as a ClickHouse literal list: ('a','b').
func chList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = chString(s)
	}
	return "(" + strings.Join(q, ",") + ")"
}

// withDatabase returns the PostgreSQL URL u pointing at database db.
func withDatabase(u, db string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	p.Path = "/" + db
	return p.String(), nil
}

// dropDatabase drops db, retrying while a connection of another role
// (autovacuum) is still in it: our services are stopped by then, and
// WITH (FORCE) needs rights over the other role's backends.
func dropDatabase(pgURL, db string) error {
	var err error
	for range 20 {
		if err = pgExec(context.Background(), pgURL, "DROP DATABASE IF EXISTS "+db); err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("drop database %s: %w", db, err)
}

func pgExec(ctx context.Context, pgURL, sql string) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
