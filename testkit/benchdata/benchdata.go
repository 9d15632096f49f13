// Package benchdata loads the synthetic events the read-side benchmarks
// run on (services/query's search benchmark, the console's first-paint
// benchmark in tests/e2e): n events of one tenant, one every step from t0,
// 20 types, 5 sources, 10,000 subjects, data {"n", "customer" (1,000
// values), "kind" (even/odd)}, written straight into the read models' tables
// (PostgreSQL events; ClickHouse events, as the projector lays them out).
package benchdata

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Shape is what to load.
type Shape struct {
	Tenant string
	N      int
	T0     time.Time
	Step   time.Duration
}

// chunk is the rows of one INSERT.
const chunk = 100_000

// LoadPostgres fills the tenant's PostgreSQL events up to s.N (rows already
// there are kept: a database loaded once serves every later run) and
// returns how many rows it added.
func LoadPostgres(ctx context.Context, pool *pgxpool.Pool, s Shape) (int, error) {
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1`, s.Tenant).Scan(&have); err != nil {
		return 0, err
	}
	for from := have; from < s.N; from += chunk {
		to := min(from+chunk, s.N) - 1
		_, err := pool.Exec(ctx, `INSERT INTO events (tenant_id, external_id, ingest_id, type, source, subject, event_time, received_at,
				datacontenttype, data, content_hash, kafka_partition, kafka_offset)
			SELECT $1, 'ev-' || lpad(i::text, 8, '0'), 'ing-' || i, 'type-' || (i % 20), 'source-' || (i % 5), 'sub-' || (i % 10000),
				$2::timestamptz + i * $5::interval, $2::timestamptz + i * $5::interval, 'application/json',
				jsonb_build_object('n', i, 'customer', 'c-' || (i % 1000), 'kind', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END),
				md5(i::text), i % 8, i
			FROM generate_series($3::int, $4::int) AS i
			ON CONFLICT DO NOTHING`, s.Tenant, s.T0, from, to, fmt.Sprintf("%d microseconds", s.Step.Microseconds()))
		if err != nil {
			return 0, fmt.Errorf("load benchmark events %d..%d: %w", from, to, err)
		}
	}
	return max(0, s.N-have), nil
}

// ClickHouseInserts are the statements that load the tenant's ClickHouse
// events from have (the rows it holds) up to s.N, for the caller's driver.
func ClickHouseInserts(s Shape, have int) []string {
	var out []string
	t0, step := s.T0.UnixMilli(), s.Step.Milliseconds()
	for from := have; from < s.N; from += 10 * chunk {
		n := min(10*chunk, s.N-from)
		out = append(out, fmt.Sprintf(`INSERT INTO events (tenant_id, external_id, type, source, subject, event_time, received_at, kafka_partition,
				kafka_offset, version, is_deleted, rollup_sign, data)
			SELECT '%s', concat('ev-', leftPad(toString(number), 8, '0')), concat('type-', toString(number %% 20)), concat('source-', toString(number %% 5)),
				concat('sub-', toString(number %% 10000)), fromUnixTimestamp64Milli(toInt64(%d + number * %d), 'UTC'),
				fromUnixTimestamp64Milli(toInt64(%d + number * %d), 'UTC'), toInt32(number %% 8), toInt64(number), 1, 0, 1,
				concat('{"n":', toString(number), ',"customer":"c-', toString(number %% 1000), '","kind":"', if(number %% 2 = 0, 'even', 'odd'), '"}')
			FROM numbers(%d, %d)`, s.Tenant, t0, step, t0, step, from, n))
	}
	return out
}
